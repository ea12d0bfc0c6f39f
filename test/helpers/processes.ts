/**
 * Test-side process helpers: start a node script or `bin/iceflix` command, wait (bounded) for its
 * JSON `ready` line, and make sure it is stopped when the test ends, also when it fails.
 */
import { fileURLToPath } from "node:url";
import { SupervisedChild } from "../../src/runtime/childProcess.js";
import { createLogger } from "../../src/runtime/logger.js";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const ICEFLIX_BIN = `${REPO_ROOT}bin/iceflix`;
export const DIST = `${REPO_ROOT}dist/`;

const log = createLogger("test", "warn");

export interface ReadyProcess<R = Record<string, unknown>> {
  child: SupervisedChild;
  ready: R;
  stdout: string[];
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `command args`, resolves with the first stdout JSON line whose event is "ready". */
export async function startReady<R = Record<string, unknown>>(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv; logFile?: string } = {},
): Promise<ReadyProcess<R>> {
  const stdout: string[] = [];
  let resolveReady: (r: R) => void = () => {};
  const ready = new Promise<R>((r) => (resolveReady = r));
  const child = SupervisedChild.spawn({
    name: args.join(" ").slice(0, 60),
    command,
    args,
    env: options.env,
    logFile: options.logFile,
    log,
    onStdoutLine: (line) => {
      stdout.push(line);
      if (line.startsWith("{")) {
        try {
          const msg = JSON.parse(line);
          if (msg.event === "ready") resolveReady(msg as R);
        } catch {
          // not JSON
        }
      }
    },
  });
  const timeoutMs = options.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then((r) => ({ r })),
    child.exited.then((e) => ({ error: `exited before ready (code ${e.code}, signal ${e.signal}): ${stdout.slice(-5).join(" | ")}` })),
    new Promise<{ error: string }>((res) => (timer = setTimeout(() => res({ error: `not ready within ${timeoutMs} ms` }), timeoutMs))),
  ]);
  clearTimeout(timer);
  if ("error" in outcome) {
    await child.stop(1000);
    throw new Error(`${command} ${args.join(" ")}: ${outcome.error}`);
  }
  return {
    child,
    ready: outcome.r,
    stdout,
    stop: async (graceMs = 5000) => {
      await child.stop(graceMs);
    },
  };
}

/** The contract echo server (test/helpers/contractServer.ts), compiled. */
export function startContractServer(extraArgs: string[] = [], env?: NodeJS.ProcessEnv) {
  return startReady<{ endpoints: string; pid: number }>(
    process.execPath,
    [`${DIST}test/helpers/contractServer.js`, ...extraArgs],
    { env },
  );
}

/** A `bin/iceflix` component in the foreground (broker, main, …). */
export function startIceflix(args: string[], options: { timeoutMs?: number; logFile?: string } = {}) {
  return startReady<{ proxy: string; pid: number }>(process.execPath, [ICEFLIX_BIN, ...args], options);
}

/**
 * A StreamProvider (`bin/iceflix streaming`) on a free port of 127.0.0.1 that announces every
 * second; `extra` are more `--Prop=value` arguments.
 */
export function startStreamingProvider(options: { topicManager: string; data: string; media: string; logFile: string; extra?: string[] }) {
  return startIceflix(
    [
      "streaming",
      "--data",
      options.data,
      "--media",
      options.media,
      "--StreamingAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
      `--IceFlix.IceStorm/TopicManager=${options.topicManager}`,
      "--IceFlix.Announce.PeriodSeconds=1",
      ...(options.extra ?? []),
    ],
    { logFile: options.logFile },
  );
}

/** Resident set size of a process in bytes (Linux /proc). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
