/**
 * The MediaCatalog service (spec §2, §4, §7, §10) through real IceStorm, with Python peers on the
 * original contract: a fake StreamProvider and a fake Authenticator (test/interop/py/
 * catalog_peer.py) announce themselves signed; a Python client (catalog_client.py) makes the
 * calls that are asserted. Every process is stopped in after(), also when a test fails; every
 * wait polls a condition with a deadline.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { runPython, startPython } from "../helpers/python.js";
import { waitFor as pollUntil } from "../helpers/waitFor.js";

const PERIOD_S = 1;
const M1 = "a1".repeat(32);
const M2 = "b2".repeat(32);
const M3 = "c3".repeat(32);
const M4 = "d4".repeat(32);
const M5 = "e5".repeat(32);
const UNKNOWN = "ff".repeat(32);
const INVALID = "::IceFlixExt::InvalidArgument";

interface PeerReady {
  kind: string;
  id: string;
  proxy: string;
}

interface CallError {
  type: string;
  ice_id?: string;
  unknown?: string;
  id?: string;
  reason?: string;
}

type CallResult = { ok: unknown } | { error: CallError };

interface Tile {
  id: string;
  provider: string;
  provider_identity: string;
  name: string;
  tags: string[];
}

const running = new Set<ReadyProcess<unknown>>();
const tmpDirs: string[] = [];
let broker: TestBroker;
let communicator: Ice.Communicator | undefined;
let dataDir: string;
let secretFile: string;

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

function track<T extends ReadyProcess<unknown>>(p: T): T {
  running.add(p);
  void p.child.exited.then(() => running.delete(p));
  return p;
}

interface Catalog {
  process: ReadyProcess<{ proxy: string; pid: number }>;
  proxy: string;
  logFile: string;
}

async function startCatalog(data: string, extra: string[] = []): Promise<Catalog> {
  const logFile = join(tmp("iceflix-catalog-log-"), "catalog.log");
  const proc = track(
    await startIceflix(
      [
        "catalog",
        "--data",
        data,
        "--CatalogAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
        `--IceFlix.Announce.PeriodSeconds=${PERIOD_S}`,
        "--IceFlix.Call.TimeoutMs=3000",
        ...extra,
      ],
      { logFile },
    ),
  );
  return { process: proc, proxy: proc.ready.proxy, logFile };
}

async function startPeer(kind: "provider" | "auth", args: string[] = []): Promise<ReadyProcess<PeerReady>> {
  return track(
    await startPython<PeerReady>("catalog_peer.py", [
      "--kind",
      kind,
      "--topic-manager",
      broker.proxy,
      "--secret-file",
      secretFile,
      "--period",
      String(PERIOD_S),
      ...args,
    ]),
  );
}

/** Runs calls from the Python client; one result per call. */
async function py(proxy: string, ops: object[], ext = false): Promise<CallResult[]> {
  const out = await runPython<{ results: CallResult[] }>("catalog_client.py", [proxy, JSON.stringify(ops), ...(ext ? ["--ext"] : [])], 30_000);
  return out.results;
}

async function pyOne(proxy: string, op: object, ext = false): Promise<CallResult> {
  return (await py(proxy, [op], ext))[0]!;
}

function ok<T>(r: CallResult, what = ""): T {
  assert.ok("ok" in r, `${what}: expected success, got ${JSON.stringify(r)}`);
  return r.ok as T;
}

function err(r: CallResult, what = ""): CallError {
  assert.ok("error" in r, `${what}: expected an exception, got ${JSON.stringify(r)}`);
  return r.error;
}

/** An in-process client for polling (cheaper than a Python process per poll). */
function catalogPrx(proxy: string): IceFlix.MediaCatalogPrx {
  communicator ??= Ice.initialize();
  return IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(proxy)).ice_invocationTimeout(5000);
}

/** The shared bounded poll, with this file's longer default (catalog start-up relearns media). */
function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  return pollUntil(what, probe, done, timeoutMs);
}

/** Resolves with getTile's provider identity once the media is available. */
function waitForAvailable(proxy: string, id: string): Promise<string> {
  return waitFor(
    `${id.slice(0, 8)}… to be available`,
    async () => {
      const m = await catalogPrx(proxy).getTile(id);
      return m.provider ? Ice.identityToString(m.provider.ice_getIdentity()) : "";
    },
    (identity) => identity !== "",
  );
}

function waitForLogLine(file: string, pattern: RegExp, what: string): Promise<string> {
  return waitFor(
    what,
    async () => readFileSync(file, "utf8").split("\n").find((l) => pattern.test(l)) ?? "",
    (line) => line !== "",
  );
}

const identityOf = (proxy: string) => proxy.split(/\s|:/)[0]!;
const reannounces = (p: ReadyProcess<unknown>) => p.stdout.filter((l) => l.includes('"reannounce"')).length;

let catalog: Catalog;
let provider: ReadyProcess<PeerReady>;

before(async () => {
  broker = await startTestBroker();
  dataDir = tmp("iceflix-catalog-");
  secretFile = join(dataDir, "secret");
  // The deployment secret, written first so that the peers can sign with it (the catalog keeps it).
  writeFileSync(secretFile, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
  catalog = await startCatalog(dataDir);
  await startPeer("auth");
  provider = await startPeer("provider", ["--media", `${M1}=Movie One`, `${M2}=Second Film`]);
});

after(async () => {
  await Promise.allSettled([...running].map((p) => p.stop(2000)));
  await broker?.stop();
  await communicator?.destroy();
  // ICEFLIX_KEEP_TEST_DATA=1 keeps data folders and logs for a look after a failure.
  if (!process.env.ICEFLIX_KEEP_TEST_DATA) for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  else console.log(`kept: ${tmpDirs.join(" ")}`);
});

describe("MediaCatalog with Python peers through IceStorm", () => {
  test("a signed newMedia makes the title searchable, and getTile returns the Python provider", async () => {
    await waitFor("Movie One to be searchable", () => catalogPrx(catalog.proxy).getTilesByName("movie one", true), (ids) => ids.length === 1);
    await waitForAvailable(catalog.proxy, M1);
    const [byName, tile, all] = await py(catalog.proxy, [
      { op: "getTilesByName", name: "MOVIE", exact: false },
      { op: "getTile", id: M1 },
      { op: "getTilesByName", name: "", exact: false },
    ]);
    assert.deepEqual(ok(byName!), [M1]);
    const t = ok<Tile>(tile!);
    assert.equal(t.id, M1);
    assert.equal(t.name, "Movie One");
    assert.deepEqual(t.tags, []);
    assert.equal(t.provider_identity, identityOf(provider.ready.proxy));
    assert.deepEqual(ok(all!), [M1, M2], "sorted by name: Movie One, Second Film");
  });

  test("an unknown id raises WrongMediaId carrying the id", async () => {
    const [a, b] = await py(catalog.proxy, [
      { op: "getTile", id: UNKNOWN },
      { op: "getTile", id: "not-a-media-id" },
    ]);
    assert.equal(err(a!).type, "WrongMediaId");
    assert.equal(err(a!).id, UNKNOWN);
    assert.equal(err(b!).id, "not-a-media-id");
  });

  test("with a good token, rename / addTags / removeTags are applied and searchable", async () => {
    // The catalog learns the Python Authenticator from its announcements.
    await waitFor(
      "the Authenticator to be known (rename accepted)",
      () => pyOne(catalog.proxy, { op: "renameTile", id: M1, name: "  Élan Vital  ", token: "good" }),
      (r) => "ok" in r,
    );
    const results = await py(catalog.proxy, [
      { op: "addTags", id: M1, tags: ["drama", "Drama", "drama"], token: "good" },
      { op: "addTags", id: M1, tags: ["drama", "classic"], token: "good" },
      { op: "removeTags", id: M1, tags: ["Drama", "absent"], token: "good" },
      { op: "getTile", id: M1 },
      { op: "getTilesByName", name: "e\u0301lan", exact: false },
      { op: "getTilesByName", name: "ÉLAN VITAL", exact: true },
      { op: "getTilesByTags", tags: ["drama", "classic"], all: true },
      { op: "getTilesByTags", tags: ["classic", "nope"], all: false },
      { op: "getTilesByTags", tags: [], all: false },
      { op: "renameTile", id: UNKNOWN, name: "x", token: "good" },
      { op: "addTags", id: UNKNOWN, tags: ["x"], token: "good" },
    ]);
    for (const r of results.slice(0, 3)) ok(r);
    const t = ok<Tile>(results[3]!);
    assert.equal(t.name, "Élan Vital", "trimmed");
    assert.deepEqual(t.tags, ["drama", "classic"], "no duplicates, absent removal ignored");
    assert.deepEqual(ok(results[4]!), [M1], "decomposed query finds the composed name");
    assert.deepEqual(ok(results[5]!), [M1]);
    assert.deepEqual(ok(results[6]!), [M1]);
    assert.deepEqual(ok(results[7]!), [M1]);
    assert.deepEqual(ok(results[8]!), []);
    assert.equal(err(results[9]!).type, "WrongMediaId");
    assert.equal(err(results[10]!).id, UNKNOWN);
  });

  test("with a bad token every edit raises Unauthorized and changes nothing", async () => {
    const results = await py(catalog.proxy, [
      { op: "renameTile", id: M1, name: "Hacked", token: "bad" },
      { op: "addTags", id: M1, tags: ["hacked"], token: "bad" },
      { op: "removeTags", id: M1, tags: ["drama"], token: "bad" },
      { op: "renameTile", id: UNKNOWN, name: "Hacked", token: "" },
      { op: "getTile", id: M1 },
    ]);
    for (const r of results.slice(0, 4)) assert.equal(err(r).type, "Unauthorized");
    const t = ok<Tile>(results[4]!);
    assert.equal(t.name, "Élan Vital");
    assert.deepEqual(t.tags, ["drama", "classic"]);
  });

  test("after kill -9 and a restart on the same data, edits are there and media are relearned through reannounceMedia", async () => {
    const before = reannounces(provider);
    assert.ok(before >= 1, "the catalog asked the provider once when it learned it");
    await catalog.process.child.stop(0, "SIGKILL");
    catalog = await startCatalog(dataDir);
    const t = ok<Tile>(await waitFor("getTile to work after the restart", () => pyOne(catalog.proxy, { op: "getTile", id: M1 }), (r) => "ok" in r));
    assert.equal(t.name, "Élan Vital");
    assert.deepEqual(t.tags, ["drama", "classic"]);
    assert.equal(t.provider_identity, identityOf(provider.ready.proxy));
    assert.ok(reannounces(provider) > before, "the restarted catalog called reannounceMedia");
  });

  test("an unsigned newMedia is ignored, and accepted by a catalog with IceFlix.Events.AllowUnsigned=1", async () => {
    const permissive = await startCatalog(tmp("iceflix-catalog-unsigned-"), [
      `--IceFlix.Secret.File=${secretFile}`,
      "--IceFlix.Events.AllowUnsigned=1",
    ]);
    // The permissive catalog must know the provider for the event to apply at once.
    await waitForAvailable(permissive.proxy, M1);
    await runPython("catalog_publish.py", ["--topic-manager", broker.proxy, "--id", M3, "--name", "Unsigned Film", "--provider-id", provider.ready.id]);
    await waitFor("the permissive catalog to store the unsigned title", () => catalogPrx(permissive.proxy).getTilesByName("unsigned", false), (ids) => ids.length === 1);
    await waitForLogLine(catalog.logFile, /"topic":"MediaAnnouncements".*"reason":"unsigned"/, "the strict catalog to drop the unsigned event");
    const [strict, tile] = await py(catalog.proxy, [
      { op: "getTilesByName", name: "unsigned", exact: false },
      { op: "getTile", id: M3 },
    ]);
    assert.deepEqual(ok(strict!), []);
    assert.equal(err(tile!).type, "WrongMediaId");
    assert.deepEqual(ok(await pyOne(permissive.proxy, { op: "getTilesByName", name: "Unsigned Film", exact: true })), [M3]);
    await permissive.process.stop(2000);
  });

  test("bad input raises declared exceptions, changes nothing, and the catalog stays up", async () => {
    const edits = [
      { op: "renameTile", id: M1, name: "", token: "good" },
      { op: "renameTile", id: M1, name: "   ", token: "good" },
      { op: "renameTile", id: M1, name: { repeat: "x", times: 513 }, token: "good" },
      { op: "renameTile", id: M1, name: { repeat: "é", times: 100_000 }, token: "good" },
      { op: "renameTile", id: M1, name: "bad\u0000name", token: "good" },
      { op: "renameTile", id: M1, name: "bad\nname", token: "good" },
      { op: "addTags", id: M1, tags: { gen: "t", count: 10_000 }, token: "good" },
      { op: "addTags", id: M1, tags: ["ok", "x".repeat(129)], token: "good" },
      { op: "addTags", id: M1, tags: ["ok", ""], token: "good" },
      { op: "addTags", id: M1, tags: { gen: "many", count: 255 }, token: "good" }, // 2 + 255 > 256 per title
      { op: "getTilesByName", name: { repeat: "y", times: 513 }, exact: false },
      { op: "getTilesByTags", tags: { gen: "t", count: 1001 }, all: false },
    ];
    for (const ext of [false, true]) {
      const results = await py(catalog.proxy, edits, ext);
      results.forEach((r, i) => {
        const e = err(r, `${JSON.stringify(edits[i]).slice(0, 80)} (ext=${ext})`);
        // InvalidArgument is not declared by the original operations: every Ice 3.7 client,
        // extension-aware or not, receives it as UnknownUserException naming the type.
        assert.equal(e.type, "UnknownUserException", JSON.stringify(e));
        assert.equal(e.unknown, INVALID);
      });
    }
    const [raw, rawTags, rawCtl, tile, longOk, unicode, longId, ping] = await py(catalog.proxy, [
      { op: "raw", operation: "renameTile", args: [M1, "", "good"] },
      { op: "raw", operation: "addTags", args: [M1, { gen: "t", count: 10_000 }, "good"] },
      { op: "raw", operation: "renameTile", args: [M1, "a\u0007b", "good"] },
      { op: "getTile", id: M1 },
      { op: "getTilesByName", name: { repeat: "z", times: 512 }, exact: false },
      { op: "getTilesByName", name: "Ñandú 🎬 東京", exact: true },
      { op: "getTile", id: { repeat: "f", times: 5000 } },
      { op: "ping" },
    ]);
    // On the wire the reason is there for clients that read it.
    assert.deepEqual(ok(raw!), { ok: false, type_id: INVALID, reason: "title name is empty" });
    assert.deepEqual(ok(rawTags!), { ok: false, type_id: INVALID, reason: "more than 1000 tags in one call" });
    assert.deepEqual(ok(rawCtl!), { ok: false, type_id: INVALID, reason: "title name contains control characters" });
    const t = ok<Tile>(tile!);
    assert.equal(t.name, "Élan Vital", "no change");
    assert.deepEqual(t.tags, ["drama", "classic"], "no change");
    assert.deepEqual(ok(longOk!), [], "512 characters is within the limit");
    assert.deepEqual(ok(unicode!), []);
    // An id no media can have is still the contract's WrongMediaId (spec §0), not InvalidArgument.
    assert.equal(err(longId!).type, "WrongMediaId");
    assert.equal(ok(ping!), true);

    // Unicode names within the limits are fine, and the exact limit is accepted.
    const [rename, found, max, back] = await py(catalog.proxy, [
      { op: "renameTile", id: M2, name: "Ñandú 🎬 東京", token: "good" },
      { op: "getTilesByName", name: "ñandú 🎬 東京", exact: true },
      { op: "renameTile", id: M2, name: { repeat: "🎬", times: 512 }, token: "good" },
      { op: "renameTile", id: M2, name: "Second Film", token: "good" },
    ]);
    ok(rename!);
    assert.deepEqual(ok(found!), [M2]);
    ok(max!, "512 astral characters (1024 UTF-16 units) are 512 characters");
    ok(back!);
    assert.equal(catalog.process.child.running, true);
  });

  test("a newMedia from a provider not known yet is kept until that provider is learned", async () => {
    const laterId = randomUUID();
    await runPython("catalog_publish.py", [
      "--topic-manager", broker.proxy, "--id", M4, "--name", "Parked Film", "--provider-id", laterId, "--secret-file", secretFile,
    ]);
    // Published after the one above on the same topic: once it is stored, the first was handled.
    await runPython("catalog_publish.py", [
      "--topic-manager", broker.proxy, "--id", M5, "--name", "Marker Film", "--provider-id", provider.ready.id, "--secret-file", secretFile,
    ]);
    await waitFor("the marker title", () => catalogPrx(catalog.proxy).getTilesByName("marker film", true), (ids) => ids.length === 1);
    assert.deepEqual(ok(await pyOne(catalog.proxy, { op: "getTilesByName", name: "parked", exact: false })), [], "parked, not stored");
    // It serves M4 (getTile asks the provider's isAvailable), publishing it only when the catalog
    // asks (reannounceMedia), under another name: the title is named by the parked event.
    const later = await startPeer("provider", ["--id", laterId, "--no-publish", "--media", `${M4}=Not The Parked Name`]);
    assert.equal(await waitForAvailable(catalog.proxy, M4), identityOf(later.ready.proxy));
    const t = ok<Tile>(await pyOne(catalog.proxy, { op: "getTile", id: M4 }));
    assert.equal(t.name, "Parked Film");
    await later.stop(2000);
  });

  test("when the provider dies, getTile raises TemporaryUnavailable but searches still find the title", async () => {
    await provider.child.stop(0, "SIGKILL");
    const [tile, search, tags] = await py(catalog.proxy, [
      { op: "getTile", id: M1 },
      { op: "getTilesByName", name: "élan", exact: false },
      { op: "getTilesByTags", tags: ["classic"], all: true },
    ]);
    assert.equal(err(tile!).type, "TemporaryUnavailable");
    assert.deepEqual(ok(search!), [M1]);
    assert.deepEqual(ok(tags!), [M1]);
  });
});
