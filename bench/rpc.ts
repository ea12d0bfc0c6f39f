/**
 * Benchmark 1, RPC throughput and latency: the same C++ Ice load client (bench/cpp/load_client.cpp,
 * several connections, many asynchronous twoway calls in flight) against three servers with the
 * same logic, side by side in one run:
 *   ts      bench/rpcServer.ts, our TypeScript servant on our Node transport (src/ice-server)
 *   cpp     bench/cpp/bench_server.cpp, Ice 3.7 C++11: the limit of this machine
 *   python  bench/py/bench_server.py, python3-zeroc-ice
 * Operations: `Authenticator.isAuthorized("token-7")` (a map lookup) and
 * `MediaCatalog.getTilesByName("the", false)` (a substring search over bench/data/titles.tsv, 19 of
 * 48 titles match). Each server has one dispatch thread (Node is single-threaded; Python Ice and C++
 * Ice are given one server thread), so the comparison is per dispatch thread.
 *
 * Load levels: "load" (--connections x --inflight calls in flight) for throughput and latency
 * under load; "single" (one connection, one call in flight) for round-trip latency.
 * For every round, level and operation the client runs once against each server (their order
 * rotating between rounds). Reported: medians over rounds of calls/s, p50/p99, server CPU per call,
 * and the ratios TS/C++ and TS/Python. Targets: TS >= 0.5x C++ calls/s and >= 2x Python.
 *
 * Before any measurement each server is primed with --prime seconds of load per operation.
 *
 *   node dist/bench/rpc.js [--quick] [--seconds 3] [--warmup 1] [--prime 2] [--rounds 3] [--connections 4]
 *        [--inflight 16] [--levels load,single] [--targets ts,cpp,python] [--ops isAuthorized,getTilesByName]
 *        [--profile DIR] [--out FILE]
 *
 * --profile DIR runs the TS server under `node --cpu-prof` (profile written to DIR when it stops;
 * open it in Chrome DevTools or summarise it with `node dist/bench/profileSummary.js FILE`).
 *
 * Writes bench/results-rpc.json (or --out). Every process it starts is stopped at the end.
 */
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import {
  BENCH_DIR,
  commonArgs,
  DIST_BENCH,
  environment,
  figure,
  fmt,
  median,
  numberOption,
  parseOptions,
  PYTHON,
  runLoad,
  runScript,
  sig,
  startReady,
  table,
  TITLES_FILE,
  type BenchResult,
  type Figure,
  type LoadResult,
  type LoadSpec,
  type ReadyServer,
} from "./lib/common.js";
import { ensureCppBinaries } from "./lib/cppBuild.js";

type Target = "ts" | "cpp" | "python" | "ts-base" | "ts-trace" | "ts-metrics" | "ts-dispatch-metrics";
type Op = "isAuthorized" | "getTilesByName";
type Level = "load" | "single";
const DEFAULT_TARGETS: Target[] = ["ts", "cpp", "python"];
/** "ts-base": the TS server without the per-call fast paths of src/ice-server (bench/rpcServer.ts --experiment baseline). */
/** "ts-trace"/"ts-metrics": the TS server with the services' request tracing, and with dispatch metrics too (rpcServer.ts --experiment). */
const ALL_TARGETS: Target[] = [...DEFAULT_TARGETS, "ts-base", "ts-trace", "ts-metrics", "ts-dispatch-metrics"];
const LABEL: Record<Target, string> = {
  ts: "TypeScript (our transport)",
  cpp: "C++ (Ice 3.7)",
  python: "Python (python3-zeroc-ice)",
  "ts-base": "TypeScript, fast paths off (experiment)",
  "ts-trace": "TypeScript + request tracing",
  "ts-metrics": "TypeScript + tracing + metrics",
  "ts-dispatch-metrics": "TypeScript + tracing + dispatch metrics only",
};
const OPS: Record<Op, { identity: string; arg: string; exact?: boolean; text: string }> = {
  isAuthorized: { identity: "auth", arg: "token-7", text: 'isAuthorized("token-7")' },
  getTilesByName: { identity: "catalog", arg: "the", exact: false, text: 'getTilesByName("the", false)' },
};
const USAGE =
  "node dist/bench/rpc.js [--quick] [--seconds S] [--warmup W] [--prime P] [--rounds N] [--connections C] [--inflight I] " +
  "[--levels load,single] [--targets ts,cpp,python] [--ops isAuthorized,getTilesByName] [--profile DIR] [--out FILE]";

interface Sample extends LoadResult {
  target: Target;
  op: Op;
  level: Level;
  round: number;
}

function list<T extends string>(value: string | undefined, allowed: readonly T[], dflt: T[]): T[] {
  if (value === undefined) return dflt;
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T)) {
      console.error(`rpc: unknown value ${i} (allowed: ${allowed.join(", ")})`);
      process.exit(2);
    }
  }
  return items as T[];
}

async function startServer(target: Target, cppServer: string, tsNodeArgs: string[]): Promise<ReadyServer<{ endpoints: string }>> {
  const titles = ["--titles", TITLES_FILE];
  switch (target) {
    case "ts":
      return startReady("ts-server", process.execPath, [...tsNodeArgs, join(DIST_BENCH, "rpcServer.js"), ...titles]);
    case "ts-base":
      return startReady("ts-base-server", process.execPath, [...tsNodeArgs, join(DIST_BENCH, "rpcServer.js"), ...titles, "--experiment", "baseline"]);
    case "ts-trace":
    case "ts-metrics":
    case "ts-dispatch-metrics":
      return startReady(`${target}-server`, process.execPath, [...tsNodeArgs, join(DIST_BENCH, "rpcServer.js"), ...titles, "--experiment", target.slice(3)]);
    case "cpp":
      return startReady("cpp-server", cppServer, [...titles, "--Ice.ThreadPool.Server.Size=1"]);
    case "python":
      return startReady("python-server", PYTHON, [join(BENCH_DIR, "py", "bench_server.py"), ...titles, "--Ice.ThreadPool.Server.Size=1"]);
  }
}

async function main(): Promise<void> {
  const { quick, out: outArg, rest } = commonArgs(process.argv.slice(2));
  const o = parseOptions(rest, ["seconds", "warmup", "prime", "rounds", "connections", "inflight", "levels", "targets", "ops", "profile"], USAGE);
  const opt = {
    seconds: numberOption(o, "seconds", quick ? 0.8 : 3),
    warmup: numberOption(o, "warmup", quick ? 0.3 : 1),
    prime: numberOption(o, "prime", quick ? 0.5 : 2),
    rounds: Math.max(1, Math.round(numberOption(o, "rounds", quick ? 1 : 3))),
    connections: Math.max(1, Math.round(numberOption(o, "connections", 4))),
    inflight: Math.max(1, Math.round(numberOption(o, "inflight", 16))),
    levels: list<Level>(o.get("levels"), ["load", "single"], ["load", "single"]),
    targets: list<Target>(o.get("targets"), ALL_TARGETS, DEFAULT_TARGETS),
    ops: list<Op>(o.get("ops"), ["isAuthorized", "getTilesByName"], ["isAuthorized", "getTilesByName"]),
    // --profile DIR: the TS server runs under `node --cpu-prof`; the .cpuprofile lands in DIR at its exit.
    tsNodeArgs: o.get("profile") ? ["--cpu-prof", `--cpu-prof-dir=${o.get("profile")}`] : [],
  };
  const out = outArg ?? join(BENCH_DIR, "results-rpc.json");
  const startedAt = new Date().toISOString();
  const cpp = await ensureCppBinaries((l) => console.log(`rpc: ${l}`));
  const pythonIce = execFileSync(PYTHON, ["-c", "import Ice; print(Ice.stringVersion())"], { encoding: "utf8" }).trim();
  const shape = (level: Level) => (level === "load" ? { connections: opt.connections, inflight: opt.inflight } : { connections: 1, inflight: 1 });
  const runs = opt.rounds * opt.levels.length * opt.ops.length * opt.targets.length;
  console.log(
    `rpc: C++ load client -> ${opt.targets.join(", ")} servers; ${opt.ops.join(", ")}; levels ${opt.levels
      .map((l) => `${l} (${shape(l).connections}x${shape(l).inflight} in flight)`)
      .join(", ")}; ${opt.rounds} round(s), ${opt.seconds} s + ${opt.warmup} s warm-up per run (~${Math.ceil(runs * (opt.seconds + opt.warmup + 0.2))} s)`,
  );

  const servers = {} as Record<Target, ReadyServer<{ endpoints: string }>>;
  for (const t of opt.targets) servers[t] = await startServer(t, cpp.server, opt.tsNodeArgs);

  // Prime every server once (JIT, heap growth, connection set-up) so the first measured run is
  // not the one that pays for it; unmeasured.
  for (const t of opt.targets) {
    for (const op of opt.ops) {
      const server = servers[t];
      await runLoad(
        cpp.client,
        server.pid,
        { proxy: `${OPS[op].identity}:${server.ready.endpoints}`, op, arg: OPS[op].arg, exact: OPS[op].exact, ...shape("load"), seconds: opt.prime, warmup: 0.1 },
        server.log,
      );
    }
  }

  const samples: Sample[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    for (const level of opt.levels) {
      for (const op of opt.ops) {
        // Rotate the order so no target always runs first (or right after the same neighbour).
        const order = opt.targets.map((_, i) => opt.targets[(i + round - 1) % opt.targets.length]!);
        for (const target of order) {
          const server = servers[target];
          const spec: LoadSpec = {
            proxy: `${OPS[op].identity}:${server.ready.endpoints}`,
            op,
            arg: OPS[op].arg,
            exact: OPS[op].exact,
            ...shape(level),
            seconds: opt.seconds,
            warmup: opt.warmup,
          };
          const s: Sample = { target, op, level, round, ...(await runLoad(cpp.client, server.pid, spec, server.log)) };
          samples.push(s);
          console.log(
            `  round ${round}  ${level.padEnd(6)}  ${op.padEnd(14)}  ${target.padEnd(6)}  ${fmt(s.callsPerSecond).padStart(8)} calls/s  ` +
              `p50 ${sig(s.p50Ms)} ms  p99 ${sig(s.p99Ms)} ms  server CPU ${fmt(s.serverCpuPercent)}%  client CPU ${fmt(s.clientCpuPercent)}%`,
          );
        }
      }
    }
  }

  // The three servers must give the same answers, or the comparison means nothing.
  for (const op of opt.ops) {
    const answers = new Map(opt.targets.map((t) => [t, JSON.stringify(samples.find((s) => s.op === op && s.target === t)?.sample)]));
    if (new Set(answers.values()).size > 1) {
      throw new Error(`servers disagree on ${op}: ${[...answers].map(([t, a]) => `${t}=${a}`).join(" ")}`);
    }
  }

  const summary = opt.levels.flatMap((level) =>
    opt.ops.flatMap((op) =>
      opt.targets.map((target) => {
        const r = samples.filter((s) => s.target === target && s.op === op && s.level === level);
        return {
          target,
          op,
          level,
          ...shape(level),
          rounds: r.length,
          callsPerSecond: median(r.map((s) => s.callsPerSecond)),
          callsPerSecondPerRound: r.map((s) => Math.round(s.callsPerSecond)),
          p50Ms: median(r.map((s) => s.p50Ms)),
          p99Ms: median(r.map((s) => s.p99Ms)),
          serverCpuPercent: median(r.map((s) => s.serverCpuPercent)),
          serverCpuUsPerCall: median(r.map((s) => s.serverCpuUsPerCall)),
          clientCpuPercent: median(r.map((s) => s.clientCpuPercent)),
          serverRssMiB: median(r.map((s) => s.serverRssBytes / 2 ** 20)),
        };
      }),
    ),
  );
  const get = (target: Target, op: Op, level: Level) => summary.find((s) => s.target === target && s.op === op && s.level === level);

  console.log("\nMedians over rounds:\n");
  console.log(
    table(
      ["server", "op", "level", "calls/s", "p50 ms", "p99 ms", "server CPU%", "µs CPU/call", "client CPU%", "RSS MiB"],
      summary.map((s) => [
        LABEL[s.target],
        s.op,
        `${s.level} ${s.connections}x${s.inflight}`,
        fmt(s.callsPerSecond),
        sig(s.p50Ms),
        sig(s.p99Ms),
        fmt(s.serverCpuPercent),
        sig(s.serverCpuUsPerCall),
        fmt(s.clientCpuPercent),
        fmt(s.serverRssMiB, 1),
      ]),
      3,
    ),
  );

  const SHORT: Record<Target, string> = {
    ts: "TS",
    cpp: "C++",
    python: "Python",
    "ts-base": "TS (fast paths off)",
    "ts-trace": "TS + tracing",
    "ts-metrics": "TS + tracing + metrics",
    "ts-dispatch-metrics": "TS + tracing + dispatch metrics",
  };
  const figures: Figure[] = [];
  const compare = (value: Target, base: Target, target?: Figure["target"]) => {
    for (const level of opt.levels) {
      for (const op of opt.ops) {
        const v = get(value, op, level);
        const b = get(base, op, level);
        if (!v || !b) continue;
        const shapeText = `${v.connections}x${v.inflight}`;
        const vs = `${SHORT[value]} vs ${SHORT[base]}`;
        const baseline = (x: number | null, unit: string) => ({ name: `${LABEL[base]} server`, value: x, unit });
        const ratioLabel = `${SHORT[value]} / ${SHORT[base]}`;
        if (level === "load") {
          figures.push(
            figure({
              id: `rpc.${op}.${level}.callsPerSecond.${value}-vs-${base}`,
              name: `${op} calls/s, ${shapeText} in flight, ${vs}`,
              value: v.callsPerSecond,
              unit: "calls/s",
              baseline: baseline(b.callsPerSecond, "calls/s"),
              ratioLabel,
              target,
              note: target ? undefined : "no target set; reported",
            }),
            figure({
              id: `rpc.${op}.${level}.cpuPerCall.${value}-vs-${base}`,
              name: `${op} server CPU per call, ${shapeText}, ${vs}`,
              value: v.serverCpuUsPerCall,
              unit: "µs",
              baseline: baseline(b.serverCpuUsPerCall, "µs"),
              ratioLabel: `${ratioLabel} (lower is better)`,
              note: "no target set; reported",
              detail: true,
            }),
          );
        }
        for (const p of ["p50Ms", "p99Ms"] as const) {
          figures.push(
            figure({
              id: `rpc.${op}.${level}.${p}.${value}-vs-${base}`,
              name: `${op} ${p.slice(0, 3)} latency, ${shapeText} in flight, ${vs}`,
              value: v[p],
              unit: "ms",
              baseline: baseline(b[p], "ms"),
              ratioLabel: `${ratioLabel} (lower is better)`,
              note: "no target set; reported",
              detail: p === "p99Ms",
            }),
          );
        }
      }
    }
  };
  if (opt.targets.includes("ts")) {
    if (opt.targets.includes("cpp")) compare("ts", "cpp", { on: "ratio", op: ">=", value: 0.5, text: ">= 0.5x C++" });
    if (opt.targets.includes("python")) compare("ts", "python", { on: "ratio", op: ">=", value: 2, text: ">= 2x Python" });
    if (opt.targets.includes("ts-base")) compare("ts", "ts-base");
    // Observability's cost (issue #18): under 10 % is the goal.
    if (opt.targets.includes("ts-trace")) compare("ts-trace", "ts");
    if (opt.targets.includes("ts-dispatch-metrics")) compare("ts-dispatch-metrics", "ts");
    if (opt.targets.includes("ts-metrics")) compare("ts-metrics", "ts", { on: "ratio", op: ">=", value: 0.9, text: ">= 0.9x TS (< 10 % overhead)" });
  }
  const notes = [
    "One dispatch thread per server (Node's event loop; --Ice.ThreadPool.Server.Size=1 for C++ and Python).",
    "Client and servers share the machine's cores: a client CPU% near 100 means the client, not the server, set the pace.",
  ];
  const maxClient = Math.max(...samples.map((s) => s.clientCpuPercent));
  if (maxClient > 90) notes.push(`The load client reached ${fmt(maxClient)}% CPU in some runs: the C++ server figures there are a lower bound.`);

  console.log("\nRatios (medians):\n");
  console.log(
    table(
      ["figure", "value", "baseline", "ratio", "target", "met"],
      figures.map((f) => [
        f.name,
        sig(f.value),
        sig(f.baseline.value),
        f.ratio === null ? "-" : `${sig(f.ratio)}x`,
        f.target?.text ?? "-",
        f.met === undefined || f.met === null ? "-" : f.met ? "yes" : "NO",
      ]),
    ),
  );

  const result: BenchResult = {
    benchmark: "rpc",
    title: "1. RPC throughput and latency (C++ load client; TS vs C++ vs Python servers)",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: { ...opt, cppBuilt: cpp.built, cppBuildSeconds: cpp.buildSeconds },
    environment: { ...environment(), pythonIce },
    figures,
    notes,
    details: { summary, samples },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nrpc: wrote ${out}`);
}

await runScript("rpc", main);
