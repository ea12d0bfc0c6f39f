/**
 * The benchmark suite (issue #7): runs each benchmark script of bench/ in turn, one process each,
 * and writes
 *   bench/results.json   every script's result (figures, details, environment)
 *   bench/RESULTS.md     the machine, the date, and each figure: value, baseline measured in the
 *                        same run, ratio, target (when the product has one) and whether it is met
 *   stdout               each script's progress, then the same table
 * It reports; it asserts nothing (exit code 0 unless a script failed to run at all, then 1).
 *
 *   npm run bench [-- --quick] [-- --only rpc,login] [-- --skip catalog-search]
 *   node dist/bench/run.js [--quick] [--only IDS] [--skip IDS]
 *
 * --quick: short runs (the whole suite in about a minute once the C++ tools are built), for
 * checking the suite works; the figures are noisier. Benchmarks (ids):
 *   rpc             1. bench/rpc.ts             C++ load client -> TS / C++ / Python servers
 *   catalog-search  2. bench/catalogSearch.ts   in-process searches at 100k titles vs a linear scan
 *   login           3. bench/login.ts           refreshAuthorization (scrypt) and isAuthorized on bin/iceflix auth
 *   stream          4.+5. bench/streamStart.ts  stream start and concurrent streams (hook, see bench/README.md)
 *   footprint       6. bench/footprint.ts       start-up time and idle RSS per service
 *   store           7. bench/storeBench.ts      edits/s and search per store, cross-replica visibility (PostgreSQL)
 *   services        8. bench/services.ts        real auth/catalog/main vs the minimal servant (isAuthorized, getTilesByName, getTile, getAuthenticator)
 *   web             9. bench/webPlayback.ts     browser click-to-first-frame vs SDP/RTP; 50 range readers: provider CPU, RSS
 *
 * Every process is stopped at the end, also on error or Ctrl-C: each script stops its own; the
 * runner then kills anything still carrying this run's ICEFLIX_BENCH_RUN marker.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { BENCH_DIR, DIST_BENCH, fmt, meets, PYTHON, reapMarked, ROOT, runId, RUN_MARKER, sig, table, type BenchResult, type Figure } from "./lib/common.js";

interface Step {
  id: string;
  title: string;
  script: string;
  args: (quick: boolean) => string[];
  /** Turns the script's JSON into figures (ours already are). */
  adapt?: (raw: unknown, quick: boolean) => { figures: Figure[]; notes: string[] };
  /** Written by someone else, maybe not yet: its absence is reported, not an error. */
  hook?: string;
  /** Why this step does not run in --quick (evaluated when the script exists), if it does not. */
  skipQuick?: () => string | undefined;
  timeoutSeconds: (quick: boolean) => number;
}

const STEPS: Step[] = [
  {
    id: "rpc",
    title: "1. RPC throughput and latency (C++ load client; TS vs C++ vs Python servers)",
    script: "rpc.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 300 : 1200), // includes the one-time C++ build
  },
  {
    id: "observability",
    title: "8. Observability's cost (the TS server plain, with request tracing, with tracing + metrics)",
    script: "rpc.js",
    // Side by side in one run; under load only (where a per-call cost shows); more rounds, as the gap is small.
    args: (q) => ["--targets", "ts,ts-trace,ts-metrics", "--levels", "load", ...(q ? ["--quick"] : ["--rounds", "5"])],
    timeoutSeconds: (q) => (q ? 300 : 900),
  },
  {
    id: "catalog-search",
    title: "2. Catalog search at scale (in-process, index vs linear scan)",
    script: "catalogSearch.js",
    // --quick: fewer titles (the linear-scan baseline at 100k takes ~30 s on its own).
    args: (q) => (q ? ["--titles", "20000", "--queries", "50", "--scan-queries", "3"] : []),
    adapt: adaptCatalogSearch,
    hook: "bench/catalogSearch.ts (catalog engineer)",
    timeoutSeconds: (q) => (q ? 120 : 900),
  },
  {
    id: "login",
    title: "3. Login (bin/iceflix auth)",
    script: "login.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 300 : 900),
  },
  {
    id: "stream",
    title: "4. Stream start and 5. concurrent streams",
    script: "streamStart.js",
    // Until the script has a --quick of its own: few rounds, 1 and 4 streams, short windows.
    args: (q) => (q ? ["--quick"] : []),
    skipQuick: () =>
      scriptSupports("streamStart.js", "--quick")
        ? undefined
        : "skipped in --quick: bench/streamStart.ts has no --quick yet (its 720p clip generation alone takes about a minute here); run `npm run bench` or `npm run bench:stream`",
    adapt: adaptStream,
    hook: "bench/streamStart.ts (streaming engineer)",
    timeoutSeconds: (q) => (q ? 180 : 1200),
  },
  {
    id: "store",
    title: "7. Stores (SQLite vs PostgreSQL; cross-replica visibility)",
    script: "storeBench.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 180 : 900),
  },
  {
    id: "footprint",
    title: "6. Footprint (start-up time and idle RSS per service)",
    script: "footprint.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 180 : 600),
  },
  {
    id: "services",
    title: "8. Real services vs the minimal servant (C++ load client, issue 19)",
    script: "services.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 180 : 600),
  },
  {
    id: "web",
    title: "9. Browser playback (direct play over HTTP) vs SDP/RTP",
    script: "webPlayback.js",
    args: (q) => (q ? ["--quick"] : []),
    timeoutSeconds: (q) => (q ? 180 : 400),
  },
];

// ---------------------------------------------------------------- adapters for scripts not written against lib/common

interface CatalogSearchJson {
  titles: number;
  queriesPerClass: number;
  baselineQueriesPerClass: number;
  insertMs?: number;
  openMs?: number;
  heapMb?: number;
  refreshMs?: { p50: number; max: number };
  rows: Array<{
    query: string;
    results: number;
    index: { p50: number; p99: number };
    p99Intrinsic?: number;
    gc?: { pauses: number; totalMs: number; maxMs: number };
    naive: { p50: number; p99: number };
  }>;
}

/** Issue 19: every substring query class at p99 <= 3 ms at 100k titles. */
const SUBSTRING_P99_TARGET = { ms: 3, note: "<= 3 ms (issue 19)", applies: (query: string) => query.startsWith("substring") };

function adaptCatalogSearch(raw: unknown): { figures: Figure[]; notes: string[] } {
  const r = raw as CatalogSearchJson;
  if (!Array.isArray(r?.rows)) throw new Error("catalogSearch output has no rows");
  const figures: Figure[] = [];
  for (const row of r.rows) {
    for (const p of ["p50", "p99"] as const) {
      const value = row.index?.[p] ?? null;
      const base = row.naive?.[p] ?? null;
      const ratio = value !== null && base !== null && value > 0 ? base / value : null;
      figures.push({
        id: `catalog-search.${row.query}.${p}`,
        name: `search "${row.query}" ${p} (${fmt(r.titles)} titles, ~${fmt(row.results)} results)`,
        value,
        unit: "ms",
        baseline: { name: "linear scan", value: base, unit: "ms" },
        ratio,
        ratioLabel: "scan / index (speed-up)",
        note: p === "p99" && SUBSTRING_P99_TARGET.applies(row.query) ? SUBSTRING_P99_TARGET.note : "no numeric target in issue #7 (spec §4: fast at 100k, indexed, not a scan per call)",
        met: p === "p99" && SUBSTRING_P99_TARGET.applies(row.query) && value !== null ? value <= SUBSTRING_P99_TARGET.ms : null,
        detail: p === "p99",
      });
    }
    if (row.p99Intrinsic !== undefined && SUBSTRING_P99_TARGET.applies(row.query)) {
      figures.push({
        id: `catalog-search.${row.query}.p99-best-of-5`,
        name: `search "${row.query}" p99 of each query's best of 5 runs (the work without preemption or GC)`,
        value: row.p99Intrinsic,
        unit: "ms",
        baseline: { name: "plain p99, same run", value: row.index?.p99 ?? null, unit: "ms" },
        ratio: row.index?.p99 ? row.p99Intrinsic / row.index.p99 : null,
        ratioLabel: "best-of-5 / plain",
        note: SUBSTRING_P99_TARGET.note,
        met: row.p99Intrinsic <= SUBSTRING_P99_TARGET.ms,
        detail: true,
      });
    }
  }
  const gcNotes = r.rows
    .filter((row) => row.gc)
    .map((row) => `${row.query} ${row.gc!.pauses} (max ${sig(row.gc!.maxMs)} ms)`);
  const notes = [
    `${fmt(r.titles)} titles; ${r.queriesPerClass} queries per class, the baseline scan ${r.baselineQueriesPerClass} (it is slow).`,
    `Insert (one transaction) ${fmt(r.insertMs)} ms; open + index ${fmt(r.openMs)} ms; index heap ~${fmt(r.heapMb)} MB; ` +
      `first search after a replica's rename p50 ${sig(r.refreshMs?.p50)} ms, max ${sig(r.refreshMs?.max)} ms.`,
    ...(gcNotes.length > 0 ? [`GC pauses inside each class's index queries: ${gcNotes.join("; ")}.`] : []),
  ];
  return { figures, notes };
}

/** A script written by someone else: its `figures` if it follows lib/common's format, else raw. */
function adaptForeign(raw: unknown): { figures: Figure[]; notes: string[] } {
  const r = raw as { figures?: unknown; notes?: unknown };
  if (Array.isArray(r?.figures)) {
    const figures = (r.figures as Figure[]).map((f) => ({
      ...f,
      ratio: f.ratio ?? (typeof f.value === "number" && typeof f.baseline?.value === "number" && f.baseline.value !== 0 ? f.value / f.baseline.value : null),
      met: f.met ?? meets(f.target, f.value, f.ratio ?? null),
    }));
    return { figures, notes: Array.isArray(r.notes) ? (r.notes as string[]) : [] };
  }
  return { figures: [], notes: ["The script's output has no `figures` array in the common format (bench/README.md); its JSON is kept raw in results.json."] };
}

/** Whether a compiled bench script mentions an option (a script written elsewhere may not have it yet). */
function scriptSupports(script: string, option: string): boolean {
  try {
    return readFileSync(join(DIST_BENCH, script), "utf8").includes(`"${option}"`);
  } catch {
    return false;
  }
}

interface StreamStartJson {
  options?: { rounds?: number; seconds?: number };
  startLatency?: Array<{ kind: string; samples: number; firstPacketP50: number | null; firstPacketP90: number | null; replyP50: number | null; missed: number }>;
  load?: Array<{
    streams: number;
    serviceCpuPercent: number;
    pipelinesCpuPercent: number;
    pipelineCpuPercentPerStream: number;
    serviceRssMiB: number;
    pipelineRssMiBPerStream: number;
    receivedMbitPerSecond: number;
    streamsDelivering: number;
    startAllMs: number;
    stopAllMs: number;
    gstLeftAfterStop: number;
  }>;
}

/**
 * bench/streamStart.ts's own format (startLatency, load) into figures; its `figures`, if it
 * writes them in lib/common's format, win. Baselines from the same run: passthrough start vs
 * transcode start; N concurrent streams vs one stream (how the per-stream cost scales).
 */
function adaptStream(raw: unknown): { figures: Figure[]; notes: string[] } {
  const r = raw as StreamStartJson & { figures?: unknown };
  if (Array.isArray(r?.figures)) return adaptForeign(raw);
  if (!Array.isArray(r?.startLatency) && !Array.isArray(r?.load)) return adaptForeign(raw);
  const figures: Figure[] = [];
  const pass = r.startLatency?.find((x) => x.kind === "passthrough");
  const trans = r.startLatency?.find((x) => x.kind === "transcode");
  const none = "no target set in issue #7; reported";
  for (const [key, label] of [["firstPacketP50", "p50"], ["firstPacketP90", "p90"]] as const) {
    if (!pass) continue;
    const value = pass[key];
    const base = trans?.[key] ?? null;
    figures.push({
      id: `stream.start.passthrough.${key}`,
      name: `stream start, getSDP call to first RTP packet ${label}, passthrough (720p H.264)`,
      value,
      unit: "ms",
      baseline: { name: "transcode (VP8 -> H.264), same run", value: base, unit: "ms" },
      ratio: value !== null && base ? value / base : null,
      ratioLabel: "passthrough / transcode",
      note: none,
      met: null,
      detail: label === "p90",
    });
  }
  const one = r.load?.find((l) => l.streams === 1);
  for (const l of r.load ?? []) {
    if (l.streams === 1) continue;
    figures.push(
      {
        id: `stream.concurrent.${l.streams}.pipelineCpuPerStream`,
        name: `${l.streams} concurrent streams: pipeline CPU per stream (${l.streamsDelivering}/${l.streams} delivering)`,
        value: l.pipelineCpuPercentPerStream,
        unit: "% core",
        baseline: { name: "one stream, same run", value: one?.pipelineCpuPercentPerStream ?? null, unit: "% core" },
        ratio: one && one.pipelineCpuPercentPerStream > 0 ? l.pipelineCpuPercentPerStream / one.pipelineCpuPercentPerStream : null,
        ratioLabel: `${l.streams} streams / 1 stream`,
        note: none,
        met: null,
      },
      {
        id: `stream.concurrent.${l.streams}.serviceRss`,
        name: `${l.streams} concurrent streams: StreamProvider RSS`,
        value: l.serviceRssMiB,
        unit: "MiB",
        baseline: { name: "one stream, same run", value: one?.serviceRssMiB ?? null, unit: "MiB" },
        ratio: one && one.serviceRssMiB > 0 ? l.serviceRssMiB / one.serviceRssMiB : null,
        ratioLabel: `${l.streams} streams / 1 stream`,
        note: none,
        met: null,
        detail: true,
      },
      {
        id: `stream.concurrent.${l.streams}.startAll`,
        name: `${l.streams} concurrent streams: time to start them all`,
        value: l.startAllMs,
        unit: "ms",
        baseline: { name: "one stream, same run", value: one?.startAllMs ?? null, unit: "ms" },
        ratio: one && one.startAllMs > 0 ? l.startAllMs / one.startAllMs : null,
        ratioLabel: `${l.streams} streams / 1 stream`,
        note: none,
        met: null,
        detail: true,
      },
    );
  }
  const notes = (r.load ?? []).map(
    (l) =>
      `${l.streams} stream(s): service CPU ${fmt(l.serviceCpuPercent, 1)}%, pipelines ${fmt(l.pipelinesCpuPercent, 1)}% of a core, ` +
      `${fmt(l.receivedMbitPerSecond, 1)} Mbit/s received, ${l.streamsDelivering}/${l.streams} delivering, stop all ${fmt(l.stopAllMs)} ms, gst left ${l.gstLeftAfterStop}.`,
  );
  return { figures, notes };
}

// ---------------------------------------------------------------- running the steps

interface StepOutcome {
  id: string;
  title: string;
  status: "ok" | "failed" | "not available" | "skipped" | "interrupted";
  seconds: number;
  error?: string;
  figures: Figure[];
  notes: string[];
  result?: unknown;
  leftoversKilled?: number[];
}

let current: ChildProcess | undefined;
let interrupted = false;

function runStep(step: Step, quick: boolean, outFile: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    // Same process group as the runner: Ctrl-C in a terminal reaches the script directly too.
    const child = spawn(process.execPath, [join(DIST_BENCH, step.script), ...step.args(quick), "--out", outFile], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, [RUN_MARKER]: runId },
    });
    current = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\nbench: ${step.id} still running after ${step.timeoutSeconds(quick)} s: stopping it`);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
    }, step.timeoutSeconds(quick) * 1000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      resolve({ code, signal, timedOut });
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      current = undefined;
      console.error(`bench: cannot start ${step.script}: ${e.message}`);
      resolve({ code: 127, signal: null, timedOut: false });
    });
  });
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${sig}: stopping the running benchmark`);
    const child = current;
    if (child) {
      // From a terminal the script got SIGINT already; a SIGTERM to the runner alone must be passed on.
      child.kill(sig === "SIGINT" ? "SIGINT" : "SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 15_000).unref();
    }
  });
}

// ---------------------------------------------------------------- machine

function tryRun(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

function machine(): Record<string, unknown> {
  const os = (() => {
    try {
      return /PRETTY_NAME="?([^"\n]+)"?/.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
    } catch {
      return undefined;
    }
  })();
  const npmIce = (() => {
    try {
      return (JSON.parse(readFileSync(join(ROOT, "node_modules", "ice", "package.json"), "utf8")) as { version: string }).version;
    } catch {
      return undefined;
    }
  })();
  return {
    cpuModel: cpus()[0]?.model,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os,
    kernel: release(),
    node: process.version,
    npmIce,
    debianIce: tryRun("dpkg-query", ["-W", "-f=${Version}", "libzeroc-ice3.7"]),
    pythonIce: tryRun(PYTHON, ["-c", "import Ice; print(Ice.stringVersion())"]),
    gpp: tryRun("g++", ["-dumpfullversion"]),
  };
}

// ---------------------------------------------------------------- report

function metText(f: Figure): string {
  if (!f.target) return "";
  if (f.met === null || f.met === undefined) return "n/a";
  return f.met ? "yes" : "NO";
}

function ratioText(f: Figure): string {
  return f.ratio === null || f.ratio === undefined ? "-" : `${sig(f.ratio)}x`;
}

function valueText(f: Figure): string {
  return f.value === null || f.value === undefined ? "n/a" : `${sig(f.value)} ${f.unit}`;
}

function stdoutTable(outcomes: StepOutcome[]): string {
  const rows: string[][] = [];
  for (const o of outcomes) {
    if (o.figures.length === 0) {
      rows.push([o.id, `(${o.status}${o.error ? `: ${o.error.split("\n")[0]!.slice(0, 90)}` : ""})`, "", "", "", "", "", ""]);
      continue;
    }
    for (const f of o.figures.filter((x) => !x.detail)) {
      rows.push([o.id, f.name, valueText(f), sig(f.baseline.value), `${ratioText(f)} ${f.ratioLabel.replace(/ \(.*\)$/, "")}`, f.target?.text ?? "-", metText(f)]);
    }
  }
  return table(["bench", "figure", "value", "baseline", "ratio", "target", "met"], rows, 2);
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|");
}

function markdown(report: { startedAt: string; finishedAt: string; quick: boolean; machine: Record<string, unknown>; loadBefore: number[]; loadAfter: number[] }, outcomes: StepOutcome[]): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push("# IceFlix benchmark results", "");
  lines.push(
    `Written by \`npm run bench${report.quick ? " -- --quick" : ""}\` (bench/run.ts); the raw figures are in bench/results.json. ` +
      "Every figure is a ratio against a baseline measured in the same run; targets are what the product aims at, the benchmark reports and asserts nothing.",
    "",
  );
  lines.push("| | |", "|---|---|");
  lines.push(`| date | ${report.startedAt} → ${report.finishedAt} |`);
  lines.push(`| mode | ${report.quick ? "--quick (short runs: checks the suite, figures are noisy)" : "full"} |`);
  lines.push(`| machine | ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os ?? "?"}, Linux ${m.kernel} |`);
  lines.push(`| load average | before ${report.loadBefore.map((l) => l.toFixed(2)).join(" ")}, after ${report.loadAfter.map((l) => l.toFixed(2)).join(" ")} |`);
  lines.push(`| software | Node ${m.node}, npm ice ${m.npmIce}, Debian Ice ${m.debianIce} (C++ and python3-zeroc-ice ${m.pythonIce}), g++ ${m.gpp} |`);
  lines.push("");
  for (const o of outcomes) {
    lines.push(`## ${o.title}`, "");
    if (o.status !== "ok") lines.push(`**${o.status}**${o.error ? `: ${mdEscape(o.error.split("\n").slice(0, 4).join(" "))}` : ""}`, "");
    if (o.figures.length) {
      lines.push("| figure | value | baseline | ratio | target | met |", "|---|---:|---:|---:|---|:---:|");
      for (const f of o.figures) {
        lines.push(
          `| ${mdEscape(f.name)} | ${valueText(f)} | ${sig(f.baseline.value)} (${mdEscape(f.baseline.name)}) | ${ratioText(f)} ${mdEscape(f.ratioLabel)} | ${f.target ? mdEscape(f.target.text) : "none set"} | ${metText(f)} |`,
        );
      }
      lines.push("");
    }
    const notes = [...o.notes, ...o.figures.filter((f) => f.note && f.value === null).map((f) => `${f.name}: ${f.note}`)];
    for (const n of notes) lines.push(`- ${mdEscape(n)}`);
    if (notes.length) lines.push("");
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------- main

function parseIds(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const ids = new Set(value.split(",").map((s) => s.trim()).filter(Boolean));
  for (const id of ids) {
    if (!STEPS.some((s) => s.id === id)) {
      console.error(`bench: unknown benchmark ${id} (${STEPS.map((s) => s.id).join(", ")})`);
      process.exit(2);
    }
  }
  return ids;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let quick = false;
  let only: Set<string> | undefined;
  let skip = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    if (flag === "--quick") quick = true;
    else if (flag === "--only") only = parseIds(inline ?? argv[++i]);
    else if (flag === "--skip") skip = parseIds(inline ?? argv[++i]) ?? skip;
    else {
      console.error("usage: node dist/bench/run.js [--quick] [--only rpc,catalog-search,login,stream,footprint] [--skip IDS]");
      return 2;
    }
  }
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const loadBefore = loadavg();
  const info = machine();
  console.log(
    `bench: ${quick ? "--quick" : "full"} run on ${info.cpus} × ${info.cpuModel}, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}; ${new Date().toString()}`,
  );
  const work = mkdtempSync(join(tmpdir(), "iceflix-bench-run-"));
  const outcomes: StepOutcome[] = [];
  try {
    for (const step of STEPS) {
      const base = { id: step.id, title: step.title, seconds: 0, figures: [], notes: [] };
      if (interrupted) {
        outcomes.push({ ...base, status: "interrupted" });
        continue;
      }
      if ((only && !only.has(step.id)) || skip.has(step.id)) {
        outcomes.push({ ...base, status: "skipped" });
        continue;
      }
      if (!existsSync(join(DIST_BENCH, step.script))) {
        const why = `dist/bench/${step.script} does not exist: ${step.hook ?? step.script} is not written yet (the runner picks it up once it is)`;
        console.log(`\n=== ${step.title}: not available (${why})`);
        outcomes.push({ ...base, status: "not available", error: why });
        continue;
      }
      const skipWhy = quick ? step.skipQuick?.() : undefined;
      if (skipWhy) {
        console.log(`\n=== ${step.title}: ${skipWhy}`);
        outcomes.push({ ...base, status: "skipped", error: skipWhy });
        continue;
      }
      console.log(`\n=== ${step.title}\n`);
      const outFile = join(work, `${step.id}.json`);
      const s0 = Date.now();
      const exit = await runStep(step, quick, outFile);
      const seconds = (Date.now() - s0) / 1000;
      const leftovers = reapMarked();
      if (leftovers.length) console.error(`bench: killed ${leftovers.length} process(es) ${step.id} left behind: ${leftovers.join(", ")}`);
      const outcome: StepOutcome = { ...base, seconds, status: "ok", leftoversKilled: leftovers.length ? leftovers : undefined };
      if (interrupted) outcome.status = "interrupted";
      else if (exit.code !== 0 || !existsSync(outFile)) {
        outcome.status = "failed";
        outcome.error = exit.timedOut ? `timed out after ${step.timeoutSeconds(quick)} s` : `exit ${exit.code ?? exit.signal} (its output is above)`;
      }
      if (existsSync(outFile)) {
        try {
          const raw = JSON.parse(readFileSync(outFile, "utf8")) as unknown;
          outcome.result = raw;
          const adapted = step.adapt ? step.adapt(raw, quick) : { figures: (raw as BenchResult).figures ?? [], notes: (raw as BenchResult).notes ?? [] };
          outcome.figures = adapted.figures;
          outcome.notes = adapted.notes;
        } catch (e) {
          outcome.status = "failed";
          outcome.error = `unreadable result: ${(e as Error).message}`;
        }
      }
      outcomes.push(outcome);
    }
  } finally {
    reapMarked();
    rmSync(work, { recursive: true, force: true });
  }

  const report = { startedAt, finishedAt: new Date().toISOString(), quick, machine: info, loadBefore, loadAfter: loadavg() };
  console.log(`\n=== Summary (${quick ? "--quick" : "full"}, ${fmt((Date.now() - t0) / 1000)} s; load ${report.loadAfter.map((l) => l.toFixed(2)).join(" ")})\n`);
  console.log(stdoutTable(outcomes));
  console.log("\n(ratio: value / baseline as labelled; p99 and CPU-per-call figures are in bench/RESULTS.md; target '-' = none set in issue #7)");
  if (interrupted) {
    // An interrupted run must not replace the last complete report.
    console.log("\nbench: interrupted; bench/results.json and bench/RESULTS.md left as they were");
    return 130;
  }
  writeFileSync(join(BENCH_DIR, "results.json"), JSON.stringify({ ...report, seconds: (Date.now() - t0) / 1000, benchmarks: outcomes }, null, 2) + "\n");
  writeFileSync(join(BENCH_DIR, "RESULTS.md"), markdown(report, outcomes) + "\n");
  console.log("\nbench: wrote bench/results.json and bench/RESULTS.md");
  return outcomes.some((o) => o.status === "failed") ? 1 : 0;
}

process.exitCode = await main();
