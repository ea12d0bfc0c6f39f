/**
 * `Ice.StdOut` / `Ice.StdErr`: icegridnode sets them for every server it starts (files in
 * IceGrid.Node.Output) and expects the server's runtime to write there, as a C++ communicator
 * does; the npm runtime does not. Node cannot dup2 a descriptor, so writes of process.stdout,
 * process.stderr and of our logger are sent to the files instead (appended, synchronously).
 */
import { openSync, writeSync } from "node:fs";
import type { Ice } from "../slice/index.js";
import { setLogFd } from "./logger.js";

/** Redirects what the properties name; throws an Error naming the file it cannot open. */
export function redirectStdio(props: Ice.Properties): void {
  const out = props.getProperty("Ice.StdOut").trim();
  const err = props.getProperty("Ice.StdErr").trim();
  if (out) redirect(process.stdout, open(out, "Ice.StdOut"));
  if (err) {
    const fd = open(err, "Ice.StdErr");
    redirect(process.stderr, fd);
    setLogFd(fd);
  }
}

function open(file: string, property: string): number {
  try {
    return openSync(file, "a", 0o640);
  } catch (e) {
    throw new Error(`${property}: cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

function redirect(stream: NodeJS.WriteStream, fd: number): void {
  stream.write = ((chunk: string | Uint8Array, encodingOrCallback?: unknown, callback?: unknown): boolean => {
    if (typeof chunk === "string") writeSync(fd, chunk);
    else writeSync(fd, chunk);
    const done = typeof encodingOrCallback === "function" ? encodingOrCallback : callback;
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}
