/**
 * Streaming benchmark (spec §6, issue 15) against two real StreamProviders (`bin/iceflix
 * streaming`) on the same media, one passing H.264 through in-process
 * (IceFlix.Stream.Passthrough=inprocess), one through a gst-launch per stream (=gst), with real
 * IceStorm and a signed fake Authenticator (test/interop/py/streaming_peer.py), on 720p clips
 * generated with ffmpeg:
 *   1. start latency: from the getSDP call to its reply and to the first RTP packet on a node
 *      dgram socket, for in-process passthrough, gst passthrough (H.264 MP4) and transcode (VP8
 *      WebM, gst), --rounds times each, interleaved;
 *   2. load: CPU and RSS of each provider and of its gst-launch pipelines while N passthrough
 *      streams of the 720p clip play (N from --streams for in-process, --gst-streams for gst),
 *      measured over --seconds after a warm-up; the time to start them all (getSDP one after the
 *      other), RSS growth per stream over the provider's RSS before its first batch, what the
 *      receivers got and how long stopping them all took.
 *
 *   node dist/bench/streamStart.js [--quick] [--rounds 20] [--streams 1,50,200] [--gst-streams 1,50]
 *                                  [--seconds 10] [--out FILE]
 *
 * Prints tables and writes bench/results-stream-start.json (or --out) with `figures` in
 * bench/lib/common's format (the issue's targets). Figures are reported, never asserted. Every
 * process it starts is stopped at the end, also on error or Ctrl-C.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Ice, IceFlix } from "../src/slice/index.js";
import { ensureSecret } from "../src/runtime/secret.js";
import type { Figure } from "./lib/common.js";
import { startTestBroker, type TestBroker } from "../test/helpers/broker.js";
import { startIceflix, type ReadyProcess } from "../test/helpers/processes.js";
import { startPython } from "../test/helpers/python.js";
import { gstLaunchFor, UdpCounter } from "../test/helpers/streams.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/bench/ -> repo root
const DEFAULT_OUT = join(ROOT, "bench", "results-stream-start.json");
const TOKEN = "good"; // what the fake Authenticator accepts
const run = promisify(execFile);

interface Options {
  rounds: number;
  /** Concurrent in-process passthrough streams, one batch per number. */
  streams: number[];
  /** Concurrent gst passthrough streams (each a gst-launch process: 200 would swamp 2 cores). */
  gstStreams: number[];
  seconds: number;
  warmup: number;
  /** Seconds of the H.264 clip (outlasts starting a batch + warm-up + the window). */
  clipSeconds: number;
  quick: boolean;
  out: string;
}

function usage(message?: string): never {
  if (message) console.error(`streamStart: ${message}`);
  console.error("usage: node dist/bench/streamStart.js [--quick] [--rounds N] [--streams 1,50,200] [--gst-streams 1,50] [--seconds S] [--warmup S] [--out FILE]");
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 20, streams: [1, 50, 200], gstStreams: [1, 50], seconds: 10, warmup: 2, clipSeconds: 40, quick: false, out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i++) {
    const value = () => argv[++i] ?? usage(`${argv[i - 1]} needs a value`);
    const positive = (s: string) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) usage(`not a positive integer: ${s}`);
      return n;
    };
    switch (argv[i]) {
      case "--rounds": o.rounds = positive(value()); break;
      case "--streams": o.streams = value().split(",").map(positive); break;
      case "--gst-streams": o.gstStreams = value().split(",").map(positive); break;
      case "--quick": Object.assign(o, { quick: true, rounds: 5, streams: [1, 20], gstStreams: [1, 5], seconds: 3, warmup: 1, clipSeconds: 15 }); break;
      case "--seconds": o.seconds = positive(value()); break;
      case "--warmup": o.warmup = positive(value()); break;
      case "--out": o.out = value(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  return o;
}

// ---------------------------------------------------------------- /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime in seconds and the parent pid, or undefined when the process is gone. */
function procStat(pid: number): { cpu: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "(comm)": state is field 3, ppid 4, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
}

function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The service's direct children (its pipelines: setpriv execs gst-launch in place). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => procStat(p)?.ppid === pid);
}

/** CPU seconds per pid, for the service and its children. */
function cpuSnapshot(service: number): Map<number, number> {
  const snap = new Map<number, number>();
  for (const pid of [service, ...childrenOf(service)]) {
    const s = procStat(pid);
    if (s) snap.set(pid, s.cpu);
  }
  return snap;
}

// ---------------------------------------------------------------- set-up

const work = mkdtempSync(join(tmpdir(), "iceflix-bench-stream-"));
const processes: Array<ReadyProcess<unknown>> = [];
const sockets: UdpCounter[] = [];
let broker: TestBroker | undefined;
let communicator: Ice.Communicator | undefined;

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(sockets.map((s) => s.close()));
    await communicator?.destroy().catch(() => undefined);
    await Promise.allSettled(processes.map((p) => p.stop(3000)));
    await broker?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}

async function makeMedia(dir: string, h264Seconds: number): Promise<{ h264: string; vp8: string }> {
  const ff = (args: string[]) => run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 300_000 });
  const h264 = join(dir, "clip-720p-h264.mp4");
  const vp8 = join(dir, "clip-720p-vp8.webm");
  await Promise.all([
    ff(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", String(h264Seconds), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-g", "60", "-pix_fmt", "yuv420p", h264]),
    ff(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M", vp8]),
  ]);
  const past = Date.now() / 1000 - 60; // settled: served at once
  for (const f of [h264, vp8]) utimesSync(f, past, past);
  const id = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
  return { h264: id(h264), vp8: id(vp8) };
}

// ---------------------------------------------------------------- measurements

type StartKind = "inprocess passthrough" | "gst passthrough" | "transcode";

interface StartSample {
  kind: StartKind;
  replyMs: number;
  firstPacketMs: number | null;
}

async function startLatency(provider: IceFlix.StreamProviderPrx, kind: StartKind, id: string): Promise<StartSample> {
  const rtp = await UdpCounter.open();
  sockets.push(rtp);
  const controller = (await provider.getStream(id, TOKEN))!;
  const t0 = performance.now(); // the clock of UdpCounter.firstAtPerf
  await controller.getSDP(TOKEN, rtp.port);
  const replyMs = performance.now() - t0;
  const first = await rtp.firstPacket(10_000);
  await controller.stop();
  await rtp.close();
  return { kind, replyMs, firstPacketMs: first === undefined ? null : rtp.firstAtPerf! - t0 };
}

type Passthrough = "inprocess" | "gst";

interface LoadSample {
  via: Passthrough;
  streams: number;
  startAllMs: number;
  /** Of startAllMs: the getStream calls, and the getSDP calls (the rest opens the receivers). */
  getStreamMs: number;
  getSdpMs: number;
  seconds: number;
  serviceCpuPercent: number;
  pipelinesCpuPercent: number;
  pipelineCpuPercentPerStream: number;
  serviceRssMiB: number;
  pipelinesRssMiB: number;
  pipelineRssMiBPerStream: number;
  /** CPU of the provider and its pipelines together, % of one core. */
  totalCpuPercent: number;
  /** (provider + pipelines RSS now − the provider's RSS before its first batch) / streams, MB (10^6). */
  rssGrowthMBPerStream: number;
  receivedMbitPerSecond: number;
  streamsDelivering: number;
  stopAllMs: number;
  gstLeftAfterStop: number;
}

async function load(provider: IceFlix.StreamProviderPrx, servicePid: number, via: Passthrough, baseRss: number, id: string, n: number, o: Options, mediaDir: string): Promise<LoadSample> {
  const streams: Array<{ rtp: UdpCounter; controller: IceFlix.StreamControllerPrx }> = [];
  let getStreamMs = 0;
  let getSdpMs = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const rtp = await UdpCounter.open();
    sockets.push(rtp);
    const a = performance.now();
    const controller = (await provider.getStream(id, TOKEN))!;
    const b = performance.now();
    await controller.getSDP(TOKEN, rtp.port);
    getStreamMs += b - a;
    getSdpMs += performance.now() - b;
    streams.push({ rtp, controller });
  }
  const startAllMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, o.warmup * 1000));

  const cpu0 = cpuSnapshot(servicePid);
  const bytes0 = streams.map((s) => s.rtp.bytes);
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const cpu1 = cpuSnapshot(servicePid);
  const seconds = (performance.now() - w0) / 1000;
  const pipelines = childrenOf(servicePid);

  const delta = (pid: number) => (cpu1.get(pid) ?? 0) - (cpu0.get(pid) ?? cpu1.get(pid) ?? 0);
  const pipelinesCpu = pipelines.reduce((sum, pid) => sum + delta(pid), 0);
  const pipelinesRss = pipelines.reduce((sum, pid) => sum + rssBytes(pid), 0);
  const received = streams.reduce((sum, s, i) => sum + s.rtp.bytes - bytes0[i]!, 0);
  const delivering = streams.filter((s) => s.rtp.activeWithin(1000)).length;
  const serviceRss = rssBytes(servicePid);

  const s0 = performance.now();
  await Promise.all(streams.map((s) => s.controller.stop()));
  const stopAllMs = performance.now() - s0;
  await Promise.all(streams.map((s) => s.rtp.close()));
  return {
    via,
    streams: n,
    startAllMs,
    getStreamMs,
    getSdpMs,
    seconds,
    serviceCpuPercent: (100 * delta(servicePid)) / seconds,
    pipelinesCpuPercent: (100 * pipelinesCpu) / seconds,
    pipelineCpuPercentPerStream: (100 * pipelinesCpu) / seconds / n,
    serviceRssMiB: serviceRss / 2 ** 20,
    pipelinesRssMiB: pipelinesRss / 2 ** 20,
    pipelineRssMiBPerStream: pipelinesRss / 2 ** 20 / Math.max(1, pipelines.length),
    totalCpuPercent: (100 * (delta(servicePid) + pipelinesCpu)) / seconds,
    rssGrowthMBPerStream: (serviceRss + pipelinesRss - baseRss) / 1e6 / n,
    receivedMbitPerSecond: (received * 8) / seconds / 1e6,
    streamsDelivering: delivering,
    stopAllMs,
    gstLeftAfterStop: gstLaunchFor({ dir: mediaDir }).length,
  };
}

// ---------------------------------------------------------------- report

function quantile(values: number[], q: number): number | null {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.floor(q * v.length))]!;
}

function fmt(n: number | null, digits = 0): string {
  return n === null || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

interface StartRow {
  kind: StartKind;
  samples: number;
  firstPacketP50: number | null;
  firstPacketP90: number | null;
  replyP50: number | null;
  replyP90: number | null;
  missed: number;
}

/** The issue's figures (targets from issue 15), each against a baseline from the same run. */
function figures(starts: StartRow[], loads: LoadSample[]): { figures: Figure[]; notes: string[] } {
  const out: Figure[] = [];
  const row = (k: StartKind) => starts.find((r) => r.kind === k);
  const ratio = (v: number | null | undefined, b: number | null | undefined) => (v != null && b ? v / b : null);
  const inproc = row("inprocess passthrough");
  const gst = row("gst passthrough");
  const trans = row("transcode");
  const startTargets = { firstPacketP50: 5, firstPacketP90: 15 } as const;
  for (const key of ["firstPacketP50", "firstPacketP90"] as const) {
    const label = key === "firstPacketP50" ? "p50" : "p90";
    const v = inproc?.[key] ?? null;
    out.push({
      id: `stream.start.inprocess.${key}`,
      name: `stream start, getSDP call to first RTP packet ${label}, in-process passthrough (720p H.264)`,
      value: v, unit: "ms",
      baseline: { name: "transcode (VP8 -> H.264), same run", value: trans?.[key] ?? null, unit: "ms" },
      ratio: ratio(v, trans?.[key]), ratioLabel: "in-process / transcode",
      target: { on: "value", op: "<=", value: startTargets[key], text: `<= ${startTargets[key]} ms (issue 15)` },
    });
    out.push({
      id: `stream.start.inprocessVsTranscode.${key}`,
      name: `stream start ${label}: in-process passthrough vs transcode`,
      value: v, unit: "ms",
      baseline: { name: "transcode (VP8 -> H.264), same run", value: trans?.[key] ?? null, unit: "ms" },
      ratio: ratio(v, trans?.[key]), ratioLabel: "in-process / transcode",
      target: { on: "ratio", op: "<=", value: 0.1, text: ">= 10x faster than transcode (issue 15)" },
      detail: true,
    });
    out.push({
      id: `stream.start.gst.${key}`,
      name: `stream start, getSDP call to first RTP packet ${label}, gst passthrough (720p H.264)`,
      value: gst?.[key] ?? null, unit: "ms",
      baseline: { name: "transcode (VP8 -> H.264), same run", value: trans?.[key] ?? null, unit: "ms" },
      ratio: ratio(gst?.[key], trans?.[key]), ratioLabel: "gst passthrough / transcode",
    });
  }
  const at = (via: Passthrough, n: number) => loads.find((l) => l.via === via && l.streams === n);
  const largest = (via: Passthrough) => loads.filter((l) => l.via === via).sort((a, b) => b.streams - a.streams)[0];
  const startN = at("inprocess", 50) ?? largest("inprocess");
  if (startN) {
    const base = at("gst", startN.streams) ?? largest("gst");
    out.push({
      id: `stream.startAll.inprocess.${startN.streams}`,
      name: `${startN.streams} in-process streams: time to start them all (getSDP one after the other)`,
      value: startN.startAllMs, unit: "ms",
      baseline: { name: `${base?.streams ?? "?"} gst passthrough streams, same run`, value: base?.startAllMs ?? null, unit: "ms" },
      ratio: ratio(startN.startAllMs, base?.startAllMs), ratioLabel: "in-process / gst",
      ...(startN.streams === 50 ? { target: { on: "value" as const, op: "<" as const, value: 250, text: "< 250 ms for 50 (issue 15)" } } : {}),
    });
  }
  const big = at("inprocess", 200) ?? largest("inprocess");
  const gstBig = largest("gst");
  if (big) {
    out.push({
      id: `stream.concurrent.inprocess.${big.streams}.cpu`,
      name: `${big.streams} concurrent in-process passthrough streams: provider CPU (${big.streamsDelivering}/${big.streams} delivering)`,
      value: big.totalCpuPercent, unit: "% core",
      baseline: { name: `${gstBig?.streams ?? "?"} gst streams x ${big.streams}/${gstBig?.streams ?? "?"} (scaled), same run`, value: gstBig ? (gstBig.totalCpuPercent * big.streams) / gstBig.streams : null, unit: "% core" },
      ratio: null, ratioLabel: "in-process / gst (scaled)",
      ...(big.streams === 200 ? { target: { on: "value" as const, op: "<" as const, value: 100, text: "200 streams under one core (issue 15)" } } : {}),
    });
    out.push({
      id: `stream.concurrent.inprocess.${big.streams}.rssPerStream`,
      name: `${big.streams} concurrent in-process streams: provider RSS growth per stream`,
      value: big.rssGrowthMBPerStream, unit: "MB",
      baseline: { name: `${gstBig?.streams ?? "?"} gst streams (provider + gst-launch), same run`, value: gstBig?.rssGrowthMBPerStream ?? null, unit: "MB" },
      ratio: ratio(big.rssGrowthMBPerStream, gstBig?.rssGrowthMBPerStream), ratioLabel: "in-process / gst",
      target: { on: "value", op: "<=", value: 0.5, text: "<= 0.5 MB per stream (issue 15)" },
    });
  }
  const notes = [
    "Start: getSDP call to the first RTP packet on a node dgram socket; one stream at a time, the three kinds interleaved; both providers warmed once (ffprobe and the sample table are cached per media id).",
    "Load: CPU of the provider process and its gst-launch children over the window; RSS growth per stream = (provider + pipelines RSS at the end of the window − the provider's RSS before its first batch) / streams; MB = 10^6 bytes.",
    ...loads.map(
      (l) =>
        `${l.via} ${l.streams} stream(s): CPU ${fmt(l.totalCpuPercent, 1)}% of a core (provider ${fmt(l.serviceCpuPercent, 1)}%, pipelines ${fmt(l.pipelinesCpuPercent, 1)}%), ` +
        `RSS +${fmt(l.rssGrowthMBPerStream, 2)} MB/stream, ${fmt(l.receivedMbitPerSecond, 1)} Mbit/s received, ${l.streamsDelivering}/${l.streams} delivering, ` +
        `start all ${fmt(l.startAllMs)} ms (getStream ${fmt(l.getStreamMs)}, getSDP ${fmt(l.getSdpMs)}), stop all ${fmt(l.stopAllMs)} ms, gst left ${l.gstLeftAfterStop}.`,
    ),
  ];
  return { figures: out.map((f) => ({ ...f, ratio: f.ratio })), notes };
}

/** Waits until `prx` serves both clips and has learned the fake Authenticator. */
async function untilServing(prx: IceFlix.StreamProviderPrx, ids: { h264: string; vp8: string }): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await prx.isAvailable(ids.h264)) && (await prx.isAvailable(ids.vp8))) {
        await (await prx.getStream(ids.h264, TOKEN))!.stop();
        return;
      }
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the provider is not ready: ${String(e)}`);
    }
    if (Date.now() > deadline) throw new Error("the provider does not serve the clips");
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const loadBefore = loadavg();
  console.log(`streamStart: ${cpus().length} CPUs, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}; generating 720p clips…`);
  const mediaDir = join(work, "media");
  execFileSync("mkdir", ["-p", mediaDir, join(work, "data-inprocess"), join(work, "data-gst")]);
  const secret = join(work, "data-inprocess", "secret");
  ensureSecret(secret);
  copyFileSync(secret, join(work, "data-gst", "secret"));
  const ids = await makeMedia(mediaDir, o.clipSeconds);

  broker = await startTestBroker();
  const maxStreams = Math.max(64, ...o.streams, ...o.gstStreams);
  const startProvider = async (via: Passthrough) => {
    const p = await startIceflix(
      [
        "streaming", "--data", join(work, `data-${via}`), "--media", mediaDir,
        "--StreamingAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker!.proxy}`,
        `--IceFlix.Stream.MaxConcurrent=${maxStreams}`,
        `--IceFlix.Stream.Passthrough=${via}`,
      ],
      { logFile: join(work, `streaming-${via}.log`) },
    );
    processes.push(p);
    return p;
  };
  const providers = { inprocess: await startProvider("inprocess"), gst: await startProvider("gst") };
  // Announces every second, so the providers learn it whenever they subscribed.
  processes.push(await startPython("streaming_peer.py", ["--topic-manager", broker.proxy, "--secret-file", secret, "--kind", "auth", "--period", "1"]));

  communicator = Ice.initialize(["--Ice.Default.InvocationTimeout=20000"]);
  const prx = {
    inprocess: IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(providers.inprocess.ready.proxy)),
    gst: IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(providers.gst.ready.proxy)),
  };
  await Promise.all([untilServing(prx.inprocess, ids), untilServing(prx.gst, ids)]);
  // One warm start of each kind: the probe (and the in-process sample table) are cached per media id.
  await startLatency(prx.inprocess, "inprocess passthrough", ids.h264);
  await startLatency(prx.gst, "gst passthrough", ids.h264);
  await startLatency(prx.gst, "transcode", ids.vp8);

  const starts: StartSample[] = [];
  for (let i = 0; i < o.rounds; i++) {
    starts.push(await startLatency(prx.inprocess, "inprocess passthrough", ids.h264));
    starts.push(await startLatency(prx.gst, "gst passthrough", ids.h264));
    starts.push(await startLatency(prx.gst, "transcode", ids.vp8));
  }
  const startRows: StartRow[] = (["inprocess passthrough", "gst passthrough", "transcode"] as const).map((kind) => {
    const s = starts.filter((x) => x.kind === kind);
    const first = s.map((x) => x.firstPacketMs).filter((x): x is number => x !== null);
    const reply = s.map((x) => x.replyMs);
    return { kind, samples: s.length, firstPacketP50: quantile(first, 0.5), firstPacketP90: quantile(first, 0.9), replyP50: quantile(reply, 0.5), replyP90: quantile(reply, 0.9), missed: s.length - first.length };
  });
  console.log(`\nStart latency, from the getSDP call (ms; ${o.rounds} rounds, 720p):`);
  console.log(
    table(
      ["pipeline", "first packet p50", "p90", "getSDP reply p50", "p90", "no packet"],
      startRows.map((r) => [r.kind, fmt(r.firstPacketP50, 1), fmt(r.firstPacketP90, 1), fmt(r.replyP50, 1), fmt(r.replyP90, 1), String(r.missed)]),
    ),
  );

  const loads: LoadSample[] = [];
  for (const via of ["inprocess", "gst"] as const) {
    const pid = providers[via].ready.pid;
    const baseRss = rssBytes(pid);
    for (const n of via === "inprocess" ? o.streams : o.gstStreams) {
      console.log(`\n… ${n} concurrent ${via} passthrough stream(s)`);
      loads.push(await load(prx[via], pid, via, baseRss, ids.h264, n, o, mediaDir));
    }
  }
  console.log(`\nLoad: 720p H.264 passthrough, measured over ${o.seconds} s after ${o.warmup} s (CPU % of one core):`);
  console.log(
    table(
      ["via", "streams", "CPU% total", "provider", "pipelines", "RSS MB/stream", "provider RSS MiB", "pipelines RSS MiB", "Mbit/s recv", "delivering", "start all ms", "stop all ms", "gst left"],
      loads.map((l) => [
        l.via, String(l.streams), fmt(l.totalCpuPercent, 1), fmt(l.serviceCpuPercent, 1), fmt(l.pipelinesCpuPercent, 1), fmt(l.rssGrowthMBPerStream, 2),
        fmt(l.serviceRssMiB, 1), fmt(l.pipelinesRssMiB, 1), fmt(l.receivedMbitPerSecond, 1),
        `${l.streamsDelivering}/${l.streams}`, fmt(l.startAllMs, 0), fmt(l.stopAllMs, 0), String(l.gstLeftAfterStop),
      ]),
    ),
  );

  const { figures: figs, notes } = figures(startRows, loads);
  const report = {
    benchmark: "stream-start",
    description: "getSDP -> first RTP packet (in-process passthrough vs gst passthrough vs transcode), and CPU/RSS of the StreamProviders (+ gst-launch pipelines) for N concurrent 720p passthrough streams",
    startedAt: started.toISOString(),
    options: o,
    environment: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAverageBefore: loadBefore, loadAverageAfter: loadavg(), clockTicksPerSecond: CLK_TCK },
    figures: figs,
    notes,
    startLatency: startRows,
    load: loads,
    startSamples: starts,
  };
  writeFileSync(o.out, JSON.stringify(report, null, 2) + "\n");
  console.log("");
  for (const f of figs) {
    const met = f.target ? (f.target.on === "ratio" ? f.ratio : f.value) : null;
    console.log(`${f.name}: ${fmt(f.value, 2)} ${f.unit} (baseline ${fmt(f.baseline.value, 2)} ${f.baseline.unit ?? ""})${f.target ? ` target ${f.target.text}: ${met === null ? "-" : meetsText(f)}` : ""}`);
  }
  console.log(`\nwrote ${o.out}`);
}

function meetsText(f: Figure): string {
  const x = f.target!.on === "ratio" ? f.ratio : f.value;
  if (x === null) return "-";
  const ok = f.target!.op === "<=" ? x <= f.target!.value : f.target!.op === "<" ? x < f.target!.value : f.target!.op === ">=" ? x >= f.target!.value : x > f.target!.value;
  return ok ? "met" : "NOT met";
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    console.error(`\nstreamStart: ${sig}, stopping`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (e) {
  if (!cleaning) console.error(`streamStart: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
