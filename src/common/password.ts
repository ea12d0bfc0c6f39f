/** Reading a password: hidden on a terminal, or the first line of stdin for scripts. */
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CliError, EXIT } from "./exitCodes.js";

/** The client-side credential (spec §3): lowercase hex SHA-256 of the password. */
export function passwordHash(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("hex");
}

export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error("password input is too long");
  }
  return Buffer.concat(chunks).toString("utf8").split(/\r?\n/)[0] ?? "";
}

/** Asks for a password on the terminal without echoing it. */
export async function askHidden(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) throw new CliError("no terminal to ask for the password: use --password-stdin", EXIT.usage);
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) process.stdout.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = new Promise<string>((resolve) => rl.question(prompt, resolve));
    muted = true;
    const value = await answer;
    process.stdout.write("\n");
    return value;
  } finally {
    rl.close();
  }
}
