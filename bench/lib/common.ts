/**
 * What the benchmark scripts share: paths, /proc sampling, starting processes that print a JSON
 * `ready` line (and stopping every one of them on exit, error or Ctrl-C), the C++ load client,
 * statistics and the result format the runner (bench/run.ts) reads.
 *
 * Every process a benchmark starts inherits ICEFLIX_BENCH_RUN (set by the runner, or by the
 * script itself when run alone), so a leftover can be found by that marker (reapMarked).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SupervisedChild } from "../../src/runtime/childProcess.js";
import { createLogger } from "../../src/runtime/logger.js";

export const ROOT = fileURLToPath(new URL("../../../", import.meta.url)); // dist/bench/lib/ -> repo root
export const BENCH_DIR = join(ROOT, "bench");
export const DIST_BENCH = join(ROOT, "dist", "bench");
export const PYTHON = "/usr/bin/python3";
export const ICEFLIX_BIN = join(ROOT, "bin", "iceflix");
export const TITLES_FILE = join(BENCH_DIR, "data", "titles.tsv");

// ---------------------------------------------------------------- run marker and clean-up

export const RUN_MARKER = "ICEFLIX_BENCH_RUN";
process.env[RUN_MARKER] ??= randomUUID();
export const runId = process.env[RUN_MARKER]!;

/** SIGKILLs every process (but this one and its ancestors) whose environment carries our run marker. */
export function reapMarked(id = runId): number[] {
  const needle = `${RUN_MARKER}=${id}\0`;
  const spared = new Set<number>([process.pid, process.ppid]);
  const killed: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spared.has(pid)) continue;
    try {
      if (!(readFileSync(`/proc/${pid}/environ`, "latin1") + "\0").includes(needle)) continue;
      process.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;
export const benchLog = createLogger("bench", process.env.ICEFLIX_LOG_LEVEL ?? "warn");

/** Runs at the end, on error and on SIGINT/SIGTERM (last registered first). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of [...cleanups].reverse()) {
      try {
        await fn();
      } catch (e) {
        console.error(`clean-up: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}

export function interrupted(): boolean {
  return cleaning !== undefined;
}

/**
 * The body of a benchmark script: runs main, then always the clean-ups; SIGINT/SIGTERM run the
 * clean-ups and exit 130. Exit code 1 on error.
 */
export async function runScript(name: string, main: () => Promise<void>): Promise<void> {
  // `on`, not `once`: under the runner a Ctrl-C arrives twice (terminal + forwarded), and a
  // second signal must not kill the script before its clean-ups ran.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (interrupted()) return;
      console.error(`\n${name}: ${sig}, stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    await main();
  } catch (e) {
    if (!interrupted()) console.error(`${name}: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

let logDirPath: string | undefined;
/** A temporary folder for the logs of the processes a script starts (removed by the clean-ups). */
export function logDir(): string {
  if (!logDirPath) {
    const dir = mkdtempSync(join(tmpdir(), "iceflix-bench-"));
    logDirPath = dir;
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  }
  return logDirPath;
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------- /proc

export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid`, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

// ---------------------------------------------------------------- processes with a ready line

export interface ReadyServer<R = Record<string, unknown>> {
  name: string;
  child: SupervisedChild;
  pid: number;
  ready: R;
  log: string;
  /** Milliseconds from spawn to the ready line. */
  startMs: number;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `command args` (own process group; stdout/stderr to a log file) and resolves at its
 * first JSON stdout line with `"event":"ready"`. Stopped by the clean-ups if not before.
 */
export async function startReady<R = Record<string, unknown>>(
  name: string,
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ReadyServer<R>> {
  const log = join(logDir(), `${name.replace(/[^\w.-]+/g, "_")}-${Date.now()}.log`);
  let onReady: (r: R) => void = () => {};
  let readyAt = 0n;
  const ready = new Promise<R>((r) => (onReady = r));
  const t0 = process.hrtime.bigint();
  const child = SupervisedChild.spawn({
    name,
    command,
    args,
    env: options.env,
    logFile: log,
    log: benchLog,
    onStdoutLine: (line) => {
      if (!line.startsWith("{") || !line.includes('"ready"')) return;
      try {
        const msg = JSON.parse(line) as { event?: string };
        if (msg.event === "ready") {
          readyAt ||= process.hrtime.bigint();
          onReady(msg as R);
        }
      } catch {
        // not JSON
      }
    },
  });
  const stop = async (graceMs = 5000) => {
    await child.stop(graceMs);
  };
  onCleanup(() => stop(3000));
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then((r) => ({ r })),
    child.exited.then((e) => ({ error: `exited before ready (code ${e.code}, signal ${e.signal})` })),
    new Promise<{ error: string }>((res) => (timer = setTimeout(() => res({ error: `not ready within ${timeoutMs} ms` }), timeoutMs))),
  ]);
  clearTimeout(timer);
  if ("error" in outcome) {
    await stop(1000);
    throw new Error(`${name}: ${outcome.error}\n${tail(log)}`);
  }
  return { name, child, pid: child.pid!, ready: outcome.r, log, startMs: Number(readyAt - t0) / 1e6, stop };
}

/** Runs a command to completion (stdin text optional); rejects on a non-zero exit. */
export function runCommand(command: string, args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(" ")}: exit ${code ?? signal}\n${err.trim()}`));
    });
    child.stdin.end(options.stdin ?? "");
  });
}

// ---------------------------------------------------------------- the C++ load client

export interface LoadSpec {
  proxy: string;
  op: "isAuthorized" | "getTilesByName" | "getTile" | "getAuthenticator" | "refreshAuthorization";
  arg: string;
  arg2?: string;
  exact?: boolean;
  connections: number;
  inflight: number;
  seconds: number;
  warmup: number;
  iceArgs?: string[];
}

export interface LoadResult {
  calls: number;
  seconds: number;
  callsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  connections: number;
  inflight: number;
  errors: number;
  sample: unknown;
  /** CPU of the measured server process(es) over the window, % of one core. */
  serverCpuPercent: number;
  serverCpuUsPerCall: number | null;
  clientCpuPercent: number;
  serverRssBytes: number;
}

const clients = new Set<ChildProcess>();
onCleanup(() => {
  for (const c of clients) c.kill("SIGKILL");
});

/** Runs the C++ load client once against a server whose CPU (pid) is sampled over the window. */
export function runLoad(clientBinary: string, serverPid: number, spec: LoadSpec, serverLog = ""): Promise<LoadResult> {
  const args = [
    "--proxy", spec.proxy,
    "--op", spec.op,
    "--arg", spec.arg,
    "--connections", String(spec.connections),
    "--inflight", String(spec.inflight),
    "--seconds", String(spec.seconds),
    "--warmup", String(spec.warmup),
  ];
  if (spec.arg2 !== undefined) args.push("--arg2", spec.arg2);
  if (spec.exact !== undefined) args.push("--exact", spec.exact ? "1" : "0");
  args.push(...(spec.iceArgs ?? []));
  return runMeasuredClient<Omit<LoadResult, MeasuredFields>>(clientBinary, args, serverPid, {
    timeoutMs: (spec.seconds + spec.warmup + 60) * 1000,
    what: `load client ${spec.op} against ${spec.proxy} (${spec.connections}x${spec.inflight})`,
    serverLog,
  });
}

/** What runMeasuredClient adds to the client's own result. */
export type MeasuredFields = "serverCpuPercent" | "serverCpuUsPerCall" | "clientCpuPercent" | "serverRssBytes";

/**
 * Runs a load client that prints {"event":"measure-start"} and {"event":"measure-end"} lines
 * around its measured window and then its result as the last JSON line (with `calls`, and `error`
 * on failure); the CPU of the server (serverPid) and of the client is sampled at those two lines.
 * Rejects, with `what` and the tail of `serverLog`, on a non-zero exit, a missing sample or an error.
 */
export function runMeasuredClient<R extends { calls: number; error?: string }>(
  command: string,
  args: string[],
  serverPid: number,
  options: { timeoutMs: number; what: string; serverLog?: string },
): Promise<R & Pick<LoadResult, MeasuredFields>> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    clients.add(child);
    const pid = child.pid!;
    let stdout = "";
    let stderr = "";
    let pending = "";
    type Snap = { t: bigint; server: number; client: number };
    let start: Snap | undefined;
    let end: Snap | undefined;
    const snap = (): Snap => ({ t: process.hrtime.bigint(), server: cpuSeconds(serverPid), client: cpuSeconds(pid) });
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          if (line.includes('"measure-start"')) start = snap();
          else if (line.includes('"measure-end"')) end = snap();
        } catch (e) {
          stderr += `\n(sampling: ${(e as Error).message})`;
        }
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      clients.delete(child);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clients.delete(child);
      const lines = stdout.trim().split("\n");
      let result: R | undefined;
      try {
        result = JSON.parse(lines[lines.length - 1]!) as R;
      } catch {
        // handled below
      }
      if (code !== 0 || !result || !start || !end || result.error) {
        const why = result?.error ?? `exit code ${code}, signal ${signal}`;
        reject(
          new Error(
            `${options.what} failed: ${why}\n${stderr.trim()}` + (options.serverLog ? `\nserver log:\n${tail(options.serverLog)}` : ""),
          ),
        );
        return;
      }
      const wall = Number(end.t - start.t) / 1e9;
      const serverCpu = end.server - start.server;
      let rss = NaN;
      try {
        rss = rssBytes(serverPid);
      } catch {
        // server gone: reported as NaN
      }
      resolve({
        ...result,
        serverCpuPercent: (serverCpu / wall) * 100,
        serverCpuUsPerCall: result.calls > 0 ? (serverCpu / result.calls) * 1e6 : null,
        clientCpuPercent: ((end.client - start.client) / wall) * 100,
        serverRssBytes: rss,
      });
    });
  });
}

// ---------------------------------------------------------------- statistics and formatting

export function median(values: Array<number | null | undefined>): number | null {
  const v = values.filter((x): x is number => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function div(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === "number" && typeof b === "number" && Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : null;
}

export function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A number with about 3 significant digits. */
export function sig(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  const a = Math.abs(n);
  return fmt(n, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

/** Left-aligns the first `leftColumns` columns, right-aligns the rest. */
export function table(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The figures as a console table: value, baseline, ratio, target and whether it was met. */
export function figuresTable(figures: readonly Figure[], baselineHeader = "baseline"): string {
  return table(
    ["figure", "value", baselineHeader, "ratio", "target", "met"],
    figures.map((f) => [
      f.name,
      f.value === null ? "n/a" : `${sig(f.value)} ${f.unit}`,
      sig(f.baseline.value),
      f.ratio === null ? "-" : `${sig(f.ratio)}x`,
      f.target?.text ?? "-",
      f.met === undefined || f.met === null ? "-" : f.met ? "yes" : "NO",
    ]),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- results

/**
 * One reported figure: a measured value, the baseline measured in the same run, their ratio
 * (`ratioLabel` says which way round) and the product's target, when there is one.
 */
export interface Figure {
  id: string;
  name: string;
  value: number | null;
  unit: string;
  baseline: { name: string; value: number | null; unit?: string };
  ratio: number | null;
  ratioLabel: string;
  /** On the ratio ("ratio") or on the value itself ("value"). */
  target?: { on: "ratio" | "value"; op: ">=" | "<=" | ">" | "<"; value: number; text: string };
  met?: boolean | null;
  note?: string;
  /** Kept out of the runner's stdout summary (still in RESULTS.md and results.json). */
  detail?: boolean;
}

export function meets(target: Figure["target"], value: number | null, ratio: number | null): boolean | null {
  if (!target) return null;
  const x = target.on === "ratio" ? ratio : value;
  if (x === null || !Number.isFinite(x)) return null;
  switch (target.op) {
    case ">=":
      return x >= target.value;
    case "<=":
      return x <= target.value;
    case ">":
      return x > target.value;
    case "<":
      return x < target.value;
  }
}

export function figure(f: Omit<Figure, "met" | "ratio"> & { ratio?: number | null }): Figure {
  const ratio = f.ratio !== undefined ? f.ratio : div(f.value, f.baseline.value);
  return { ...f, ratio, met: meets(f.target, f.value, ratio) };
}

export interface BenchResult {
  benchmark: string;
  title: string;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  options: Record<string, unknown>;
  environment: Record<string, unknown>;
  figures: Figure[];
  notes: string[];
  details: unknown;
}

export function environment(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** The options every script takes: --quick, --out FILE; the rest is returned. */
export function commonArgs(argv: string[]): { quick: boolean; out: string | undefined; rest: string[] } {
  let quick = false;
  let out: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--quick") quick = true;
    else if (a === "--out") out = argv[++i];
    else if (a.startsWith("--out=")) out = a.slice(6);
    else rest.push(a);
  }
  return { quick, out, rest };
}

/** Parses `--name value` / `--name=value` options into a map (flags without a value map to "1"). */
export function parseOptions(argv: string[], known: string[], usage: string): Map<string, string> {
  const o = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const name = flag.replace(/^--/, "");
    if (flag === "-h" || flag === "--help" || !flag.startsWith("--") || !known.includes(name)) {
      console.error(`${flag === "-h" || flag === "--help" ? "" : `unknown argument ${flag}\n`}usage: ${usage}`);
      process.exit(2);
    }
    const next = argv[i + 1];
    o.set(name, inline ?? (next !== undefined && !next.startsWith("--") ? (i++, next) : "1"));
  }
  return o;
}

export function numberOption(o: Map<string, string>, name: string, dflt: number): number {
  const v = o.get(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`bad value for --${name}: ${v}`);
    process.exit(2);
  }
  return n;
}
