/**
 * StreamController pipelines (spec §6) end to end, with real GStreamer, ffmpeg, IceStorm and the
 * real Authenticator (3 s tokens), driven by Python clients on the original contract: ffmpeg plays
 * the returned SDP (passthrough, in-process by default, and transcode), tokens are revoked and
 * refreshed through the sync topic, stop() / the media's end / a dead pipeline destroy the
 * controller, and no gst-launch outlives its controller or the service (SIGTERM, kill -9; the
 * latter with IceFlix.Stream.Passthrough=gst, one gst-launch per passthrough stream). Every process is stopped in after(),
 * also when a test fails; every wait polls a condition until a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureSecret } from "../../src/runtime/secret.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN, startIceflix, startStreamingProvider, type ReadyProcess } from "../helpers/processes.js";
import { runPython, startPython } from "../helpers/python.js";
import { decodeFrames, freeRtpPort, gstLaunchFor, UdpCounter } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { TestResources } from "../helpers/testResources.js";
import { sleep, waitFor } from "../helpers/waitFor.js";
import { errorLines, logLines } from "../helpers/logFiles.js";

const run = promisify(execFile);
const USER = "viewer";
const PASSWORD = "popcorn";
const TOKEN = "@t"; // the token the client's first step logs in for

interface StepResult {
  ok?: unknown;
  error?: { type: string; ice_id?: string; unknown?: string };
}

interface SessionEvent {
  event: string;
  at?: number;
  sdp?: string;
  controller?: string;
  topic?: string;
  signature?: string;
}

const resources = new TestResources();
const tmp = (prefix: string) => resources.tmp(prefix);
const track = <T extends ReadyProcess<unknown>>(p: T) => resources.track(p);
const counters: UdpCounter[] = [];
let broker: TestBroker;
let auth: ReadyProcess<{ proxy: string }>;
let provider: ReadyProcess<{ proxy: string; pid: number }>;
let dataDir: string;
let mediaDir: string;
let workDir: string;
let logFile: string;
/** File name → media id. */
const ids: Record<string, string> = {};

async function counter(): Promise<UdpCounter> {
  const c = await UdpCounter.open();
  counters.push(c);
  return c;
}

/** Runs steps with the contract-only Python client; a login for TOKEN comes first. */
async function client(steps: unknown[], providerProxy = provider.ready.proxy): Promise<StepResult[]> {
  const login = { op: "login", authenticator: auth.ready.proxy, user: USER, password: PASSWORD, save: TOKEN.slice(1) };
  const out = await runPython<{ results: StepResult[] }>("streaming_client.py", [
    "--provider",
    providerProxy,
    "--topic-manager",
    broker.proxy,
    "--steps",
    JSON.stringify([login, ...steps]),
  ]);
  assert.deepEqual(out.results[0], { ok: null }, "login");
  return out.results.slice(1);
}

/** getStream + getSDP of `id` to `port`: the controller's proxy and the SDP. */
async function startStream(id: string, port: number, providerProxy?: string): Promise<{ proxy: string; sdp: string }> {
  const r = await client(
    [
      { op: "getStream", id, token: TOKEN, save: "c" },
      { op: "getSDP", ctl: "c", token: TOKEN, port },
    ],
    providerProxy,
  );
  assert.ok(r[0]!.ok && typeof r[1]!.ok === "string", JSON.stringify(r));
  return { proxy: (r[0]!.ok as { proxy: string }).proxy, sdp: r[1]!.ok as string };
}

const errorOf = (r: StepResult) => r.error ?? { type: `NO_ERROR (${JSON.stringify(r.ok)})` };
const INVALID_ARGUMENT = { type: "UnknownUserException", ice_id: "::Ice::UnknownUserException", unknown: "::IceFlixExt::InvalidArgument" };

async function controllerGone(proxy: string): Promise<boolean> {
  const r = await client([{ op: "getSyncTopic", proxy }]);
  return errorOf(r[0]!).type === "ObjectNotExistException";
}

const controllerKey = (proxy: string) => /StreamController\/([0-9a-f-]{36})/.exec(proxy)![1]!;

/** A StreamProvider on the test's data folder (its secret: it hears the Authenticator). */
async function startProvider(media: string, log: string, extra: string[] = []) {
  return track(await startStreamingProvider({ topicManager: broker.proxy, data: dataDir, media, logFile: log, extra }));
}

/** Waits until `proxy` serves `id` and has learned the Authenticator (a getStream succeeds). */
async function untilStreamable(proxy: string, id: string): Promise<void> {
  await waitFor(
    "the provider to serve the media and know the Authenticator",
    () => client([{ op: "getStream", id, token: TOKEN, save: "c" }, { op: "stop", ctl: "c" }], proxy),
    (r) => r[0]!.ok !== undefined,
    20_000,
  );
}

function cli(args: string[], stdin: string): Promise<number> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 30_000 }, (error) =>
      resolve(error ? ((error as { code?: number }).code ?? 1) : 0),
    );
    child.stdin?.end(stdin);
  });
}

async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 60_000 });
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

before(async () => {
  for (const tool of ["ffmpeg", "gst-launch-1.0", "setpriv", "/usr/bin/python3"]) requireTool(tool);
  broker = await startTestBroker();
  dataDir = tmp("iceflix-pipeline-data-");
  mediaDir = tmp("iceflix-pipeline-media-");
  workDir = tmp("iceflix-pipeline-work-");
  logFile = join(dataDir, "streaming.log");
  ensureSecret(join(dataDir, "secret"));
  assert.equal(await cli(["user", "add", USER, "--data", dataDir, "--password-stdin"], `${PASSWORD}\n`), 0);

  const lavfi = (size: string, seconds: number) => ["-f", "lavfi", "-i", `testsrc=size=${size}:rate=25`, "-f", "lavfi", "-i", "sine=frequency=440", "-t", String(seconds)];
  await Promise.all([
    // H.264 + AAC in MP4 (moov at the end, as ffmpeg writes it): passthrough, the audio ignored.
    ffmpeg([...lavfi("320x240", 4), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25", "-c:a", "aac", "-shortest", join(mediaDir, "short.mp4")]),
    ffmpeg([...lavfi("160x120", 40), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac", "-shortest", join(mediaDir, "long.mp4")]),
    // VP8 + Opus in WebM: transcoded (long enough to be stopped, not ended, under load).
    ffmpeg([...lavfi("320x240", 15), "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-c:a", "libopus", "-shortest", join(mediaDir, "vp8.webm")]),
    ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", join(mediaDir, "audio.m4a")]),
  ]);
  writeFileSync(join(mediaDir, "notes.txt"), "not a video\n");
  copyFileSync(join(mediaDir, "short.mp4"), join(mediaDir, "changing.mp4"));
  writeFileSync(join(mediaDir, "changing.mp4"), Buffer.from("x"), { flag: "a" }); // its own content, so its own id
  const past = Date.now() / 1000 - 60; // settled: the provider serves them at once
  for (const name of ["short.mp4", "long.mp4", "vp8.webm", "audio.m4a", "notes.txt", "changing.mp4"]) {
    utimesSync(join(mediaDir, name), past, past);
    ids[name] = sha256(join(mediaDir, name));
  }

  auth = track(
    await startIceflix(
      [
        "auth",
        "--data",
        dataDir,
        "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
        "--IceFlix.Token.LifetimeSeconds=3",
        "--IceFlix.Announce.PeriodSeconds=1",
      ],
      { logFile: join(dataDir, "auth.log") },
    ),
  );
  provider = await startProvider(mediaDir, logFile);
  await untilStreamable(provider.ready.proxy, ids["long.mp4"]!);
  await waitFor("every file to be served", () => client(Object.values(ids).map((id) => ({ op: "isAvailable", id }))), (r) => r.every((x) => x.ok === true));
});

after(async () => {
  await resources.release();
  // A safety net for a failed test: no pipeline reading our (now deleted) files keeps playing.
  for (const p of resources.dirs.flatMap((dir) => gstLaunchFor({ dir }))) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone with its service
    }
  }
  await Promise.allSettled(counters.map((c) => c.close()));
  await broker?.stop();
});

describe("StreamController pipelines (GStreamer, ffmpeg, IceStorm, Python clients)", { timeout: 150_000 }, () => {
  // The token-lapse test must watch a stream for 15 s; the other tests, on their own streams and
  // ports (one on providers of its own), run one at a time beside it instead of after it.
  describe("beside a 15 s token lapse", { concurrency: 2 }, () => {
    test("token lapses: a refreshed stream plays on past 15 s; an unanswered one stops within 12 s and its controller is gone", async () => {
      const [kept, dropped] = [await counter(), await counter()];
      const session = (port: number, refresh: boolean) =>
        startPython<SessionEvent>("stream_session.py", [
          "--provider", provider.ready.proxy,
          "--authenticator", auth.ready.proxy,
          "--topic-manager", broker.proxy,
          "--user", USER,
          "--password", PASSWORD,
          "--media", ids["long.mp4"]!,
          "--port", String(port),
          "--secret-file", join(dataDir, "secret"),
          ...(refresh ? ["--refresh"] : []),
        ]).then(track);
      const startedAt = Date.now();
      const [refreshing, silent] = await Promise.all([session(kept.port, true), session(dropped.port, false)]);
      const events = (p: ReadyProcess<SessionEvent>) =>
        p.stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as SessionEvent);

      const watchDropped = (async () => {
        // 3 s tokens: the first request comes at expiry (or the revoke event), then 10 s of grace.
        const [request] = await waitFor("requestAuthentication (no answer)", () => events(silent).filter((e) => e.event === "requestAuthentication"), (l) => l.length > 0, 8000);
        assert.equal(request!.signature, "valid", "signed for the sync topic with the deployment secret");
        await waitFor("the unanswered stream to stop", () => dropped.lastAt !== undefined && !dropped.activeWithin(1500), (stopped) => stopped, 15_000);
        assert.ok(dropped.lastAt! <= request!.at! + 12_000, `packets stopped ${dropped.lastAt! - request!.at!} ms after the request`);
        assert.ok(await controllerGone(silent.ready.controller!), "its controller is gone");
        assert.deepEqual(gstLaunchFor({ port: dropped.port }), []);
      })();

      const watchKept = (async () => {
        await waitFor("a refresh", () => events(refreshing).filter((e) => e.event === "refreshed"), (l) => l.length > 0, 8000);
        const requests = events(refreshing).filter((e) => e.event === "requestAuthentication");
        assert.ok(requests.every((e) => e.signature === "valid"), JSON.stringify(requests));
        await sleep(Math.max(0, startedAt + 15_500 - Date.now()));
        assert.ok(kept.activeWithin(500), `packets still arrive 15 s later (last ${Date.now() - (kept.lastAt ?? 0)} ms ago)`);
        assert.ok(!events(refreshing).some((e) => e.event === "refresh-failed"), JSON.stringify(events(refreshing)));
      })();

      await Promise.all([watchDropped, watchKept]);
      assert.deepEqual(await client([{ op: "stop", proxy: refreshing.ready.controller }]), [{ ok: null }]);
      const reasons = logLines(logFile, "stream controller destroyed")
        .filter((l) => l.controller === controllerKey(silent.ready.controller!))
        .map((l) => String(l.reason));
      assert.match(reasons[0] ?? "", /^not re-authenticated within 10 s/);
    });

    describe("one at a time", () => {
      test("H.264 is passed through (in-process by default): ffmpeg decodes the returned SDP; the media's end destroys the controller", async () => {
        const port = await freeRtpPort();
        const { proxy, sdp } = await startStream(ids["short.mp4"]!, port);
        const lines = sdp.split(/\r?\n/);
        for (const line of [`m=video ${port} RTP/AVP 96`, "a=rtpmap:96 H264/90000", "c=IN IP4 127.0.0.1"]) {
          assert.ok(lines.includes(line), `SDP has "${line}":\n${sdp}`);
        }
        // The in-process path adds the avcC's profile-level-id and sprop-parameter-sets.
        assert.ok(lines.some((l) => l.startsWith("a=fmtp:96 packetization-mode=1")), `SDP has packetization-mode=1:\n${sdp}`);
        const decoded = await decodeFrames(sdp, join(workDir, "short.sdp"), { frames: 25, timeoutMs: 8000 });
        assert.ok(decoded.frames > 0, `ffmpeg decoded no frame: ${JSON.stringify(decoded)}`);
        const started = (await waitFor('"stream started"', () => logLines(logFile, "stream started").filter((l) => l.controller === controllerKey(proxy)), (l) => l.length > 0, 5000))[0];
        assert.equal(started?.plan, "passthrough", JSON.stringify(started));
        assert.equal(started?.via, "inprocess", "the default passthrough");

        await waitFor("the controller to go when the media ends", () => controllerGone(proxy), (gone) => gone, 10_000);
        assert.deepEqual(gstLaunchFor({ port }), [], "its gst-launch is gone");
        const destroyed = logLines(logFile, "stream controller destroyed").find((l) => l.controller === controllerKey(proxy));
        assert.equal(destroyed?.reason, "the media ended");
      });

      test("another codec (VP8 in WebM) is transcoded to H.264: ffmpeg decodes it", async () => {
        const port = await freeRtpPort();
        const { proxy, sdp } = await startStream(ids["vp8.webm"]!, port);
        const decoded = await decodeFrames(sdp, join(workDir, "vp8.sdp"), { frames: 25, timeoutMs: 8000 });
        assert.ok(decoded.frames > 0, `ffmpeg decoded no frame: ${JSON.stringify(decoded)}`);
        const started = (await waitFor('"stream started"', () => logLines(logFile, "stream started").filter((l) => l.controller === controllerKey(proxy)), (l) => l.length > 0, 5000))[0];
        assert.equal(started?.plan, "transcode", JSON.stringify(started));
        assert.equal(started?.codec, "vp8");
        assert.deepEqual(await client([{ op: "stop", proxy }]), [{ ok: null }]);
      });

      test("declared exceptions and clear errors: tokens, ids, ports, a second getSDP, no video, a changed file", async () => {
        const rtp = await counter();
        const r = await client([
          { op: "getStream", id: ids["long.mp4"], token: "bad" }, // 0
          { op: "getStream", id: "f".repeat(64), token: TOKEN }, // 1
          { op: "getStream", id: ids["long.mp4"], token: TOKEN, save: "a" }, // 2
          { op: "getSDP", ctl: "a", token: "bad", port: rtp.port }, // 3
          { op: "getSDP", ctl: "a", token: TOKEN, port: 0 }, // 4
          { op: "getSDP", ctl: "a", token: TOKEN, port: 70000 }, // 5
          { op: "getSDP", ctl: "a", token: TOKEN, port: -5 }, // 6
          { op: "getSDP", ctl: "a", token: TOKEN, port: rtp.port }, // 7
          { op: "getSDP", ctl: "a", token: TOKEN, port: rtp.port }, // 8: a retry: the same SDP
          { op: "getSDP", ctl: "a", token: TOKEN, port: rtp.port + 2 }, // 9: elsewhere: refused
          { op: "getStream", id: ids["audio.m4a"], token: TOKEN, save: "b" }, // 10
          { op: "getSDP", ctl: "b", token: TOKEN, port: rtp.port + 4 }, // 11: no video
          { op: "getSyncTopic", ctl: "b" }, // 12: a controller that cannot stream is gone
          { op: "getStream", id: ids["notes.txt"], token: TOKEN, save: "n" }, // 13
          { op: "getSDP", ctl: "n", token: TOKEN, port: rtp.port + 4 }, // 14: not media at all
          { op: "getStream", id: ids["changing.mp4"], token: TOKEN, save: "ch" }, // 15
          { op: "stop", ctl: "a" }, // 16
        ]);
        assert.equal(errorOf(r[0]!).type, "Unauthorized");
        assert.equal(errorOf(r[1]!).type, "WrongMediaId");
        assert.equal(errorOf(r[3]!).type, "Unauthorized");
        for (const i of [4, 5, 6, 9, 11, 14]) assert.deepEqual(errorOf(r[i]!), INVALID_ARGUMENT, `step ${i}`);
        assert.match(r[7]!.ok as string, new RegExp(`^m=video ${rtp.port} RTP/AVP 96\\r?$`, "m"));
        assert.equal(r[8]!.ok, r[7]!.ok, "a second getSDP to the same port returns the same SDP");
        assert.equal(errorOf(r[12]!).type, "ObjectNotExistException");
        assert.ok(rtp.packets > 0, "the accepted getSDP streamed");
        assert.deepEqual(r[16], { ok: null });

        // The file changes between getStream and getSDP: refused, not streamed.
        const changing = (r[15]!.ok as { proxy: string }).proxy;
        const now = Date.now() / 1000;
        utimesSync(join(mediaDir, "changing.mp4"), now, now);
        const changed = await client([{ op: "getSDP", proxy: changing, token: TOKEN, port: rtp.port + 6 }]);
        assert.deepEqual(errorOf(changed[0]!), INVALID_ARGUMENT);

        // getSDP declares only Unauthorized, so Ice sends any other exception as UnknownUserException
        // (its type id, no reason): the reason is in the provider's log.
        const audio = (r[10]!.ok as { proxy: string }).proxy;
        const refused = logLines(logFile, "stream controller destroyed").find((l) => l.controller === controllerKey(audio));
        assert.match(String(refused?.reason), /cannot be streamed: it has no video stream$/);
      });

      /** stop(): no more packets, ObjectNotExistException afterwards. */
      async function stopsCleanly(rtp: UdpCounter, proxy: string): Promise<void> {
        assert.deepEqual(await client([{ op: "stop", proxy }]), [{ ok: null }]);
        await sleep(100); // datagrams already on their way
        const afterStop = rtp.packets;
        await sleep(1000);
        assert.equal(rtp.packets, afterStop, "no packet after stop()");
        const r = await client([{ op: "getSyncTopic", proxy }, { op: "getSDP", proxy, token: TOKEN, port: rtp.port }, { op: "stop", proxy }]);
        for (const x of r) assert.equal(errorOf(x).type, "ObjectNotExistException");
      }

      test("stop() of an in-process passthrough: no more packets, ObjectNotExistException afterwards, no gst-launch ever", async () => {
        const rtp = await counter();
        const { proxy } = await startStream(ids["long.mp4"]!, rtp.port);
        assert.ok((await rtp.firstPacket(5000)) !== undefined, "packets arrive");
        assert.deepEqual(gstLaunchFor({ port: rtp.port }), [], "the provider sends the stream itself");
        await stopsCleanly(rtp, proxy);
      });

      test("stop() of a pipeline (a transcode): no more packets, ObjectNotExistException afterwards, no gst-launch left", async () => {
        const rtp = await counter();
        const { proxy } = await startStream(ids["vp8.webm"]!, rtp.port);
        assert.ok((await rtp.firstPacket(8000)) !== undefined, "packets arrive");
        const [gst] = gstLaunchFor({ port: rtp.port });
        assert.ok(gst, "a gst-launch sends the stream");
        assert.ok(gst.files.includes(join(mediaDir, "vp8.webm")), `it reads the media file: ${JSON.stringify(gst.files)}`);
        assert.ok(!gst.args.some((a) => a.includes(mediaDir)), "no file name in the pipeline description");
        await stopsCleanly(rtp, proxy);
        assert.deepEqual(gstLaunchFor({ port: rtp.port }), []);
        assert.throws(() => process.kill(gst.pid, 0), "the pipeline process is gone");
      });

      test("a pipeline that dies destroys its controller", async () => {
        const rtp = await counter();
        const { proxy } = await startStream(ids["vp8.webm"]!, rtp.port);
        const [gst] = gstLaunchFor({ port: rtp.port });
        assert.ok(gst);
        process.kill(gst.pid, "SIGKILL");
        await waitFor("the controller to go", () => controllerGone(proxy), (gone) => gone, 8000);
        const destroyed = logLines(logFile, "stream controller destroyed").find((l) => l.controller === controllerKey(proxy));
        assert.equal(destroyed?.reason, "the pipeline died");
      });

      test("no gst-launch outlives the service (Passthrough=gst): SIGTERM stops them cleanly, kill -9 takes them along", async () => {
        const media = tmp("iceflix-pipeline-media2-");
        copyFileSync(join(mediaDir, "long.mp4"), join(media, "long.mp4"));
        utimesSync(join(media, "long.mp4"), Date.now() / 1000 - 60, Date.now() / 1000 - 60);
        const id = ids["long.mp4"]!;

        for (const how of ["SIGTERM", "SIGKILL"] as const) {
          const p = await startProvider(media, join(dataDir, `streaming-${how}.log`), ["--IceFlix.Stream.Passthrough=gst"]);
          await untilStreamable(p.ready.proxy, id);
          const rtps = [await counter(), await counter()];
          for (const rtp of rtps) await startStream(id, rtp.port, p.ready.proxy);
          assert.equal(gstLaunchFor({ dir: media }).length, 2, "two pipelines read the media");

          process.kill(p.ready.pid, how);
          if (how === "SIGTERM") {
            const exit = await p.child.exited;
            assert.equal(exit.code, 0, "a clean stop");
            assert.deepEqual(gstLaunchFor({ dir: media }), [], "its pipelines stopped before it exited");
          } else {
            await waitFor("the orphaned pipelines to die", () => gstLaunchFor({ dir: media }), (l) => l.length === 0, 5000);
          }
          await sleep(200);
          const counts = rtps.map((r) => r.packets);
          await sleep(700);
          assert.deepEqual(rtps.map((r) => r.packets), counts, `no packet after ${how}`);
        }
      });
    });
  });

  test("the provider logged no errors", () => {
    assert.deepEqual(errorLines(logFile), []);
  });
});
