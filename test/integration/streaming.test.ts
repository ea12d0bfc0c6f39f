/**
 * The StreamProvider (spec §5; §6 short of playing: see streamingPipeline.test.ts) through real
 * IceStorm, with Python peers on the original contract: a listener on MediaAnnouncements and
 * ServiceAvailability that checks signatures with the deployment secret, a signed fake
 * Authenticator (isAuthorized(t) == (t == "good")) and catalog, and a contract-only client.
 * Every process is stopped in after() (also when a test fails); every wait is bounded and polls a
 * condition.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureSecret } from "../../src/runtime/secret.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN, startStreamingProvider, type ReadyProcess } from "../helpers/processes.js";
import { runPython, startPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";
import { TestResources } from "../helpers/testResources.js";
import { waitFor } from "../helpers/waitFor.js";
import { errorLines, logLines } from "../helpers/logFiles.js";

const run = promisify(execFile);

interface Event {
  event: string;
  id: string;
  name?: string;
  providerId?: string;
  proxy?: string;
  identity?: string;
  signature: string;
}

interface StepResult {
  ok?: unknown;
  error?: { type: string; ice_id?: string; unknown?: string; id?: string };
}

interface PeerReady {
  id: string;
  proxy: string;
}

const resources = new TestResources();
const tmp = (prefix: string) => resources.tmp(prefix);
const track = <T extends ReadyProcess<unknown>>(p: T) => resources.track(p);
let broker: TestBroker;
let listener: ReadyProcess<unknown>;
let provider: ReadyProcess<{ proxy: string; pid: number }>;
let dataDir: string;
let mediaDir: string;
let logFile: string;
/** sha256 of the file the escaping symlinks point at. */
let outsideId: string;
/** File name → expected media id. */
const expected = new Map<string, string>();

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Writes a file dated in the past, so the provider does not wait for it to settle. */
function writeOld(path: string, content: string | Buffer): void {
  writeFileSync(path, content);
  const t = Date.now() / 1000 - 60;
  utimesSync(path, t, t);
}

/** Everything the Python listener received so far. */
function events(): Event[] {
  return listener.stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Event).filter((e) => e.event !== "ready");
}

const newMediaOf = (providerId: string) => events().filter((e) => e.event === "newMedia" && e.providerId === providerId);

/** The id a provider announced on ServiceAvailability, found by its proxy's port. */
function announcedId(proxy: string): string | undefined {
  const port = /-p (\d+)/.exec(proxy)?.[1];
  // The last one: a later provider may reuse the port of one that stopped.
  return events().filter((e) => e.event === "mediaService" && e.proxy?.includes(`-p ${port}`)).at(-1)?.id;
}

async function client(providerProxy: string, steps: unknown[]): Promise<StepResult[]> {
  const out = await runPython<{ results: StepResult[] }>("streaming_client.py", [
    "--provider",
    providerProxy,
    "--topic-manager",
    broker.proxy,
    "--steps",
    JSON.stringify(steps),
  ]);
  return out.results;
}

async function startProvider(data: string, media: string, log: string, extra: string[] = []) {
  const extraProps = ["--IceFlix.Call.TimeoutMs=3000", ...extra];
  return track(await startStreamingProvider({ topicManager: broker.proxy, data, media, logFile: log, extra: extraProps }));
}

async function startPeer(kind: "auth" | "catalog", secretFile: string): Promise<ReadyProcess<PeerReady>> {
  return track(await startPython<PeerReady>("streaming_peer.py", ["--topic-manager", broker.proxy, "--secret-file", secretFile, "--kind", kind]));
}

/** Retries getStream with the good token until a provider has learned the fake Authenticator. */
async function untilAuthorized(providerProxy: string, id: string): Promise<void> {
  await waitFor(
    "the provider to learn the Authenticator",
    () => client(providerProxy, [{ op: "getStream", id, token: "good", save: "c" }, { op: "stop", ctl: "c" }]),
    (r) => r[0]!.ok !== undefined,
  );
}

const errorOf = (r: StepResult) => r.error ?? { type: `NO_ERROR (${JSON.stringify(r.ok)})` };

before(async () => {
  requireTool("ffmpeg");
  broker = await startTestBroker();
  dataDir = tmp("iceflix-streaming-data-");
  ensureSecret(join(dataDir, "secret")); // shared with the Python peers from the start
  mediaDir = tmp("iceflix-media-");
  const outside = tmp("iceflix-outside-");
  logFile = join(dataDir, "streaming.log");

  await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", join(mediaDir, "clip.mp4")], { timeout: 30_000 });
  utimesSync(join(mediaDir, "clip.mp4"), Date.now() / 1000 - 60, Date.now() / 1000 - 60);
  writeOld(join(mediaDir, "notes.txt"), "plain bytes: content does not matter here\n");
  writeOld(join(mediaDir, "Película ñ 🎬.bin"), Buffer.from([0, 1, 2, 3, 255]));
  writeOld(join(outside, "private.bin"), "never to be served");
  outsideId = sha256(join(outside, "private.bin"));
  symlinkSync(join(outside, "private.bin"), join(mediaDir, "absolute-escape"));
  symlinkSync(`../${outside.split("/").pop()}/private.bin`, join(mediaDir, "traversal-escape"));
  symlinkSync("clip.mp4", join(mediaDir, "alias-of-clip.mp4")); // same file: served once
  mkdirSync(join(mediaDir, "sub"));
  writeOld(join(mediaDir, "sub", "nested.bin"), "sub-folders are not served");
  for (const name of ["clip.mp4", "notes.txt", "Película ñ 🎬.bin"]) expected.set(name, sha256(join(mediaDir, name)));

  listener = track(await startPython("streaming_listener.py", ["--topic-manager", broker.proxy, "--secret-file", join(dataDir, "secret")]));
  provider = await startProvider(dataDir, mediaDir, logFile);
});

after(async () => {
  await resources.release();
  await broker?.stop();
});

describe("StreamProvider through IceStorm, with Python peers", () => {
  let providerId: string;

  test("announces itself and one signed newMedia per file: sha256 id, file name, its announced id", async () => {
    providerId = (await waitFor("the provider's mediaService announcement", () => announcedId(provider.ready.proxy), (id) => !!id))!;
    const mine = events().filter((e) => e.event === "mediaService" && e.id === providerId);
    assert.ok(mine.every((e) => e.signature === "valid" && e.identity === "StreamProvider"), JSON.stringify(mine));

    await waitFor("a newMedia per file", () => newMediaOf(providerId), (l) => l.length >= expected.size);
    await waitFor("the scan to finish", () => logLines(logFile, "media folder scanned"), (l) => l.length >= 1);
    // Nothing else may follow: give stragglers one announce period to show up.
    await new Promise((r) => setTimeout(r, 1000));
    const announced = newMediaOf(providerId);
    assert.deepEqual(
      announced.map((e) => [e.name, e.id]).sort(),
      [...expected].sort(),
      "exactly one newMedia per served file",
    );
    assert.ok(announced.every((e) => e.signature === "valid"), JSON.stringify(announced));
    assert.ok(!events().some((e) => e.id === outsideId), "a file outside the folder is never announced");
    assert.equal(logLines(logFile, "media hashed").length, expected.size);
  });

  test("isAvailable: true for served media, false otherwise", async () => {
    const ids = [...expected.values()];
    const r = await client(provider.ready.proxy, [
      ...ids.map((id) => ({ op: "isAvailable", id })),
      { op: "isAvailable", id: outsideId },
      { op: "isAvailable", id: "0".repeat(64) },
      { op: "isAvailable", id: "" },
    ]);
    assert.deepEqual(r.map((x) => x.ok), [...ids.map(() => true), false, false, false]);
  });

  test("reannounceMedia re-publishes every file without hashing again", async () => {
    const before = newMediaOf(providerId).length;
    const r = await client(provider.ready.proxy, [{ op: "reannounceMedia" }]);
    assert.deepEqual(r, [{ ok: null }]);
    await waitFor("the re-announcements", () => newMediaOf(providerId), (l) => l.length >= before + expected.size);
    const again = newMediaOf(providerId).slice(before);
    assert.deepEqual(again.map((e) => [e.name, e.id]).sort(), [...expected].sort());
    assert.ok(again.every((e) => e.signature === "valid"));
    assert.equal(logLines(logFile, "media hashed").length, expected.size, "nothing was hashed again");
  });

  test("getStream: Unauthorized without an Authenticator or with a bad token, WrongMediaId for an unknown id", async () => {
    const clip = expected.get("clip.mp4")!;
    const before = await client(provider.ready.proxy, [{ op: "getStream", id: clip, token: "good" }]);
    assert.equal(errorOf(before[0]!).type, "Unauthorized", "no Authenticator reachable: every token is refused");

    await startPeer("auth", join(dataDir, "secret"));
    await untilAuthorized(provider.ready.proxy, clip);
    const r = await client(provider.ready.proxy, [
      { op: "getStream", id: clip, token: "bad" },
      { op: "getStream", id: clip, token: "g".repeat(5000) },
      { op: "getStream", id: clip, token: "" },
      { op: "getStream", id: "f".repeat(64), token: "good" },
      { op: "getStream", id: "f".repeat(64), token: "bad" },
      { op: "getStream", id: outsideId, token: "good" },
    ]);
    assert.deepEqual(
      r.map((x) => errorOf(x).type),
      ["Unauthorized", "Unauthorized", "Unauthorized", "WrongMediaId", "Unauthorized", "WrongMediaId"],
    );
    assert.equal(r[3]!.error!.id, "f".repeat(64));
  });

  test("getStream with a good token gives a new StreamController each call", async () => {
    const clip = expected.get("clip.mp4")!;
    const r = await client(provider.ready.proxy, [
      { op: "getStream", id: clip, token: "good", save: "a" },
      { op: "getStream", id: clip, token: "good", save: "b" },
      { op: "getStream", id: expected.get("notes.txt")!, token: "good", save: "c" },
      { op: "stop", ctl: "a" },
      { op: "stop", ctl: "b" },
      { op: "stop", ctl: "c" },
    ]);
    const identities = r.slice(0, 3).map((x) => (x.ok as { identity: string }).identity);
    assert.equal(new Set(identities).size, 3, JSON.stringify(identities));
    for (const x of r.slice(0, 3)) {
      const { proxy } = x.ok as { proxy: string };
      assert.match(proxy, new RegExp(`-p ${/-p (\d+)/.exec(provider.ready.proxy)![1]}`), "served by the provider's adapter");
    }
    assert.deepEqual(r.slice(3), [{ ok: null }, { ok: null }, { ok: null }]);
  });

  test("StreamController: port and token checks, a unique sync topic, stop() destroys it", async () => {
    const clip = expected.get("clip.mp4")!;
    const r = await client(provider.ready.proxy, [
      { op: "getStream", id: clip, token: "good", save: "c" }, // 0
      { op: "getSDP", ctl: "c", token: "good", port: 0 }, // 1
      { op: "getSDP", ctl: "c", token: "good", port: 70000 }, // 2
      { op: "getSDP", ctl: "c", token: "good", port: -1 }, // 3
      { op: "getSDP", ctl: "c", token: "bad", port: 5000 }, // 4
      { op: "getSDP", ctl: "c", token: "good", port: 5000 }, // 5: streams (streamingPipeline.test.ts plays it)
      { op: "getSyncTopic", ctl: "c" }, // 6
      { op: "getSyncTopic", ctl: "c" }, // 7
      { op: "refreshAuthentication", ctl: "c", token: "bad" }, // 8
      { op: "refreshAuthentication", ctl: "c", token: "good" }, // 9
      { op: "getStream", id: clip, token: "good", save: "d" }, // 10
      { op: "getSyncTopic", ctl: "d" }, // 11
      { op: "stop", ctl: "c" }, // 12
      { op: "getSDP", ctl: "c", token: "good", port: 5000 }, // 13
      { op: "getSyncTopic", ctl: "c" }, // 14
      { op: "stop", ctl: "c" }, // 15
      { op: "getSyncTopic", ctl: "d" }, // 16: the other controller lives on
      { op: "stop", ctl: "d" }, // 17
    ]);
    // InvalidArgument is not declared by getSDP: a contract-only client sees UnknownUserException.
    for (const i of [1, 2, 3]) {
      assert.deepEqual(errorOf(r[i]!), { type: "UnknownUserException", ice_id: "::Ice::UnknownUserException", unknown: "::IceFlixExt::InvalidArgument" }, `step ${i}`);
    }
    assert.equal(errorOf(r[4]!).type, "Unauthorized");
    assert.match(String(r[5]!.ok), /^m=video 5000 RTP\/AVP 96\r?$/m);
    const topic = r[6]!.ok as { name: string; topicExists: boolean };
    assert.equal(topic.topicExists, true, "the sync topic exists once named");
    assert.deepEqual(r[7]!.ok, topic, "the same topic on every call");
    assert.equal(errorOf(r[8]!).type, "Unauthorized");
    assert.deepEqual(r[9], { ok: null });
    const other = r[11]!.ok as { name: string };
    assert.notEqual(other.name, topic.name, "each controller has its own topic");
    assert.deepEqual(r[12], { ok: null });
    for (const i of [13, 14, 15]) assert.equal(errorOf(r[i]!).type, "ObjectNotExistException", `step ${i}`);
    assert.deepEqual(r[16]!.ok, other);
    const gone = await client(provider.ready.proxy, [{ op: "topicExists", name: topic.name }, { op: "topicExists", name: other.name }]);
    assert.deepEqual(gone.map((x) => x.ok), [false, false], "sync topics are destroyed with their controllers");
  });

  test("a catalog it did not know makes it re-announce every file", async () => {
    const before = newMediaOf(providerId).length;
    await startPeer("catalog", join(dataDir, "secret"));
    await waitFor("the re-announcements", () => newMediaOf(providerId), (l) => l.length >= before + expected.size);
    const again = newMediaOf(providerId).slice(before);
    assert.deepEqual(again.map((e) => [e.name, e.id]).sort(), [...expected].sort());
  });

  test("a file added while running is announced; an escaping link added while running never is", async () => {
    const outside = tmp("iceflix-outside-late-");
    writeFileSync(join(outside, "late-secret.bin"), "late, and outside");
    const lateOutsideId = sha256(join(outside, "late-secret.bin"));
    symlinkSync(join(outside, "late-secret.bin"), join(mediaDir, "late-escape.bin"));
    writeFileSync(join(mediaDir, "added later.bin"), "added while the provider runs");
    const id = sha256(join(mediaDir, "added later.bin"));
    const seen = await waitFor("the new file's newMedia", () => newMediaOf(providerId).filter((e) => e.id === id), (l) => l.length > 0);
    assert.equal(seen[0]!.name, "added later.bin");
    assert.equal(seen[0]!.signature, "valid");
    const r = await client(provider.ready.proxy, [{ op: "isAvailable", id }, { op: "isAvailable", id: lateOutsideId }]);
    assert.deepEqual(r.map((x) => x.ok), [true, false]);
    assert.ok(!events().some((e) => e.id === lateOutsideId || e.id === outsideId));
    expected.set("added later.bin", id);
  });

  test("Busy at IceFlix.Stream.MaxConcurrent; unused controllers are destroyed; the secret is created at start", async () => {
    const data = tmp("iceflix-streaming-data2-");
    const media = tmp("iceflix-media2-");
    writeOld(join(media, "only.bin"), "one file");
    const onlyId = sha256(join(media, "only.bin"));
    const log = join(data, "streaming.log");
    const second = await startProvider(data, media, log, ["--IceFlix.Stream.MaxConcurrent=2", "--IceFlix.Stream.UnusedControllerSeconds=2"]);
    const secret = join(data, "secret");
    assert.match(readFileSync(secret, "utf8"), /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(secret).mode & 0o777, 0o600);
    await startPeer("auth", secret); // signed with this provider's secret
    await waitFor("the file to be served", () => client(second.ready.proxy, [{ op: "isAvailable", id: onlyId }]), (r) => r[0]!.ok === true);
    await untilAuthorized(second.ready.proxy, onlyId);

    const r = await client(second.ready.proxy, [
      { op: "getStream", id: onlyId, token: "good", save: "a" },
      { op: "getStream", id: onlyId, token: "good", save: "b" },
      { op: "getStream", id: onlyId, token: "good" },
      { op: "stop", ctl: "a" },
      { op: "getStream", id: onlyId, token: "good", save: "c" },
    ]);
    assert.ok(r[0]!.ok && r[1]!.ok, JSON.stringify(r));
    assert.deepEqual(errorOf(r[2]!), { type: "UnknownUserException", ice_id: "::Ice::UnknownUserException", unknown: "::IceFlixExt::Busy" });
    assert.deepEqual(r[3], { ok: null });
    assert.ok(r[4]!.ok, "stop() frees a slot");

    // b and c are never given getSDP: both are destroyed after 2 s, which frees both slots.
    const b = (r[1]!.ok as { proxy: string }).proxy;
    await waitFor("the unused controller to be destroyed", () => client(second.ready.proxy, [{ op: "getSyncTopic", proxy: b }]), (x) => errorOf(x[0]!).type === "ObjectNotExistException", 8000);
    const freed = await waitFor(
      "both slots to be free",
      () => client(second.ready.proxy, [
        { op: "getStream", id: onlyId, token: "good", save: "x" },
        { op: "getStream", id: onlyId, token: "good", save: "y" },
        { op: "stop", ctl: "x" },
        { op: "stop", ctl: "y" },
      ]),
      (x) => x.every((s) => s.error === undefined),
      8000,
    );
    assert.equal(freed.length, 4);
    assert.ok(logLines(log, "stream controller destroyed").some((l) => String(l.reason).startsWith("unused")));

    // A clean stop on SIGTERM; a restart on the same data folder hashes nothing.
    await second.child.stop(10_000);
    assert.equal((await second.child.exited).code, 0, "exit code 0 after SIGTERM");
    assert.ok(logLines(log, "StreamProvider stopped").length === 1);
    const log2 = join(data, "streaming-2.log");
    const third = await startProvider(data, media, log2);
    const thirdId = (await waitFor("the restarted provider's announcement", () => announcedId(third.ready.proxy), (id) => !!id))!;
    await waitFor("its newMedia", () => newMediaOf(thirdId), (l) => l.length >= 1);
    assert.deepEqual(newMediaOf(thirdId).map((e) => [e.name, e.id]), [["only.bin", onlyId]]);
    assert.equal(logLines(log2, "media hashed").length, 0, "a restart hashes nothing (hash cache)");
    await third.stop();
  });

  test("the provider logged no errors", () => {
    assert.deepEqual(errorLines(logFile), []);
  });

  test("the CLI refuses a missing or non-directory media folder with a clear error", async () => {
    const data = tmp("iceflix-streaming-data3-");
    const file = join(data, "a-file");
    writeFileSync(file, "x");
    const cases: Array<[string[], RegExp]> = [
      [["--media", join(data, "missing")], /the media folder .*missing does not exist/],
      [["--media", file], /the media folder .*a-file is not a directory/],
      [[], /no media folder: give --media DIR/],
    ];
    for (const [args, message] of cases) {
      const r = await run(process.execPath, [ICEFLIX_BIN, "streaming", "--data", data, "--StreamingAdapter.Endpoints=tcp -h 127.0.0.1 -p 0", `--IceFlix.IceStorm/TopicManager=${broker.proxy}`, ...args], { timeout: 20_000 }).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
      assert.equal(r.code, 1, JSON.stringify(r));
      const failure = r.stderr.split("\n").filter((l) => l.startsWith("iceflix streaming: failed to start"));
      assert.equal(failure.length, 1, r.stderr);
      assert.match(failure[0]!, message);
      assert.ok(!/\n\s+at /.test(r.stderr), "no stack trace");
    }
  });
});
