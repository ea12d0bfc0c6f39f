/**
 * Streaming benchmark (spec §6) against a real StreamProvider (`bin/iceflix streaming`), real
 * IceStorm and a signed fake Authenticator (test/interop/py/streaming_peer.py), on a 720p clip
 * generated with ffmpeg:
 *   1. start latency: from the getSDP call to its reply and to the first RTP packet on a node
 *      dgram socket, for passthrough (H.264 MP4) and transcode (VP8 WebM), --rounds times each;
 *   2. load: CPU and RSS of the streaming service and of its gst-launch pipelines while N
 *      passthrough streams of the 720p clip play (N from --streams), measured over --seconds
 *      after a warm-up, plus what was delivered and how long stopping them all took.
 *
 *   node dist/bench/streamStart.js [--rounds 10] [--streams 1,10,50] [--seconds 10] [--out FILE]
 *
 * Prints tables and writes bench/results-stream-start.json (or --out). Figures are reported,
 * never asserted. Every process it starts is stopped at the end, also on error or Ctrl-C.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Ice, IceFlix } from "../src/slice/index.js";
import { ensureSecret } from "../src/runtime/secret.js";
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
  streams: number[];
  seconds: number;
  warmup: number;
  out: string;
}

function usage(message?: string): never {
  if (message) console.error(`streamStart: ${message}`);
  console.error("usage: node dist/bench/streamStart.js [--rounds N] [--streams 1,10,50] [--seconds S] [--warmup S] [--out FILE]");
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 10, streams: [1, 10, 50], seconds: 10, warmup: 2, out: DEFAULT_OUT };
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

async function makeMedia(dir: string): Promise<{ h264: string; vp8: string }> {
  const ff = (args: string[]) => run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 300_000 });
  const h264 = join(dir, "clip-720p-h264.mp4");
  const vp8 = join(dir, "clip-720p-vp8.webm");
  await Promise.all([
    ff(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "40", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-g", "60", "-pix_fmt", "yuv420p", h264]),
    ff(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M", vp8]),
  ]);
  const past = Date.now() / 1000 - 60; // settled: served at once
  for (const f of [h264, vp8]) utimesSync(f, past, past);
  const id = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
  return { h264: id(h264), vp8: id(vp8) };
}

// ---------------------------------------------------------------- measurements

interface StartSample {
  kind: "passthrough" | "transcode";
  replyMs: number;
  firstPacketMs: number | null;
}

async function startLatency(provider: IceFlix.StreamProviderPrx, kind: StartSample["kind"], id: string): Promise<StartSample> {
  const rtp = await UdpCounter.open();
  sockets.push(rtp);
  const controller = (await provider.getStream(id, TOKEN))!;
  const t0 = Date.now(); // the clock UdpCounter stamps packets with
  await controller.getSDP(TOKEN, rtp.port);
  const replyMs = Date.now() - t0;
  const first = await rtp.firstPacket(10_000);
  await controller.stop();
  await rtp.close();
  return { kind, replyMs, firstPacketMs: first === undefined ? null : first - t0 };
}

interface LoadSample {
  streams: number;
  startAllMs: number;
  seconds: number;
  serviceCpuPercent: number;
  pipelinesCpuPercent: number;
  pipelineCpuPercentPerStream: number;
  serviceRssMiB: number;
  pipelinesRssMiB: number;
  pipelineRssMiBPerStream: number;
  receivedMbitPerSecond: number;
  streamsDelivering: number;
  stopAllMs: number;
  gstLeftAfterStop: number;
}

async function load(provider: IceFlix.StreamProviderPrx, servicePid: number, id: string, n: number, o: Options, mediaDir: string): Promise<LoadSample> {
  const streams: Array<{ rtp: UdpCounter; controller: IceFlix.StreamControllerPrx }> = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const rtp = await UdpCounter.open();
    sockets.push(rtp);
    const controller = (await provider.getStream(id, TOKEN))!;
    await controller.getSDP(TOKEN, rtp.port);
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

  const s0 = performance.now();
  await Promise.all(streams.map((s) => s.controller.stop()));
  const stopAllMs = performance.now() - s0;
  await Promise.all(streams.map((s) => s.rtp.close()));
  return {
    streams: n,
    startAllMs,
    seconds,
    serviceCpuPercent: (100 * delta(servicePid)) / seconds,
    pipelinesCpuPercent: (100 * pipelinesCpu) / seconds,
    pipelineCpuPercentPerStream: (100 * pipelinesCpu) / seconds / n,
    serviceRssMiB: rssBytes(servicePid) / 2 ** 20,
    pipelinesRssMiB: pipelinesRss / 2 ** 20,
    pipelineRssMiBPerStream: pipelinesRss / 2 ** 20 / Math.max(1, pipelines.length),
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

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = new Date();
  const loadBefore = loadavg();
  console.log(`streamStart: ${cpus().length} CPUs, load ${loadBefore.map((l) => l.toFixed(2)).join(" ")}; generating 720p clips…`);
  const dataDir = join(work, "data");
  const mediaDir = join(work, "media");
  execFileSync("mkdir", ["-p", dataDir, mediaDir]);
  const secret = join(dataDir, "secret");
  ensureSecret(secret);
  const ids = await makeMedia(mediaDir);

  broker = await startTestBroker();
  const maxStreams = Math.max(64, ...o.streams);
  const provider = await startIceflix(
    [
      "streaming", "--data", dataDir, "--media", mediaDir,
      "--StreamingAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
      `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
      `--IceFlix.Stream.MaxConcurrent=${maxStreams}`,
    ],
    { logFile: join(work, "streaming.log") },
  );
  processes.push(provider);
  // Announces every second, so the provider learns it whenever it subscribed.
  processes.push(await startPython("streaming_peer.py", ["--topic-manager", broker.proxy, "--secret-file", secret, "--kind", "auth", "--period", "1"]));

  communicator = Ice.initialize(["--Ice.Default.InvocationTimeout=20000"]);
  const prx = IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(provider.ready.proxy));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await prx.isAvailable(ids.h264)) && (await prx.isAvailable(ids.vp8))) {
        await (await prx.getStream(ids.h264, TOKEN))!.stop();
        break;
      }
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the provider is not ready: ${String(e)}`);
    }
    if (Date.now() > deadline) throw new Error("the provider does not serve the clips");
    await new Promise((r) => setTimeout(r, 200));
  }

  const starts: StartSample[] = [];
  for (let i = 0; i < o.rounds; i++) {
    starts.push(await startLatency(prx, "passthrough", ids.h264));
    starts.push(await startLatency(prx, "transcode", ids.vp8));
  }
  const startRows = (["passthrough", "transcode"] as const).map((kind) => {
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
  for (const n of o.streams) {
    console.log(`\n… ${n} concurrent passthrough stream(s)`);
    loads.push(await load(prx, provider.ready.pid, ids.h264, n, o, mediaDir));
  }
  console.log(`\nLoad: 720p H.264 passthrough, measured over ${o.seconds} s after ${o.warmup} s (CPU % of one core):`);
  console.log(
    table(
      ["streams", "service CPU%", "pipelines CPU%", "per stream", "service RSS MiB", "pipelines RSS MiB", "per pipeline", "Mbit/s recv", "delivering", "start all ms", "stop all ms", "gst left"],
      loads.map((l) => [
        String(l.streams), fmt(l.serviceCpuPercent, 1), fmt(l.pipelinesCpuPercent, 1), fmt(l.pipelineCpuPercentPerStream, 2),
        fmt(l.serviceRssMiB, 1), fmt(l.pipelinesRssMiB, 1), fmt(l.pipelineRssMiBPerStream, 1), fmt(l.receivedMbitPerSecond, 1),
        `${l.streamsDelivering}/${l.streams}`, fmt(l.startAllMs, 0), fmt(l.stopAllMs, 0), String(l.gstLeftAfterStop),
      ]),
    ),
  );

  const report = {
    benchmark: "stream-start",
    description: "getSDP -> first RTP packet (passthrough vs transcode), and CPU/RSS of the StreamProvider + gst-launch pipelines for N concurrent 720p passthrough streams",
    startedAt: started.toISOString(),
    options: o,
    environment: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, loadAverageBefore: loadBefore, loadAverageAfter: loadavg(), clockTicksPerSecond: CLK_TCK },
    startLatency: startRows,
    load: loads,
    startSamples: starts,
  };
  writeFileSync(o.out, JSON.stringify(report, null, 2) + "\n");
  console.log(`\nwrote ${o.out}`);
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
