/**
 * The in-process passthrough's RTP (issue 15) against the real receivers and the real gst path:
 * each demo clip (shortened) and a 1080p High-profile clip with B-frames are streamed by an
 * InProcessStream and by the gst-launch passthrough pipeline, each recorded, then played at a
 * gentle pace into `ffmpeg -f framemd5` on an SDP; the decoded frame hashes must be the same. The recorded packets show
 * the packetization: every packet within the MTU budget, all frames sent, one timestamp per frame
 * (the marker bit ends it), presentation times 90 kHz apart by the frame duration (B-frames: sent
 * out of presentation order), SPS and PPS before every IDR. Also: 20 concurrent streams on one
 * scheduler all deliver with a bounded read-ahead, stop() ends packets at once, a port that
 * refuses (ICMP) stalls nobody, and files cut short or damaged end their stream, not the process.
 * ffmpeg ends by itself (-listen_timeout) once packets stop; every other wait has a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import dgram from "node:dgram";
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { CLIPS } from "../../src/cli/demoMedia.js";
import { createLogger } from "../../src/runtime/logger.js";
import { GstPipeline } from "../../src/services/streaming/gstPipeline.js";
import { InProcessStream } from "../../src/services/streaming/inprocessStream.js";
import { Mp4DemuxError, readH264SampleTable, type H264SampleTable } from "../../src/services/streaming/mp4SampleTable.js";
import { PacingScheduler } from "../../src/services/streaming/pacingScheduler.js";
import { gstLaunchArgs, RTP_PAYLOAD_TYPE } from "../../src/services/streaming/pipelinePlan.js";
import { RTP_MAX_PACKET } from "../../src/services/streaming/rtpH264Packetizer.js";
import { MAX_READ_AHEAD_MS } from "../../src/services/streaming/sampleReadAhead.js";
import { freeRtpPort, UdpCounter } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { TestResources } from "../helpers/testResources.js";
import { sleep, waitFor } from "../helpers/waitFor.js";

const run = promisify(execFile);
const log = createLogger("test", "silent");
const resources = new TestResources();
let dir: string;
const scheduler = new PacingScheduler((e) => assert.fail(`a paced task threw: ${String(e)}`));
const handles: FileHandle[] = [];
/** Clip name → path; all are 25 fps. */
const clips: Record<string, string> = {};
const FRAME_TICKS_90K = 3600; // 25 fps
/** The 1080p High-profile clip with B-frames. */
const HIGH = "high-1080p-bframes.mp4";
/** A clip with no B-frames (baseline): sent in presentation order. */
const BASELINE = "Colour Bars.mp4";

async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 120_000 });
}

async function openClip(path: string): Promise<{ file: FileHandle; table: H264SampleTable }> {
  const file = await open(path);
  handles.push(file);
  return { file, table: await readH264SampleTable(file, statSync(path).size) };
}

interface RtpInfo {
  size: number;
  marker: boolean;
  timestamp: number;
  /** The NAL unit type carried (FU-A: the fragmented unit's). */
  nalType: number;
}

function rtpInfo(msg: Buffer): RtpInfo {
  const b0 = msg[12]! & 0x1f;
  return { size: msg.length, marker: (msg[1]! & 0x80) !== 0, timestamp: msg.readUInt32BE(4), nalType: b0 === 28 ? msg[13]! & 0x1f : b0 };
}

/** Records every datagram it gets. */
async function recorder(): Promise<{ port: number; datagrams: Buffer[]; close: () => Promise<void> }> {
  const socket = dgram.createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024 }); // a key frame's burst fits
  const datagrams: Buffer[] = [];
  socket.on("message", (msg) => datagrams.push(msg));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { port: socket.address().port, datagrams, close: () => new Promise((r) => socket.close(() => r())) };
}

/**
 * Sends recorded datagrams to `port`, one per millisecond or so: ffmpeg reads RTP in its decoding
 * thread, so a 1080p key frame's burst at full speed can overflow its socket buffer on a busy
 * machine, and a lost packet would show as a different frame rather than as what was sent.
 */
async function replay(datagrams: Buffer[], port: number): Promise<void> {
  const socket = dgram.createSocket("udp4");
  try {
    for (const d of datagrams) {
      // One datagram a millisecond: at 4 a millisecond ffmpeg already misses some of a 1080p key frame.
      await new Promise<void>((resolve, reject) => socket.send(d, port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
      await sleep(1); // pacing, not synchronisation
    }
  } finally {
    socket.close();
  }
}

/** Whether something listens on UDP `port` (Linux /proc/net/udp). */
function udpBound(port: number): boolean {
  const local = new RegExp(`^\\s*\\d+:\\s+[0-9A-F]+:${port.toString(16).toUpperCase().padStart(4, "0")}\\s`);
  return readFileSync("/proc/net/udp", "utf8").split("\n").some((line) => local.test(line));
}

/** What `send` sends, recorded. */
async function record(send: (port: number) => Promise<void>): Promise<Buffer[]> {
  const rec = await recorder();
  try {
    await send(rec.port);
  } finally {
    await rec.close();
  }
  return rec.datagrams;
}

/**
 * Plays recorded datagrams into ffmpeg on an SDP and returns the decoded frames' MD5s. ffmpeg
 * exits about 4 × its listen_timeout after the last packet (measured: 1 s → 4 s, 0.5 s → 2 s);
 * the replay never pauses that long. ffmpeg says when it missed packets (its socket buffer
 * overflowed on a busy machine); only a lossless play counts, so such a play is repeated (3 tries).
 */
async function decodedFrameHashes(name: string, datagrams: Buffer[]): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeRtpPort();
    const sdpFile = join(dir, `${name}.sdp`);
    writeFileSync(sdpFile, ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=test", "c=IN IP4 127.0.0.1", "t=0 0", `m=video ${port} RTP/AVP 96`, "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1", ""].join("\r\n"));
    const child = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "warning", "-protocol_whitelist", "file,udp,rtp", "-listen_timeout", "0.5", "-i", sdpFile, "-f", "framemd5", "-"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const kill = setTimeout(() => child.kill("SIGKILL"), 60_000);
    try {
      await waitFor("ffmpeg to listen", () => udpBound(port), (b) => b, 10_000);
      await replay(datagrams, port);
      await exited;
    } finally {
      clearTimeout(kill);
      child.kill("SIGKILL");
    }
    const missed = /missed \d+ packets/.exec(err);
    if (!missed) return out.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(",").at(-1)!.trim());
    console.log(`# ${name}: ffmpeg ${missed[0]} (try ${attempt})`);
    if (attempt === 3) assert.fail(`${name}: ffmpeg lost packets in 3 plays on localhost: ${err.slice(-500)}`);
  }
}

async function sendInProcess(path: string, port: number): Promise<void> {
  const { file, table } = await openClip(path);
  const stream = await InProcessStream.start({ table, file, destination: { host: "127.0.0.1", port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
  assert.deepEqual(await stream.finished, { kind: "ended" });
}

async function sendGst(path: string, port: number): Promise<void> {
  const file = await open(path);
  try {
    const pipeline = await GstPipeline.start({ args: gstLaunchArgs({ kind: "passthrough", demuxer: "qtdemux" }, { host: "127.0.0.1", port }), mediaFd: file.fd, name: "gst test", log });
    assert.deepEqual(await pipeline.finished, { kind: "ended" });
  } finally {
    await file.close();
  }
}

/** Packets grouped into frames (the marker bit ends each). */
function frames(packets: RtpInfo[]): RtpInfo[][] {
  const out: RtpInfo[][] = [];
  let current: RtpInfo[] = [];
  for (const p of packets) {
    current.push(p);
    if (p.marker) {
      out.push(current);
      current = [];
    }
  }
  if (current.length) out.push(current);
  return out;
}

before(async () => {
  for (const tool of ["ffmpeg", "gst-launch-1.0", "setpriv"]) requireTool(tool);
  dir = resources.tmp("iceflix-inprocess-rtp-");
  const short = (args: string[]) => args.map((a, i) => (args[i - 1] === "-t" ? "2" : a)); // CI time: 2 s each
  const demo = CLIPS.filter((c) => c.file.endsWith(".mp4"));
  assert.ok(demo.length >= 2, "the demo H.264 clips");
  await Promise.all([
    ...demo.map((c) => ffmpeg([...short(c.args), join(dir, c.file)])),
    ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "3", "-pix_fmt", "yuv420p", "-g", "25", join(dir, HIGH)]),
    // Long enough to be stopped mid-stream; moov first, so a cut-short copy still has its table.
    ffmpeg(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "8", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-movflags", "+faststart", join(dir, "long.mp4")]),
  ]);
  for (const c of demo) clips[c.file] = join(dir, c.file);
  clips[HIGH] = join(dir, HIGH);
});

after(async () => {
  scheduler.clear();
  await Promise.allSettled(handles.map((h) => h.close()));
  await resources.release();
});

describe("in-process RTP passthrough (real ffmpeg and gst-launch)", { timeout: 240_000 }, () => {
  test("the 1080p clip is High profile with B-frames (what the next test needs)", async () => {
    const { table } = await openClip(clips[HIGH]!);
    assert.equal(table.profileLevelId.slice(0, 2), "64", `profile_idc 100 (High): ${table.profileLevelId}`);
    assert.ok([...table.cts].some((c, i) => i > 0 && c < table.cts[i - 1]!), "composition order differs from decode order");
    assert.equal(table.width, 1920);
  });

  test("every demo clip and the 1080p High/B-frame clip: ffmpeg decodes the same frames as from the gst path; packets, timestamps and parameter sets as RFC 6184 says", async () => {
    for (const [name, path] of Object.entries(clips)) {
      const { table } = await openClip(path);
      const [inprocSent, gstSent] = await Promise.all([record((port) => sendInProcess(path, port)), record((port) => sendGst(path, port))]);
      const [inprocHashes, gstHashes] = await Promise.all([decodedFrameHashes(`${name}-inprocess`, inprocSent), decodedFrameHashes(`${name}-gst`, gstSent)]);
      console.log(`# ${name}: ${table.count} frames; decoded ${inprocHashes.length} in-process, ${gstHashes.length} gst; ${inprocSent.length} / ${gstSent.length} packets`);
      assert.ok(inprocHashes.length >= table.count - 10, `${name}: ffmpeg decoded ${inprocHashes.length} of ${table.count} frames`);
      assert.deepEqual(inprocHashes, gstHashes, `${name}: the same decoded frames as the gst path`);
      const inproc = { packets: inprocSent.map(rtpInfo) };

      const sizes = inproc.packets.map((p) => p.size);
      assert.ok(Math.max(...sizes) <= RTP_MAX_PACKET, `${name}: largest packet ${Math.max(...sizes)} > ${RTP_MAX_PACKET}`);
      const sent = frames(inproc.packets);
      assert.equal(sent.length, table.count, `${name}: every frame sent, each ended by the marker bit`);
      for (const [i, f] of sent.entries()) {
        assert.ok(f.every((p) => p.timestamp === f[0]!.timestamp), `${name}: frame ${i} has one timestamp`);
        if (f.some((p) => p.nalType === 5)) {
          const types = f.map((p) => p.nalType);
          assert.ok(types.indexOf(7) >= 0 && types.indexOf(7) < types.indexOf(5) && types.indexOf(8) < types.indexOf(5), `${name}: SPS and PPS before the IDR of frame ${i}: ${types.join(",")}`);
        }
      }
      const stamps = sent.map((f) => f[0]!.timestamp);
      const start = stamps[0]!;
      const presented = stamps.map((t) => (t - start) >>> 0 > 2 ** 31 ? -((start - t) >>> 0) : (t - start) >>> 0).sort((a, b) => a - b);
      for (let i = 1; i < presented.length; i++) {
        assert.equal(presented[i]! - presented[i - 1]!, FRAME_TICKS_90K, `${name}: presentation times one frame (40 ms at 90 kHz) apart at ${i}`);
      }
      const inOrder = stamps.every((t, i) => i === 0 || ((t - stamps[i - 1]!) >>> 0) < 2 ** 31);
      if (name === BASELINE) assert.ok(inOrder, "no B-frames: timestamps increase frame by frame");
      if (name === HIGH) assert.ok(!inOrder, "B-frames: sent in decode order, stamped with their composition times");
    }
  });

  test("20 concurrent streams on one scheduler all deliver, each reading at most 2 s ahead", async () => {
    const path = clips[BASELINE]!;
    const { table } = await openClip(path);
    const receivers = await Promise.all(Array.from({ length: 20 }, () => UdpCounter.open()));
    const frameCounts = receivers.map(() => 0);
    receivers.forEach((r, i) => r.socket.on("message", (m: Buffer) => (frameCounts[i]! += m[1]! & 0x80 ? 1 : 0)));
    const streams = await Promise.all(
      receivers.map(async (r) => {
        const { file } = await openClip(path);
        return InProcessStream.start({ table, file, destination: { host: "127.0.0.1", port: r.port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
      }),
    );
    let maxBuffered = 0;
    const sampler = setInterval(() => (maxBuffered = Math.max(maxBuffered, ...streams.map((s) => s.bufferedBytes))), 20);
    try {
      const ends = await Promise.all(streams.map((s) => s.finished));
      assert.ok(ends.every((e) => e.kind === "ended"), JSON.stringify(ends));
    } finally {
      clearInterval(sampler);
    }
    await waitFor("the last datagrams", () => frameCounts, (c) => c.every((n) => n === table.count), 2000);
    // The most bytes any 2 s of the clip holds: a read-ahead within the bound never exceeds it.
    let window = 0;
    for (let i = 0; i < table.count; i++) {
      let bytes = 0;
      for (let j = i; j < table.count && table.dts[j]! - table.dts[i]! <= (MAX_READ_AHEAD_MS / 1000) * table.timescale; j++) bytes += table.sizes[j]!;
      window = Math.max(window, bytes);
    }
    assert.ok(maxBuffered > 0 && maxBuffered <= window, `read-ahead ${maxBuffered} bytes (2 s of this clip: at most ${window})`);
    await Promise.all(receivers.map((r) => r.close()));
  });

  test("stop(): no packet leaves 50 ms after it", async () => {
    const rtp = await UdpCounter.open();
    const { file, table } = await openClip(join(dir, "long.mp4"));
    const stream = await InProcessStream.start({ table, file, destination: { host: "127.0.0.1", port: rtp.port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
    await waitFor("some frames", () => rtp.packets, (n) => n > 20, 5000);
    const stoppedAt = Date.now();
    assert.deepEqual(await stream.stop(), { kind: "stopped" });
    await sleep(500); // an observation window: anything still on its way arrives well within it
    assert.ok(rtp.lastAt! - stoppedAt <= 50, `last packet ${rtp.lastAt! - stoppedAt} ms after stop()`);
    await rtp.close();
  });

  test("a client port that refuses (ICMP) stalls no other stream", async () => {
    const refused = await freeRtpPort(); // nobody listens there
    const rtp = await UdpCounter.open();
    let markers = 0;
    rtp.socket.on("message", (m: Buffer) => (markers += m[1]! & 0x80 ? 1 : 0));
    const path = clips[BASELINE]!;
    const a = await openClip(path);
    const b = await openClip(path);
    const toNobody = await InProcessStream.start({ table: a.table, file: a.file, destination: { host: "127.0.0.1", port: refused }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
    const toClient = await InProcessStream.start({ table: b.table, file: b.file, destination: { host: "127.0.0.1", port: rtp.port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
    const [endNobody, endClient] = await Promise.all([toNobody.finished, toClient.finished]);
    assert.deepEqual(endClient, { kind: "ended" });
    assert.deepEqual(endNobody, { kind: "ended" }, "the refused stream plays on to its end");
    await waitFor("the listening client's last frames", () => markers, (n) => n === b.table.count, 2000);
    assert.ok(toNobody.counts.sendErrors > 0, `the refusals were seen: ${JSON.stringify(toNobody.counts)}`);
    await rtp.close();
  });

  test("a file cut short or with damaged samples ends its stream as damaged; no moov is refused as not passable in-process", async () => {
    const cut = join(dir, "cut.mp4");
    copyFileSync(join(dir, "long.mp4"), cut);
    truncateSync(cut, Math.floor(statSync(cut).size / 10));
    const rtp = await UdpCounter.open();
    const c = await openClip(cut);
    const cutStream = await InProcessStream.start({ table: c.table, file: c.file, destination: { host: "127.0.0.1", port: rtp.port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
    const cutEnd = await cutStream.finished;
    assert.equal(cutEnd.kind, "damaged");
    assert.match((cutEnd as { reason: string }).reason, /^the file ends before sample \d+ of 200 \(cut short or damaged\)$/);
    assert.ok(rtp.packets > 0, "what the file holds was sent");

    const damaged = join(dir, "damaged.mp4");
    const bytes = readFileSync(join(dir, "long.mp4"));
    const { table } = await openClip(join(dir, "long.mp4"));
    const at = table.offsets[10]!;
    bytes.fill(0xff, at, at + 16); // sample 10's NAL length now claims ~4 GB
    writeFileSync(damaged, bytes);
    const d = await openClip(damaged);
    const damagedStream = await InProcessStream.start({ table: d.table, file: d.file, destination: { host: "127.0.0.1", port: rtp.port }, scheduler, payloadType: RTP_PAYLOAD_TYPE });
    const damagedEnd = await damagedStream.finished;
    assert.equal(damagedEnd.kind, "damaged");
    assert.match((damagedEnd as { reason: string }).reason, /^sample 10: a NAL unit of \d+ bytes/);

    const noMoov = join(dir, "no-moov.mp4");
    writeFileSync(noMoov, bytes.subarray(0, 64));
    await assert.rejects(openClip(noMoov), Mp4DemuxError);
    await rtp.close();
  });
});
