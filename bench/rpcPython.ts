/**
 * RPC throughput benchmark: the same Python Ice client (bench/py/load_client.py) calling the
 * trivial twoway `Authenticator.isAuthorized("token-7")` on the servants of bench/rpc.ts:
 *   ts      the TypeScript bench server served by our Node transport (bench/rpcServer.ts, "auth")
 *   python  the Python bench server (bench/py/bench_server.py, Debian python3-zeroc-ice)
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
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import {
  BENCH_DIR,
  CLK_TCK,
  DIST_BENCH,
  div,
  fmt,
  median,
  PYTHON,
  runMeasuredClient,
  runScript,
  startReady,
  table,
  TITLES_FILE,
  type LoadResult,
  type MeasuredFields,
  type ReadyServer,
} from "./lib/common.js";

const PY_DIR = join(BENCH_DIR, "py");
const DEFAULT_OUT = join(BENCH_DIR, "results-rpc-python.json");

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

interface Sample extends ClientResult, Pick<LoadResult, MeasuredFields> {
  target: Target;
  round: number;
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

// ---------------------------------------------------------------- processes

type Server = ReadyServer<{ endpoints: string }>;

/** The bench server of `target` (one dispatch thread each), stopped by the clean-ups. */
function startServer(target: Target): Promise<Server> {
  const titles = ["--titles", TITLES_FILE];
  return target === "ts"
    ? startReady(`${target}-server`, process.execPath, [join(DIST_BENCH, "rpcServer.js"), ...titles], { timeoutMs: 20_000 })
    : startReady(`${target}-server`, PYTHON, [join(PY_DIR, "bench_server.py"), ...titles, "--Ice.ThreadPool.Server.Size=1"], {
        timeoutMs: 20_000,
      });
}

/** Runs the load client once; CPU is sampled when it announces the start and end of its window. */
function runClient(server: Server, inflight: number, o: Options): Promise<Omit<Sample, "target" | "round">> {
  const proxy = `auth:${server.ready.endpoints}`;
  return runMeasuredClient<ClientResult>(
    PYTHON,
    [join(PY_DIR, "load_client.py"), "--proxy", proxy, "--seconds", String(o.seconds), "--inflight", String(inflight), "--warmup", String(o.warmup)],
    server.pid,
    { timeoutMs: (o.seconds + o.warmup + 60) * 1000, what: `load client against ${proxy} (inflight ${inflight})`, serverLog: server.log },
  );
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const pythonIce = execFileSync(PYTHON, ["-c", "import Ice; print(Ice.stringVersion())"], { encoding: "utf8" }).trim();
  const loadBefore = loadavg();
  const started = new Date();
  const perRun = o.seconds + o.warmup + 0.5;
  console.log(
    `rpc-python: isAuthorized("token-7") twoway from a Python Ice ${pythonIce} client; ${o.rounds} round(s) x ` +
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
      2,
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
      2,
    ),
  );
  const loadAfter = loadavg();
  console.log(
    "\n(calls/s ratio > 1: the TS server answered more calls; CPU/call ratio < 1: it spent less CPU per call. " +
      "A client CPU% near 100 means the single Python client process, not the server, set the pace.)",
  );

  const report = {
    benchmark: "rpc-python",
    description: 'Python Ice client -> twoway Authenticator.isAuthorized("token-7"), TypeScript servant (our transport) vs Python servant',
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

await runScript("rpcPython", main);
