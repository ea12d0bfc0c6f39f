/**
 * A StreamProvider with IceFlix.Stream.Passthrough=inprocess (issue 15), with real IceStorm, the
 * real Authenticator and a Node client on the npm `ice` runtime: H.264 in MP4 is streamed by the
 * provider itself (no gst-launch), with the avcC's parameter sets in the SDP; ffmpeg plays it;
 * the media's end and stop() destroy the controller as on the gst path; 20 concurrent streams all
 * deliver; a file deleted mid-stream plays to its end (the opened descriptor) and is withdrawn; a
 * file cut short mid-stream (the controller's file watch) or damaged at rest ends its
 * stream with one "stream ended early" line and the provider serves on; VP8 is still transcoded
 * by gst-launch. Every wait polls a condition until a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { ensureSecret } from "../../src/runtime/secret.js";
import { readH264SampleTable } from "../../src/services/streaming/mp4SampleTable.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN, startIceflix, startStreamingProvider, type ReadyProcess } from "../helpers/processes.js";
import { decodeFrames, freeRtpPort, gstLaunchFor, UdpCounter } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { TestResources } from "../helpers/testResources.js";
import { sleep, waitFor } from "../helpers/waitFor.js";
import { errorLines, logLines } from "../helpers/logFiles.js";
import { errorKind } from "../chaos/lib/client.js";

const run = promisify(execFile);
const USER = "viewer";
const PASSWORD = "popcorn";
const sha256hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

const resources = new TestResources();
const counters: UdpCounter[] = [];
let broker: TestBroker;
let auth: ReadyProcess<{ proxy: string }>;
let provider: ReadyProcess<{ proxy: string; pid: number }>;
let communicator: Ice.Communicator;
let token: string;
let dataDir: string;
let mediaDir: string;
let logFile: string;
const ids: Record<string, string> = {};

async function counter(): Promise<UdpCounter> {
  const c = await UdpCounter.open();
  counters.push(c);
  return c;
}

const providerPrx = () => IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(provider.ready.proxy));
const keyOf = (c: IceFlix.StreamControllerPrx) => c.ice_getIdentity().name;
const controllerLines = (key: string, msg: string) => logLines(logFile, msg).filter((l) => l.controller === key);
/** The controller's "stream started" line: the logger writes it asynchronously, so a packet can arrive first. */
const startedLine = async (key: string) =>
  (await waitFor(`"stream started" of ${key}`, () => controllerLines(key, "stream started"), (l) => l.length > 0, 5000))[0];

async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (e) {
    return errorKind(e);
  }
}

async function play(id: string, port: number): Promise<{ controller: IceFlix.StreamControllerPrx; sdp: string }> {
  const controller = (await providerPrx().getStream(id, token))!;
  const sdp = await controller.getSDP(token, port);
  return { controller, sdp };
}

async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 60_000 });
}

function cli(args: string[], stdin: string): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 30_000 }, (error) =>
      resolve(error ? ((error as { code?: number }).code ?? 1) : 0),
    );
    child.stdin?.end(stdin);
  });
}

before(async () => {
  for (const tool of ["ffmpeg", "gst-launch-1.0", "setpriv"]) requireTool(tool);
  broker = await startTestBroker();
  dataDir = resources.tmp("iceflix-inproc-data-");
  mediaDir = resources.tmp("iceflix-inproc-media-");
  const work = resources.tmp("iceflix-inproc-work-");
  logFile = join(dataDir, "streaming.log");
  ensureSecret(join(dataDir, "secret"));
  assert.equal(await cli(["user", "add", USER, "--data", dataDir, "--password-stdin"], `${PASSWORD}\n`), 0);

  const clip = (seconds: number, out: string, extra: string[] = []) =>
    ffmpeg(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", ...extra, out]);
  await Promise.all([
    clip(3, join(mediaDir, "short.mp4")),
    clip(20, join(mediaDir, "long.mp4")),
    clip(20, join(mediaDir, "truncated.mp4"), ["-metadata", "title=truncated"]), // its own content, so its own id
    clip(3, join(mediaDir, "deleted.mp4"), ["-metadata", "title=deleted"]),
    clip(6, join(work, "damaged.mp4"), ["-movflags", "+faststart"]),
    ffmpeg(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "4", "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "200k", join(mediaDir, "vp8.webm")]),
  ]);
  // Sample 10's NAL length made to claim ~4 GB: the moov is fine, the data is not.
  const damaged = readFileSync(join(work, "damaged.mp4"));
  const fh = await open(join(work, "damaged.mp4"));
  const table = await readH264SampleTable(fh, damaged.length).finally(() => fh.close());
  damaged.fill(0xff, table.offsets[10]!, table.offsets[10]! + 4);
  writeFileSync(join(mediaDir, "damaged.mp4"), damaged);
  const past = Date.now() / 1000 - 60;
  for (const name of ["short.mp4", "long.mp4", "truncated.mp4", "deleted.mp4", "damaged.mp4", "vp8.webm"]) {
    utimesSync(join(mediaDir, name), past, past);
    ids[name] = createHash("sha256").update(readFileSync(join(mediaDir, name))).digest("hex");
  }

  auth = resources.track(
    await startIceflix(
      ["auth", "--data", dataDir, "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0", `--IceFlix.IceStorm/TopicManager=${broker.proxy}`, "--IceFlix.Announce.PeriodSeconds=1"],
      { logFile: join(dataDir, "auth.log") },
    ),
  );
  const init = new Ice.InitializationData();
  init.properties = Ice.createProperties();
  init.properties.setProperty("Ice.Default.InvocationTimeout", "8000");
  communicator = Ice.initialize(init);
  token = await IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(auth.ready.proxy)).refreshAuthorization(USER, sha256hex(PASSWORD));
  provider = resources.track(
    await startStreamingProvider({ topicManager: broker.proxy, data: dataDir, media: mediaDir, logFile, extra: ["--IceFlix.Stream.Passthrough=inprocess", "--IceFlix.Call.TimeoutMs=3000"] }),
  );
  await waitFor("every file to be served", () => Promise.all(Object.values(ids).map((id) => providerPrx().isAvailable(id))), (r) => r.every(Boolean), 20_000);
  await waitFor(
    "the provider to know the Authenticator",
    async () => {
      const c = await providerPrx().getStream(ids["short.mp4"]!, token);
      await c!.stop();
      return true;
    },
    (ok) => ok,
    20_000,
  );
});

after(async () => {
  await resources.release();
  await Promise.allSettled(counters.map((c) => c.close()));
  await communicator?.destroy();
  await broker?.stop();
});

describe("a StreamProvider passing H.264 through in-process", { timeout: 120_000 }, () => {
  test("getSDP: the avcC's parameter sets in the SDP, ffmpeg plays it, no gst-launch; the media's end destroys the controller", async () => {
    const port = await freeRtpPort();
    const { controller, sdp } = await play(ids["short.mp4"]!, port);
    const fmtp = sdp.split(/\r?\n/).find((l) => l.startsWith("a=fmtp:96 "));
    assert.match(fmtp ?? "", /^a=fmtp:96 packetization-mode=1;profile-level-id=[0-9a-f]{6};sprop-parameter-sets=[A-Za-z0-9+/=]+,[A-Za-z0-9+/=]+$/);
    assert.ok(sdp.includes(`m=video ${port} RTP/AVP 96`) && sdp.includes("a=rtpmap:96 H264/90000"), sdp);
    assert.deepEqual(gstLaunchFor({ port }), [], "no gst-launch for a passthrough");
    const decoded = await decodeFrames(sdp, join(dataDir, "short.sdp"), { frames: 25, timeoutMs: 8000 });
    assert.ok(decoded.frames > 0, `ffmpeg decoded no frame: ${JSON.stringify(decoded)}`);
    const key = keyOf(controller);
    const started = await startedLine(key);
    assert.equal(started?.plan, "passthrough");
    assert.equal(started?.via, "inprocess");
    await waitFor("the media's end to destroy the controller", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 10_000);
    assert.equal(controllerLines(key, "stream controller destroyed")[0]!.reason, "the media ended");
    assert.equal(await outcome(() => controller.stop()), "::Ice::ObjectNotExistException");
  });

  test("stop(): packets end within 50 ms of its reply; ObjectNotExistException afterwards", async () => {
    const rtp = await counter();
    const { controller } = await play(ids["long.mp4"]!, rtp.port);
    assert.ok((await rtp.firstPacket(5000)) !== undefined, "packets arrive");
    await waitFor("a few frames", () => rtp.packets, (n) => n > 10, 5000);
    await controller.stop();
    const stoppedAt = Date.now();
    await sleep(500); // an observation window for datagrams still on their way
    assert.ok(rtp.lastAt! - stoppedAt <= 50, `last packet ${rtp.lastAt! - stoppedAt} ms after stop() returned`);
    assert.equal(await outcome(() => controller.getSDP(token, rtp.port)), "::Ice::ObjectNotExistException");
  });

  test("20 concurrent streams all deliver", async () => {
    const rtps = await Promise.all(Array.from({ length: 20 }, () => counter()));
    const controllers = await Promise.all(rtps.map((r) => play(ids["long.mp4"]!, r.port).then((p) => p.controller)));
    await waitFor("packets on every stream", () => rtps.map((r) => r.packets), (n) => n.every((x) => x > 0), 5000);
    const counts = rtps.map((r) => r.packets);
    await waitFor("every stream to go on delivering", () => rtps.map((r, i) => r.packets - counts[i]!), (d) => d.every((x) => x >= 10), 5000);
    await Promise.all(controllers.map((c) => c.stop()));
  });

  test("deleted mid-stream: the stream plays to its end from the opened file; the media is withdrawn", async () => {
    const id = ids["deleted.mp4"]!;
    const rtp = await counter();
    const { controller } = await play(id, rtp.port);
    assert.ok((await rtp.firstPacket(5000)) !== undefined, "packets arrive");
    unlinkSync(join(mediaDir, "deleted.mp4"));
    await waitFor("isAvailable to turn false", () => providerPrx().isAvailable(id), (a) => a === false, 5000);
    const key = keyOf(controller);
    await waitFor("the media's end to destroy the controller", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 10_000);
    assert.equal(controllerLines(key, "stream controller destroyed")[0]!.reason, "the media ended", "played to its end, not cut");
    assert.ok(rtp.lastAt! - rtp.firstAt! >= 2500, `the whole 3 s clip was sent (${rtp.lastAt! - rtp.firstAt!} ms)`);
    assert.deepEqual(controllerLines(key, "stream ended early"), []);
  });

  test("cut short mid-stream (the file watch) or damaged at rest: one 'stream ended early' line each, and the provider serves on", async () => {
    const rtp = await counter();
    const { controller } = await play(ids["truncated.mp4"]!, rtp.port);
    assert.ok((await rtp.firstPacket(5000)) !== undefined, "packets arrive");
    truncateSync(join(mediaDir, "truncated.mp4"), Math.floor(statSync(join(mediaDir, "truncated.mp4")).size / 4));
    const key = keyOf(controller);
    await waitFor("the controller to go", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 5000);
    const early = controllerLines(key, "stream ended early");
    assert.equal(early.length, 1, JSON.stringify(early));
    assert.match(String(early[0]!.reason), /^the media file was truncated while it was streamed/);

    const rtp2 = await counter();
    const damaged = await play(ids["damaged.mp4"]!, rtp2.port);
    const dkey = keyOf(damaged.controller);
    await waitFor("the damaged stream to end", () => controllerLines(dkey, "stream controller destroyed"), (l) => l.length > 0, 5000);
    const dEarly = controllerLines(dkey, "stream ended early");
    assert.equal(dEarly.length, 1, JSON.stringify(dEarly));
    assert.match(String(dEarly[0]!.reason), /^the media file is damaged: sample 10: a NAL unit of \d+ bytes/);
    assert.ok(rtp2.packets > 0, "the frames before the damage were sent");

    // The provider serves on.
    const rtp3 = await counter();
    const again = await play(ids["long.mp4"]!, rtp3.port);
    assert.ok((await rtp3.firstPacket(5000)) !== undefined, "a new stream plays");
    await again.controller.stop();
  });

  test("another codec is still transcoded by gst-launch", async () => {
    const rtp = await counter();
    const { controller } = await play(ids["vp8.webm"]!, rtp.port);
    assert.ok((await rtp.firstPacket(8000)) !== undefined, "packets arrive");
    assert.equal(gstLaunchFor({ port: rtp.port }).length, 1);
    const started = await startedLine(keyOf(controller));
    assert.equal(started?.plan, "transcode");
    assert.equal(started?.via, "gst");
    await controller.stop();
  });

  test("the provider logged no errors", () => {
    assert.deepEqual(errorLines(logFile), []);
    assert.equal(logLines(logFile, "StreamProvider ready")[0]?.passthrough, "inprocess");
  });
});
