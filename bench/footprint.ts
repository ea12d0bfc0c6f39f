/**
 * Benchmark 6, footprint: start-up time (spawn to the `ready` line) and idle RSS of each service,
 * `bin/iceflix main|auth|catalog|streaming`, against one real IceStorm broker. Baseline, in the
 * same run: a bare `node` process that prints a ready line (Node's own floor). Each service is
 * started, left idle, measured and stopped before the next (so they do not compete); the
 * sequence repeats --repeat times and medians are reported. A service that does not start is
 * reported as n/a with its error. Targets: <= 80 MB idle RSS, start < 1 s.
 *
 *   node dist/bench/footprint.js [--quick] [--repeat 3] [--idle 5] [--kinds main,auth,catalog,streaming] [--out FILE]
 *
 * Writes bench/results-footprint.json (or --out). Every process it starts is stopped at the end.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestBroker } from "../test/helpers/broker.js";
import {
  BENCH_DIR,
  commonArgs,
  environment,
  figure,
  figuresTable,
  fmt,
  ICEFLIX_BIN,
  median,
  numberOption,
  onCleanup,
  parseOptions,
  rssBytes,
  runScript,
  sleep,
  startReady,
  table,
  type BenchResult,
  type Figure,
} from "./lib/common.js";

type Kind = "main" | "auth" | "catalog" | "streaming";
const KINDS: Kind[] = ["main", "auth", "catalog", "streaming"];
const ADAPTER: Record<Kind, string> = { main: "MainAdapter", auth: "AuthenticatorAdapter", catalog: "CatalogAdapter", streaming: "StreamingAdapter" };
const USAGE = "node dist/bench/footprint.js [--quick] [--repeat N] [--idle SECONDS] [--kinds main,auth,catalog,streaming] [--out FILE]";
const MB = 1e6;

/** The floor: Node itself, printing a ready line like a service and then idling. */
const BARE_NODE = `process.stdout.write(JSON.stringify({ event: "ready", pid: process.pid }) + "\\n"); setInterval(() => {}, 1 << 30);`;

interface Measure {
  startMs: number | null;
  rssBytes: number | null;
  hwmBytes: number | null;
  error?: string;
}

function hwmBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function measure(name: string, command: string, args: string[], idleSeconds: number): Promise<Measure> {
  try {
    const p = await startReady(name, command, args, { timeoutMs: 30_000 });
    try {
      await sleep(idleSeconds * 1000);
      if (!p.child.running) return { startMs: p.startMs, rssBytes: null, hwmBytes: null, error: "exited while idle" };
      return { startMs: p.startMs, rssBytes: rssBytes(p.pid), hwmBytes: hwmBytes(p.pid) };
    } finally {
      await p.stop(5000);
    }
  } catch (e) {
    return { startMs: null, rssBytes: null, hwmBytes: null, error: (e as Error).message.split("\n").slice(0, 3).join(" | ") };
  }
}

async function main(): Promise<void> {
  const { quick, out: outArg, rest } = commonArgs(process.argv.slice(2));
  const o = parseOptions(rest, ["repeat", "idle", "kinds"], USAGE);
  const kinds = (o.get("kinds")?.split(",").filter(Boolean) ?? KINDS) as Kind[];
  for (const k of kinds) if (!KINDS.includes(k)) throw new Error(`unknown kind ${k}`);
  const opt = {
    repeat: Math.max(1, Math.round(numberOption(o, "repeat", quick ? 1 : 3))),
    idleSeconds: numberOption(o, "idle", quick ? 1.5 : 5),
    kinds,
  };
  const out = outArg ?? join(BENCH_DIR, "results-footprint.json");
  const startedAt = new Date().toISOString();
  console.log(`footprint: ${kinds.join(", ")} + bare node; ${opt.repeat} start(s) each, RSS after ${opt.idleSeconds} s idle`);

  const broker = await startTestBroker();
  onCleanup(() => broker.stop());
  const data = mkdtempSync(join(tmpdir(), "iceflix-bench-footprint-"));
  onCleanup(() => rmSync(data, { recursive: true, force: true }));
  const media = join(data, "media");
  mkdirSync(media);
  writeFileSync(join(media, "clip.bin"), Buffer.alloc(64 * 1024, 7)); // one small file to hash and announce

  const argsOf = (kind: Kind) => [
    ICEFLIX_BIN,
    kind,
    "--data",
    data,
    ...(kind === "streaming" ? ["--media", media] : []),
    `--${ADAPTER[kind]}.Endpoints=tcp -h 127.0.0.1 -p 0`,
    `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
  ];
  const runs = new Map<string, Measure[]>();
  const add = (k: string, m: Measure) => runs.set(k, [...(runs.get(k) ?? []), m]);
  for (let i = 0; i < opt.repeat; i++) {
    add("node", await measure("bare-node", process.execPath, ["-e", BARE_NODE], opt.idleSeconds));
    for (const kind of kinds) {
      const m = await measure(kind, process.execPath, argsOf(kind), opt.idleSeconds);
      add(kind, m);
      console.log(
        `  ${String(i + 1).padStart(2)}  ${kind.padEnd(9)}  ` +
          (m.error ? `n/a: ${m.error}` : `start ${fmt(m.startMs)} ms  idle RSS ${fmt((m.rssBytes ?? NaN) / MB, 1)} MB  peak ${fmt((m.hwmBytes ?? NaN) / MB, 1)} MB`),
      );
    }
  }

  const summary = ["node", ...kinds].map((k) => {
    const r = runs.get(k)!;
    const ok = r.filter((m) => !m.error);
    return {
      kind: k,
      starts: r.length,
      failed: r.length - ok.length,
      error: r.find((m) => m.error)?.error,
      startMs: median(ok.map((m) => m.startMs)),
      idleRssMB: median(ok.map((m) => (m.rssBytes === null ? null : m.rssBytes / MB))),
      peakRssMB: median(ok.map((m) => (m.hwmBytes === null ? null : m.hwmBytes / MB))),
    };
  });
  const bare = summary[0]!;
  console.log("");
  console.log(
    table(
      ["process", "start ms", "idle RSS MB", "peak RSS MB", "failed"],
      summary.map((s) => [s.kind === "node" ? "bare node (baseline)" : `iceflix ${s.kind}`, fmt(s.startMs), fmt(s.idleRssMB, 1), fmt(s.peakRssMB, 1), s.failed ? `${s.failed}/${s.starts}` : ""]),
    ),
  );

  const figures: Figure[] = [];
  for (const s of summary.slice(1)) {
    const na = s.failed === s.starts ? `n/a: did not start (${s.error})` : s.failed ? `${s.failed} of ${s.starts} starts failed: ${s.error}` : undefined;
    figures.push(
      figure({
        id: `footprint.${s.kind}.idleRss`,
        name: `iceflix ${s.kind} idle RSS`,
        value: s.idleRssMB,
        unit: "MB",
        baseline: { name: "bare node", value: bare.idleRssMB, unit: "MB" },
        ratioLabel: "service / bare node",
        target: { on: "value", op: "<=", value: 80, text: "<= 80 MB" },
        note: na,
      }),
      figure({
        id: `footprint.${s.kind}.startMs`,
        name: `iceflix ${s.kind} start-up (spawn to ready)`,
        value: s.startMs,
        unit: "ms",
        baseline: { name: "bare node", value: bare.startMs, unit: "ms" },
        ratioLabel: "service / bare node",
        target: { on: "value", op: "<", value: 1000, text: "< 1 s" },
        note: na,
      }),
    );
  }
  console.log("");
  console.log(figuresTable(figures, "bare node"));

  const result: BenchResult = {
    benchmark: "footprint",
    title: "6. Footprint (start-up time and idle RSS per service)",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: opt,
    environment: environment(),
    figures,
    notes: [
      "Start-up: from spawn of `node bin/iceflix <kind>` to its ready line, broker already running; one service at a time.",
      "Idle RSS: VmRSS after the idle period; peak is VmHWM. MB = 10^6 bytes.",
      "streaming serves a folder with one 64 KiB file.",
    ],
    details: { summary, runs: Object.fromEntries(runs) },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nfootprint: wrote ${out}`);
}

await runScript("footprint", main);
