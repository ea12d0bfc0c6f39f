/**
 * A media file that goes missing or changes while it is streamed (spec §5, §6; README
 * "Reliability"), with real IceStorm, the real Authenticator, StreamProviders and a MediaCatalog,
 * real gst-launch pipelines (IceFlix.Stream.Passthrough=gst: one per stream, whose process and open
 * file show; the in-process path's faults: streamingInprocessProvider.test.ts) and a Node client
 * on the npm `ice` runtime:
 * - deleted (unlinked) mid-stream: the pipeline holds the inode and plays to the end; the provider
 *   withdraws the media (isAvailable false, getStream WrongMediaId) with no warning or error;
 * - truncated, or overwritten with garbage, mid-stream: the stream stops at once, with one
 *   "stream ended early" line saying why; no gst-launch is left (nor a zombie); the controller is
 *   gone (getSDP and stop: ObjectNotExistException) and its MaxConcurrent slot is free; the file
 *   is served again once its content is the media again;
 * - renamed out of the folder mid-stream, then the same content put back under another name: the
 *   stream plays on; the media is withdrawn, then offered again under the same id;
 * - the catalog: getTile stops handing out a provider whose file is gone (its isAvailable is
 *   false), hands out another provider of the same file, answers TemporaryUnavailable when none is
 *   left, and hands the provider out again once the file is back (re-announced).
 * Every process is stopped in after(), also when a test fails; every wait polls a condition until
 * a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { copyFileSync, existsSync, openSync, readFileSync, renameSync, truncateSync, unlinkSync, utimesSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { ensureSecret } from "../../src/runtime/secret.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN, startIceflix, startStreamingProvider, type ReadyProcess } from "../helpers/processes.js";
import { gstLaunchFor, UdpCounter } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { TestResources } from "../helpers/testResources.js";
import { waitFor } from "../helpers/waitFor.js";
import { logEntries, logLines } from "../helpers/logFiles.js";
import { errorKind } from "../chaos/lib/client.js";

const run = promisify(execFile);
const USER = "viewer";
const PASSWORD = "popcorn";
const sha256hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

const resources = new TestResources();
const tmp = (prefix: string) => resources.tmp(prefix);
const track = <T extends ReadyProcess<unknown>>(p: T) => resources.track(p);
const counters: UdpCounter[] = [];
let broker: TestBroker;
let auth: ReadyProcess<{ proxy: string }>;
let provider: ReadyProcess<{ proxy: string; pid: number }>;
let communicator: Ice.Communicator;
let token: string;
let dataDir: string;
let mediaDir: string;
/** Outside the media folder, same file system (renames). */
let asideDir: string;
let originals: string;
let logFile: string;
/** File name → media id (each file has its own content). */
const ids: Record<string, string> = {};

async function counter(): Promise<UdpCounter> {
  const c = await UdpCounter.open();
  counters.push(c);
  return c;
}

function providerPrx(proxy = provider.ready.proxy): IceFlix.StreamProviderPrx {
  return IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(proxy));
}

async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (e) {
    return errorKind(e);
  }
}

const keyOf = (c: IceFlix.StreamControllerPrx) => c.ice_getIdentity().name;
const gone = (pid: number) => !existsSync(`/proc/${pid}`); // a zombie would still be listed

/** getStream + getSDP to `rtp`; waits for the first packet. */
async function play(id: string, rtp: UdpCounter) {
  const controller = (await providerPrx().getStream(id, token))!;
  await controller.getSDP(token, rtp.port);
  assert.ok((await rtp.firstPacket(5000)) !== undefined, "packets arrive");
  const [gst] = gstLaunchFor({ port: rtp.port });
  assert.ok(gst, "a gst-launch sends the stream");
  return { controller, gst };
}

/** The provider's log lines about one controller. */
const controllerLines = (key: string, msg: string) => logLines(logFile, msg).filter((l) => l.controller === key);

/** Warnings and errors logged since `since` (ms since the epoch). */
const problemsSince = (since: number) => logEntries(logFile).filter((l) => (l.level ?? 0) >= 40 && Number(l.time) >= since);

/** Copies an original back with its old mtime (settled: served without waiting). */
function restore(name: string, as = name, dir = mediaDir): void {
  copyFileSync(join(originals, name), join(dir, as));
  const past = Date.now() / 1000 - 60;
  utimesSync(join(dir, as), past, past);
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

async function startProvider(data: string, media: string, log: string, extra: string[] = []) {
  const extraProps = ["--IceFlix.Call.TimeoutMs=3000", ...extra];
  return track(await startStreamingProvider({ topicManager: broker.proxy, data, media, logFile: log, extra: extraProps }));
}

/** Waits until `proxy` serves `id` and knows the Authenticator (a getStream succeeds). */
async function untilStreamable(proxy: string, id: string): Promise<void> {
  await waitFor(
    "the provider to serve the media and know the Authenticator",
    async () => {
      const c = await providerPrx(proxy).getStream(id, token);
      await c!.stop();
      return true;
    },
    (ok) => ok,
    20_000,
  );
}

before(async () => {
  for (const tool of ["ffmpeg", "gst-launch-1.0", "setpriv"]) requireTool(tool);
  broker = await startTestBroker();
  dataDir = tmp("iceflix-faults-data-");
  mediaDir = tmp("iceflix-faults-media-");
  asideDir = tmp("iceflix-faults-aside-");
  originals = tmp("iceflix-faults-orig-");
  logFile = join(dataDir, "streaming.log");
  ensureSecret(join(dataDir, "secret"));
  assert.equal(await cli(["user", "add", USER, "--data", dataDir, "--password-stdin"], `${PASSWORD}\n`), 0);

  const clip = (seconds: number, out: string) =>
    ffmpeg(["-f", "lavfi", "-i", `testsrc=size=160x120:rate=25`, "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", join(originals, out)]);
  await Promise.all([clip(6, "short.mp4"), clip(20, "long.mp4")]);
  // One content per scenario (bytes after the moov box are ignored by qtdemux): one id each.
  const variants: Array<[string, string]> = [
    ["deleted.mp4", "short.mp4"],
    ["truncated.mp4", "long.mp4"],
    ["garbage.mp4", "long.mp4"],
    ["moved.mp4", "long.mp4"],
    ["other.mp4", "short.mp4"],
    ["solo.mp4", "long.mp4"],
    ["shared.mp4", "long.mp4"],
  ];
  for (const [name, base] of variants) {
    writeFileSync(join(originals, name), Buffer.concat([readFileSync(join(originals, base)), Buffer.from(name)]));
    ids[name] = sha256(join(originals, name));
    restore(name);
  }

  auth = track(
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

  // One stream at a time: whether an ended stream frees its slot shows.
  provider = await startProvider(dataDir, mediaDir, logFile, ["--IceFlix.Stream.MaxConcurrent=1", "--IceFlix.Stream.Passthrough=gst"]);
  await untilStreamable(provider.ready.proxy, ids["other.mp4"]!);
  await waitFor("every file to be served", () => Promise.all(Object.values(ids).map((id) => providerPrx().isAvailable(id))), (r) => r.every(Boolean));
});

after(async () => {
  await resources.release();
  for (const p of resources.dirs.flatMap((dir) => gstLaunchFor({ dir }))) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // gone with its service
    }
  }
  await Promise.allSettled(counters.map((c) => c.close()));
  await communicator?.destroy();
  await broker?.stop();
});

describe("a media file missing or changed mid-stream (real gst-launch)", { timeout: 120_000 }, () => {
  test("deleted: the stream plays to its end; the media is withdrawn at once, quietly", async () => {
    const id = ids["deleted.mp4"]!;
    const rtp = await counter();
    const { controller, gst } = await play(id, rtp);
    const key = keyOf(controller);

    const t0 = Date.now();
    unlinkSync(join(mediaDir, "deleted.mp4"));
    await waitFor("isAvailable to turn false", () => providerPrx().isAvailable(id), (a) => a === false, 5000);
    const withdrawnMs = Date.now() - t0;
    assert.equal(await outcome(() => providerPrx().getStream(id, token)), "WrongMediaId");
    console.log(`# deleted: isAvailable false ${withdrawnMs} ms after the unlink`);

    const atDelete = rtp.packets;
    await waitFor("packets after the delete", () => rtp.packets, (n) => n > atDelete + 20, 5000);
    assert.ok(gstLaunchFor({ port: rtp.port })[0]?.files.some((f) => f.endsWith("deleted.mp4 (deleted)")), "gst-launch still reads the deleted inode");

    await waitFor("the media's end to destroy the controller", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 12_000);
    assert.equal(controllerLines(key, "stream controller destroyed")[0]!.reason, "the media ended", "played to its end, not cut");
    assert.ok(Date.now() - rtp.firstAt! >= 5000, "the whole 6 s clip was sent");
    assert.deepEqual(controllerLines(key, "stream ended early"), []);
    await waitFor("its gst-launch to be gone (no zombie)", () => gone(gst.pid), (g) => g, 5000);
    assert.equal(await outcome(() => controller.stop()), "::Ice::ObjectNotExistException");

    assert.deepEqual(problemsSince(t0), [], "no warning or error logged");
    assert.equal(logLines(logFile, "media removed").filter((l) => l.id === id).length, 1, "withdrawn once");
  });

  test("truncated: the stream stops at once with one clear line, the pipeline and the slot are freed, the file is served again when restored", async () => {
    const id = ids["truncated.mp4"]!;
    const rtp = await counter();
    const { controller, gst } = await play(id, rtp);
    const key = keyOf(controller);
    assert.equal(await outcome(() => providerPrx().getStream(ids["other.mp4"]!, token)), "Busy", "the stream holds the only slot");

    const t0 = Date.now();
    truncateSync(join(mediaDir, "truncated.mp4"), 100 * 1024);
    await waitFor("the controller to go", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 5000);
    const endedMs = Date.now() - t0;
    await waitFor("its gst-launch to be gone (no zombie)", () => gone(gst.pid), (g) => g, 5000);
    const early = controllerLines(key, "stream ended early");
    assert.equal(early.length, 1, JSON.stringify(early));
    assert.match(String(early[0]!.reason), /^the media file was truncated while it was streamed \(102400 of \d+ bytes left\)$/);
    assert.match(String(controllerLines(key, "stream controller destroyed")[0]!.reason), /^the stream ended early: the media file was truncated/);
    assert.equal(early[0]!.durationS, 20, "the media's duration (ffprobe) is in the line");
    assert.ok(Number(early[0]!.playedMs) < 5000, `played ${early[0]!.playedMs} ms of 20 s`);
    const last = rtp.packets;
    await waitFor("packets to stop", () => !rtp.activeWithin(700), (stopped) => stopped, 5000);
    assert.ok(rtp.packets - last < 100, "no more than what was on its way");
    console.log(`# truncated: controller destroyed ${endedMs} ms after the truncation`);

    // The controller is gone: getSDP and stop() say so; its slot is free.
    assert.equal(await outcome(() => controller.getSDP(token, rtp.port)), "::Ice::ObjectNotExistException");
    assert.equal(await outcome(() => controller.stop()), "::Ice::ObjectNotExistException");
    const other = (await providerPrx().getStream(ids["other.mp4"]!, token))!;
    await other.stop();

    // The truncated file is not the media any more; restored, it is served (and plays) again.
    await waitFor("isAvailable to turn false", () => providerPrx().isAvailable(id), (a) => a === false, 5000);
    assert.equal(await outcome(() => providerPrx().getStream(id, token)), "WrongMediaId");
    restore("truncated.mp4");
    await waitFor("the restored file to be served", () => providerPrx().isAvailable(id), (a) => a, 5000);
    const again = await counter();
    const replay = await play(id, again);
    await replay.controller.stop();
    await waitFor("the replay's gst-launch to be gone", () => gone(replay.gst.pid), (g) => g, 5000);

    const problems = problemsSince(t0);
    assert.deepEqual(problems.map((l) => l.msg), ["stream ended early"], JSON.stringify(problems));
  });

  test("overwritten with garbage in place: the stream stops (no garbage sent as the media), one clear line", async () => {
    const id = ids["garbage.mp4"]!;
    const rtp = await counter();
    const { controller, gst } = await play(id, rtp);
    const key = keyOf(controller);

    const t0 = Date.now();
    const path = join(mediaDir, "garbage.mp4");
    const fd = openSync(path, "r+");
    const noise = randomFillSync(Buffer.alloc(readFileSync(path).length));
    writeSync(fd, noise, 0, noise.length, 0); // same size, same inode
    closeSync(fd);
    await waitFor("the controller to go", () => controllerLines(key, "stream controller destroyed"), (l) => l.length > 0, 5000);
    console.log(`# garbage: controller destroyed ${Date.now() - t0} ms after the overwrite`);
    await waitFor("its gst-launch to be gone (no zombie)", () => gone(gst.pid), (g) => g, 5000);
    const early = controllerLines(key, "stream ended early");
    assert.equal(early.length, 1, JSON.stringify(early));
    assert.equal(early[0]!.reason, "the media file was modified while it was streamed");
    await waitFor("packets to stop", () => !rtp.activeWithin(700), (stopped) => stopped, 5000);
    await waitFor("isAvailable to turn false", () => providerPrx().isAvailable(id), (a) => a === false, 5000);
    assert.equal(await outcome(() => controller.stop()), "::Ice::ObjectNotExistException");
    // The slot is free.
    await (await providerPrx().getStream(ids["other.mp4"]!, token))!.stop();
    assert.deepEqual(problemsSince(t0).map((l) => l.msg), ["stream ended early"]);
  });

  test("renamed out of the folder: the stream plays on, the media is withdrawn; the same content back under another name is offered again under the same id", async () => {
    const id = ids["moved.mp4"]!;
    const rtp = await counter();
    const { controller, gst } = await play(id, rtp);
    const key = keyOf(controller);

    const t0 = Date.now();
    renameSync(join(mediaDir, "moved.mp4"), join(asideDir, "moved.mp4"));
    await waitFor("isAvailable to turn false", () => providerPrx().isAvailable(id), (a) => a === false, 5000);
    const withdrawnMs = Date.now() - t0;
    assert.equal(await outcome(() => providerPrx().getStream(id, token)), "WrongMediaId");
    const atMove = rtp.packets;
    await waitFor("packets after the rename", () => rtp.packets, (n) => n > atMove + 20, 5000);
    assert.ok(!gone(gst.pid), "the pipeline plays on");

    // The same bytes come back, freshly written (so the provider waits for them to settle).
    const t1 = Date.now();
    copyFileSync(join(asideDir, "moved.mp4"), join(mediaDir, "moved again.mp4"));
    await waitFor("the same content to be offered again", () => providerPrx().isAvailable(id), (a) => a, 8000);
    console.log(`# moved: isAvailable false ${withdrawnMs} ms after the rename; true again ${Date.now() - t1} ms after the copy back`);
    await controller.stop();
    await waitFor("its gst-launch to be gone", () => gone(gst.pid), (g) => g, 5000);
    const again = await counter();
    const replay = await play(id, again);
    await replay.controller.stop();
    assert.deepEqual(controllerLines(key, "stream ended early"), []);
    assert.equal(controllerLines(key, "stream controller destroyed")[0]!.reason, "stopped by the client");
    assert.deepEqual(problemsSince(t0), []);
  });
});

describe("the catalog stops handing out a provider for a withdrawn file", { timeout: 120_000 }, () => {
  test("getTile: another provider of the same file, TemporaryUnavailable when none is left, the provider again once the file is back", async () => {
    const data2 = tmp("iceflix-faults-data2-");
    const media2 = tmp("iceflix-faults-media2-");
    copyFileSync(join(dataDir, "secret"), join(data2, "secret"));
    restore("shared.mp4", "shared.mp4", media2);
    const second = await startProvider(data2, media2, join(data2, "streaming.log"));
    const catalogLog = join(dataDir, "catalog.log");
    const catalog = track(
      await startIceflix(
        [
          "catalog",
          "--data",
          dataDir,
          "--CatalogAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
          `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
          "--IceFlix.Announce.PeriodSeconds=1",
          "--IceFlix.Call.TimeoutMs=3000",
        ],
        { logFile: catalogLog },
      ),
    );
    const cat = IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(catalog.ready.proxy));
    const portOf = (proxy: string) => /-p (\d+)/.exec(proxy)![1]!;
    const [p1, p2] = [portOf(provider.ready.proxy), portOf(second.ready.proxy)];
    /** The provider (its port) getTile hands out, or the error. */
    const tile = async (id: string) => {
      try {
        return portOf((await cat.getTile(id))!.provider!.toString());
      } catch (e) {
        return errorKind(e);
      }
    };
    const tiles = async (id: string, n: number) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await tile(id));
      return out.sort();
    };
    const solo = ids["solo.mp4"]!;
    const shared = ids["shared.mp4"]!;
    await waitFor("the catalog to hand out the first provider for solo.mp4", () => tile(solo), (p) => p === p1, 20_000);
    await waitFor("both providers of shared.mp4, round-robin", () => tiles(shared, 2), (l) => l.join() === [p1, p2].sort().join(), 20_000);

    // solo.mp4 deleted from its only provider: a known title without a live provider.
    let t0 = Date.now();
    unlinkSync(join(mediaDir, "solo.mp4"));
    await waitFor("getTile to stop handing it out", () => tile(solo), (p) => p === "TemporaryUnavailable", 5000);
    console.log(`# catalog: getTile TemporaryUnavailable ${Date.now() - t0} ms after the delete`);
    assert.deepEqual(await cat.getTilesByName("solo.mp4", true), [solo], "still a known (searchable) title");
    assert.ok((await providerPrx().isAvailable(shared)) && (await providerPrx(second.ready.proxy).isAvailable(shared)));

    // shared.mp4 deleted from the second provider: the first one, every time.
    t0 = Date.now();
    unlinkSync(join(media2, "shared.mp4"));
    await waitFor("the second provider to withdraw it", () => providerPrx(second.ready.proxy).isAvailable(shared), (a) => a === false, 5000);
    assert.deepEqual(await tiles(shared, 4), [p1, p1, p1, p1]);
    console.log(`# catalog: only the other provider ${Date.now() - t0} ms after the delete`);

    // Both come back: re-announced, handed out again.
    t0 = Date.now();
    restore("solo.mp4");
    restore("shared.mp4", "shared.mp4", media2);
    await waitFor("solo.mp4 handed out again", () => tile(solo), (p) => p === p1, 8000);
    await waitFor("both providers of shared.mp4 again", () => tiles(shared, 2), (l) => l.join() === [p1, p2].sort().join(), 8000);
    console.log(`# catalog: handed out again ${Date.now() - t0} ms after the files came back`);
    assert.deepEqual(
      logEntries(catalogLog).filter((l) => (l.level ?? 0) >= 50),
      [],
      "the catalog logged no error",
    );
  });
});
