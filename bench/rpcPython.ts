/**
 * RPC throughput benchmark: the same Python Ice client (bench/py/load_client.py) calling the
 * trivial twoway `Authenticator.isAuthorized("ok")` on
 *   ts      a TypeScript servant served by our Node transport (test/helpers/contractServer.ts, "auth")
 *   python  an equivalent Python servant (bench/py/auth_server.py, Debian python3-zeroc-ice)
 * side by side in one run. Both servers run for the whole run; for every round and every in-flight
 * level the load client runs once against each (their order alternating between rounds, to spread
 * machine noise). Reported per target and in-flight level: medians over rounds of calls/s, p50/p99
 * latency, server CPU% (utime+stime from /proc/<pid>/stat over the measured window), server CPU
 * time per call, the load client's CPU% and the server RSS; then the TS/Python ratios.
 *
 *   node dist/bench/rpcPython.js [--seconds 5] [--rounds 3] [--inflight 1,8] [--warmup 1] [--out FILE]
 *
 * Writes bench/results-rpc-python.json (or --out). Every process it starts is stopped at the end,
 * also on error or Ctrl-C. Both servers use one dispatch thread (Node is single-threaded; Python
 * Ice's default server thread pool has one thread).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SupervisedChild } from "../src/runtime/childProcess.js";
import { createLogger } from "../src/runtime/logger.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/bench/ -> repo root
const PYTHON = "/usr/bin/python3";
const PY_DIR = join(ROOT, "bench", "py");
const TS_SERVER = join(ROOT, "dist", "test", "helpers", "contractServer.js");
const DEFAULT_OUT = join(ROOT, "bench", "results-rpc-python.json");

type Target = "ts" | "python";
const TARGETS: Target[] = ["ts", "python"];
const LABEL: Record<Target, string> = { ts: "TypeScript (our transport)", python: "Python (Ice 3.7 C++ core)" };

interface Options {
  seconds: number;
  rounds: number;
  inflight: number[];
  warmup: number;
  out: string;
}

interface ClientResult {
  calls: number;
  seconds: number;
  callsPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  inflight: number;
  errors: number;
  error?: string;
}

interface Sample extends ClientResult {
  target: Target;
  round: number;
  serverCpuPercent: number;
  serverCpuUsPerCall: number | null;
  clientCpuPercent: number;
  serverRssBytes: number;
}

function usage(message?: string): never {
  if (message) console.error(`rpcPython: ${message}`);
  console.error("usage: node dist/bench/rpcPython.js [--seconds 5] [--rounds 3] [--inflight 1,8] [--warmup 1] [--out FILE]");
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { seconds: 5, rounds: 3, inflight: [1, 8], warmup: 1, out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    const positive = (v: string, integer: boolean) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) usage(`bad value for ${flag}: ${v}`);
      return n;
    };
    switch (flag) {
      case "--seconds":
        o.seconds = positive(value(), false);
        break;
      case "--rounds":
        o.rounds = positive(value(), true);
        break;
      case "--warmup":
        o.warmup = positive(value(), false);
        break;
      case "--inflight":
        o.inflight = value()
          .split(",")
          .filter((s) => s.trim() !== "")
          .map((s) => positive(s.trim(), true));
        if (o.inflight.length === 0) usage("--inflight needs at least one level");
        break;
      case "--out":
        o.out = value();
        break;
      case "-h":
      case "--help":
        usage();
      default:
        usage(`unknown argument ${flag}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- /proc

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

// ---------------------------------------------------------------- processes

const logDir = mkdtempSync(join(tmpdir(), "iceflix-bench-rpc-"));
const quietLog = createLogger("bench-rpc", "warn");
const servers: SupervisedChild[] = [];
const clients = new Set<ChildProcess>();

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Starts a server that prints a JSON `ready` line with its endpoints; stdout/stderr go to a log file. */
async function startServer(target: Target): Promise<{ child: SupervisedChild; pid: number; proxy: string; log: string }> {
  const log = join(logDir, `${target}-server.log`);
  const [command, args] =
    target === "ts" ? [process.execPath, [TS_SERVER]] : [PYTHON, [join(PY_DIR, "auth_server.py")]];
  let onReady: (endpoints: string) => void = () => {};
  const ready = new Promise<string>((r) => (onReady = r));
  const child = SupervisedChild.spawn({
    name: `${target}-server`,
    command,
    args,
    logFile: log,
    log: quietLog,
    onStdoutLine: (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; endpoints?: string };
        if (msg.event === "ready" && msg.endpoints) onReady(msg.endpoints);
      } catch {
        // not JSON
      }
    },
  });
  servers.push(child);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then((endpoints) => ({ endpoints })),
    child.exited.then((e) => ({ error: `exited before ready (code ${e.code}, signal ${e.signal})` })),
    new Promise<{ error: string }>((r) => (timer = setTimeout(() => r({ error: "not ready within 20 s" }), 20_000))),
  ]);
  clearTimeout(timer);
  if ("error" in outcome) throw new Error(`${target} server: ${outcome.error}\n${tail(log)}`);
  return { child, pid: child.pid!, proxy: `auth:${outcome.endpoints}`, log };
}

/** Runs the load client once; CPU is sampled when it announces the start and end of its window. */
function runClient(
  server: { child: SupervisedChild; pid: number; proxy: string; log: string },
  inflight: number,
  o: Options,
): Promise<Omit<Sample, "target" | "round">> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      PYTHON,
      [join(PY_DIR, "load_client.py"), "--proxy", server.proxy, "--seconds", String(o.seconds), "--inflight", String(inflight), "--warmup", String(o.warmup)],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    clients.add(child);
    const pid = child.pid!;
    let stdout = "";
    let stderr = "";
    let start: { t: bigint; server: number; client: number } | undefined;
    let end: { t: bigint; server: number; client: number } | undefined;
    const snap = () => ({ t: process.hrtime.bigint(), server: cpuSeconds(server.pid), client: cpuSeconds(pid) });
    let pending = "";
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
          // A process vanished; reported below through the exit status or missing samples.
          stderr += `\n(sampling: ${(e as Error).message})`;
        }
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), (o.seconds + o.warmup + 60) * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      clients.delete(child);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      clients.delete(child);
      const lines = stdout.trim().split("\n");
      let result: ClientResult | undefined;
      try {
        result = JSON.parse(lines[lines.length - 1]!) as ClientResult;
      } catch {
        // handled below
      }
      if (code !== 0 || !result || !start || !end || result.error) {
        const why = result?.error ?? `exit code ${code}, signal ${signal}`;
        reject(new Error(`load client against ${server.proxy} (inflight ${inflight}) failed: ${why}\n${stderr.trim()}\nserver log:\n${tail(server.log)}`));
        return;
      }
      const wall = Number(end.t - start.t) / 1e9;
      const serverCpu = end.server - start.server;
      resolve({
        ...result,
        serverCpuPercent: (serverCpu / wall) * 100,
        serverCpuUsPerCall: result.calls > 0 ? (serverCpu / result.calls) * 1e6 : null,
        clientCpuPercent: ((end.client - start.client) / wall) * 100,
        serverRssBytes: rssBytes(server.pid),
      });
    });
  });
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of clients) c.kill("SIGKILL");
    await Promise.all(servers.map((s) => s.stop(3000)));
    rmSync(logDir, { recursive: true, force: true });
  })();
  return cleaning;
}

// ---------------------------------------------------------------- report

function median(values: Array<number | null>): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

function fmt(n: number | null, digits = 0): string {
  if (n === null || !Number.isFinite(n)) return "-";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const pythonIce = execFileSync(PYTHON, ["-c", "import Ice; print(Ice.stringVersion())"], { encoding: "utf8" }).trim();
  const loadBefore = loadavg();
  const started = new Date();
  const perRun = o.seconds + o.warmup + 0.5;
  console.log(
    `rpc-python: isAuthorized("ok") twoway from a Python Ice ${pythonIce} client; ${o.rounds} round(s) x ` +
      `inflight ${o.inflight.join(",")} x 2 targets, ${o.seconds} s each after ${o.warmup} s warm-up ` +
      `(~${Math.ceil(o.rounds * o.inflight.length * 2 * perRun)} s); ${cpus().length} CPUs, ` +
      `load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}`,
  );

  const [ts, py] = await Promise.all([startServer("ts"), startServer("python")]);
  const server = { ts, python: py };
  const samples: Sample[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const inflight of o.inflight) {
      const order = round % 2 === 1 ? TARGETS : [...TARGETS].reverse();
      for (const target of order) {
        const s = { target, round, ...(await runClient(server[target], inflight, o)) };
        samples.push(s);
        console.log(
          `  round ${round}  inflight ${String(inflight).padStart(3)}  ${target.padEnd(6)}  ` +
            `${fmt(s.callsPerSecond).padStart(8)} calls/s  p50 ${fmt(s.p50Ms, 3)} ms  p99 ${fmt(s.p99Ms, 3)} ms  ` +
            `server CPU ${fmt(s.serverCpuPercent)}%  client CPU ${fmt(s.clientCpuPercent)}%`,
        );
      }
    }
  }

  const summary = o.inflight.flatMap((inflight) =>
    TARGETS.map((target) => {
      const runs = samples.filter((s) => s.target === target && s.inflight === inflight);
      return {
        target,
        inflight,
        rounds: runs.length,
        callsPerSecond: median(runs.map((s) => s.callsPerSecond)),
        callsPerSecondPerRound: runs.map((s) => s.callsPerSecond),
        p50Ms: median(runs.map((s) => s.p50Ms)),
        p99Ms: median(runs.map((s) => s.p99Ms)),
        serverCpuPercent: median(runs.map((s) => s.serverCpuPercent)),
        serverCpuUsPerCall: median(runs.map((s) => s.serverCpuUsPerCall)),
        clientCpuPercent: median(runs.map((s) => s.clientCpuPercent)),
        serverRssMiB: median(runs.map((s) => s.serverRssBytes / 2 ** 20)),
      };
    }),
  );
  const ratios = o.inflight.map((inflight) => {
    const t = summary.find((s) => s.target === "ts" && s.inflight === inflight)!;
    const p = summary.find((s) => s.target === "python" && s.inflight === inflight)!;
    const div = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? a / b : null);
    return {
      inflight,
      callsPerSecondTsOverPython: div(t.callsPerSecond, p.callsPerSecond),
      p50TsOverPython: div(t.p50Ms, p.p50Ms),
      serverCpuPerCallTsOverPython: div(t.serverCpuUsPerCall, p.serverCpuUsPerCall),
    };
  });

  console.log("\nMedians over rounds:\n");
  console.log(
    table(
      ["target", "inflight", "calls/s", "p50 ms", "p99 ms", "server CPU%", "server µs CPU/call", "client CPU%", "server RSS MiB"],
      summary.map((s) => [
        LABEL[s.target],
        String(s.inflight),
        fmt(s.callsPerSecond),
        fmt(s.p50Ms, 3),
        fmt(s.p99Ms, 3),
        fmt(s.serverCpuPercent),
        fmt(s.serverCpuUsPerCall, 1),
        fmt(s.clientCpuPercent),
        fmt(s.serverRssMiB, 1),
      ]),
    ),
  );
  console.log("\nTS / Python:\n");
  console.log(
    table(
      ["", "inflight", "calls/s ratio", "p50 ratio", "server CPU/call ratio"],
      ratios.map((r) => [
        "",
        String(r.inflight),
        fmt(r.callsPerSecondTsOverPython, 2),
        fmt(r.p50TsOverPython, 2),
        fmt(r.serverCpuPerCallTsOverPython, 2),
      ]),
    ),
  );
  const loadAfter = loadavg();
  console.log(
    "\n(calls/s ratio > 1: the TS server answered more calls; CPU/call ratio < 1: it spent less CPU per call. " +
      "A client CPU% near 100 means the single Python client process, not the server, set the pace.)",
  );

  const report = {
    benchmark: "rpc-python",
    description: 'Python Ice client -> twoway Authenticator.isAuthorized("ok"), TypeScript servant (our transport) vs Python servant',
    startedAt: started.toISOString(),
    options: { seconds: o.seconds, rounds: o.rounds, inflight: o.inflight, warmupSeconds: o.warmup },
    environment: {
      node: process.version,
      pythonIce,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadAfter,
      clockTicksPerSecond: CLK_TCK,
    },
    summary,
    ratios,
    samples,
  };
  writeFileSync(o.out, JSON.stringify(report, null, 2) + "\n");
  console.log(`\nwrote ${o.out}`);
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    console.error(`\nrpcPython: ${sig}, stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (e) {
  // After Ctrl-C the killed load client rejects too; that is not worth a stack trace.
  if (!cleaning) console.error(`rpcPython: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
