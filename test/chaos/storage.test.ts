/**
 * Chaos: storage faults (README "Reliability"). The data folder of an Authenticator, a catalog and
 * a StreamProvider (started one by one, the broker elsewhere) is a 2 MiB tmpfs: a real disk that
 * fills up, and that is remounted read-only between runs (Linux refuses to remount a file system
 * read-only while a process has a file open for writing on it: EBUSY, so a read-only folder is a
 * start-up condition). Logs, the secret and the media folder live outside it.
 *
 * Disk full, while running: every catalog edit is refused with Busy{"storage full: …"} and changes
 * nothing (not in searches, not in getTile), searches and getTile keep working, one log line names
 * the condition and the DB; logins and token checks keep working, throttling goes on in memory;
 * `user add` exits 1 with one line; the provider's hash cache is left intact with no temp file;
 * once space is freed, edits and queued newMedia are saved without a restart. Read-only: catalog
 * and Authenticator refuse to start with one line (exit 1), `user add` exits 1, the provider starts.
 * Afterwards: integrity_check ok and every acknowledged edit there, also after a restart.
 *
 * Needs root (mount). Under CI=true a missing capability fails the test; elsewhere it is skipped
 * with the reason. The tmpfs is unmounted in after(), also when a test fails.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { ensureSecret } from "../../src/runtime/secret.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { IN_CI } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { iceflix } from "./lib/deployment.js";
import { logEntries } from "../helpers/logFiles.js";
import { errorKind, newCommunicator, sha256hex } from "./lib/client.js";
import { figure } from "./lib/figures.js";

const PERIOD = "--IceFlix.Announce.PeriodSeconds=1";
const USER = "alice";
const PASSWORD = "storage-pw";

/** Can this process mount a tmpfs (root, mount(8))? Undefined when it can, else why not. */
function mountCapability(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root: mounting a tmpfs needs root";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (e) {
    return `mount -t tmpfs failed: ${String((e as { stderr?: Buffer }).stderr ?? e).trim()}`;
  }
}

function mounted(dir: string): boolean {
  return readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === dir);
}

function remount(dir: string, mode: "ro" | "rw"): void {
  execFileSync("mount", ["-o", `remount,${mode}`, dir], { stdio: "pipe" });
}

/** Fills the file system of `dir` with filler files until ENOSPC; bytes written. */
function fill(dir: string): number {
  let bytes = 0;
  const block = Buffer.alloc(4096, 0x5a);
  for (let n = 0; ; n++) {
    let fd: number;
    try {
      fd = openSync(join(dir, `filler-${n}`), "w");
    } catch {
      return bytes; // not even a new inode
    }
    try {
      for (;;) bytes += writeSync(fd, block);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
    } finally {
      closeSync(fd);
    }
    // One more file with smaller writes takes the last partial block.
    if (n >= 1) return bytes;
  }
}

function unfill(dir: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith("filler-")) rmSync(join(dir, f));
}


function integrity(file: string): string {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma("integrity_check") as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}

describe("chaos: storage faults (disk full, read-only data folder)", { timeout: 120_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "iceflix-chaos-storage-"));
  const data = join(root, "data");
  const logs = join(root, "logs");
  const media = join(root, "media");
  const secretFile = join(root, "secret");
  let capability: string | undefined = "not checked";
  let broker: TestBroker | undefined;
  const running = new Map<string, ReadyProcess<{ proxy: string; pid: number }>>();
  const communicator = newCommunicator();
  /** The acknowledged state: id → name and tags, as the client was told it is saved. */
  const acked = new Map<string, { name: string; tags: Set<string> }>();
  let ids: string[] = [];

  function skipUnlessCapable(t: { skip: (m: string) => void }): boolean {
    if (capability === undefined) return false;
    if (IN_CI) throw new Error(`storage chaos needs to mount a tmpfs: ${capability}`);
    t.skip(capability);
    return true;
  }

  const common = () => [`--IceFlix.IceStorm/TopicManager=${broker!.proxy}`, PERIOD, `--IceFlix.Secret.File=${secretFile}`, "--IceFlix.Call.TimeoutMs=3000"];

  async function start(kind: "auth" | "catalog" | "streaming"): Promise<ReadyProcess<{ proxy: string; pid: number }>> {
    const adapter = { auth: "AuthenticatorAdapter", catalog: "CatalogAdapter", streaming: "StreamingAdapter" }[kind];
    const p = await startIceflix(
      [kind, "--data", data, `--${adapter}.Endpoints=tcp -h 127.0.0.1 -p 0`, ...common(), ...(kind === "streaming" ? ["--media", media] : [])],
      { logFile: join(logs, `${kind}.log`) },
    );
    running.set(kind, p);
    return p;
  }

  async function stop(kind: string): Promise<void> {
    await running.get(kind)?.stop();
    running.delete(kind);
  }

  const auth = () => IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(running.get("auth")!.ready.proxy));
  const catalog = () => IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(running.get("catalog")!.ready.proxy));

  /** Every acknowledged name and tag is what the catalog answers (searches only: no provider needed). */
  async function assertAckedState(where: string): Promise<void> {
    for (const [id, want] of acked) {
      assert.deepEqual(await catalog().getTilesByName(want.name, true), [id], `${where}: name of ${id.slice(0, 8)}`);
      if (want.tags.size > 0) assert.ok((await catalog().getTilesByTags([...want.tags], true)).includes(id), `${where}: tags of ${id.slice(0, 8)}`);
    }
  }

  before(async () => {
    mkdirSync(data, { recursive: true });
    mkdirSync(logs, { recursive: true });
    mkdirSync(media, { recursive: true });
    capability = mountCapability(data);
    if (capability !== undefined) return;
    ensureSecret(secretFile);
    for (let i = 0; i < 3; i++) writeFileSync(join(media, `clip-${i}.bin`), randomBytes(32 * 1024));
    broker = await startTestBroker();
    const added = await iceflix(["user", "add", USER, "--data", data, "--password-stdin"], `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    await start("auth");
    await start("catalog");
    await start("streaming");
    ids = await waitFor("3 titles in the catalog", () => catalog().getTilesByName("", false), (v) => v.length === 3, 20_000);
  });

  after(async () => {
    for (const kind of [...running.keys()].reverse()) await stop(kind).catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    await communicator.destroy().catch(() => undefined);
    for (let i = 0; i < 5 && mounted(data); i++) {
      try {
        execFileSync("umount", [data], { stdio: "pipe" });
      } catch {
        execFileSync("umount", ["-l", data], { stdio: "pipe" });
      }
    }
    assert.equal(mounted(data), false, `${data} is still mounted`);
    if (!process.env.ICEFLIX_KEEP_TEST_DATA) rmSync(root, { recursive: true, force: true });
  });

  test("disk full: edits refused with Busy and not applied, reads and logins go on, all saved again once space is freed", async (t) => {
    if (skipUnlessCapable(t)) return;
    const token = await auth().refreshAuthorization(USER, sha256hex(PASSWORD));
    // Acknowledged edits before the fault.
    let before = 0;
    for (let i = 0; i < 12; i++) {
      const id = ids[i % 3]!;
      const name = `before ${i} ${id.slice(0, 6)}`;
      await catalog().renameTile(id, name, token);
      await catalog().addTags(id, [`b${i}`], token);
      const entry = acked.get(id) ?? { name, tags: new Set<string>() };
      entry.name = name;
      entry.tags.add(`b${i}`);
      acked.set(id, entry);
      before += 2;
    }
    const cacheBefore = readFileSync(join(data, "hash-cache.json"), "utf8");

    const filled = fill(data);
    const t0 = Date.now();
    // Edits on a full disk: each either acknowledged (then it must be durable) or refused with
    // Busy and invisible. Long names and many tags grow the WAL fast.
    let refused = 0;
    let ackedWhileFull = 0;
    const reasons = new Set<string>();
    for (let i = 0; i < 40 && refused < 15; i++) {
      const id = ids[i % 3]!;
      const name = `full ${i} ${"x".repeat(400)}`;
      const tags = Array.from({ length: 20 }, (_, k) => `f${i}-${k}-${"t".repeat(80)}`);
      for (const [op, call] of [
        ["rename", () => catalog().renameTile(id, name, token)],
        ["addTags", () => catalog().addTags(id, tags, token)],
        ["removeTags", () => catalog().removeTags(id, [...acked.get(id)!.tags].slice(0, 1), token)],
      ] as const) {
        try {
          await call();
          ackedWhileFull++;
          const entry = acked.get(id)!;
          if (op === "rename") entry.name = name;
          else if (op === "addTags") for (const tag of tags) entry.tags.add(tag);
          else entry.tags.delete([...entry.tags][0]!);
        } catch (e) {
          assert.equal(errorKind(e), "Busy", `${op} on a full disk: ${String(e)}`);
          reasons.add(String((e as Ice.UnknownUserException).unknown));
          refused++;
        }
      }
      // Nothing half-applied: the refused name is nowhere, the index says what was acknowledged.
      if (acked.get(id)!.name !== name) assert.deepEqual(await catalog().getTilesByName(name, true), [], "a refused rename is not searchable");
      const tile = await catalog().getTile(id);
      assert.equal(tile.info.name, acked.get(id)!.name);
      assert.deepEqual(new Set(tile.info.tags), acked.get(id)!.tags);
    }
    assert.ok(refused >= 15, `edits refused on the full disk: ${refused}`);
    // The npm client sees an extension exception as UnknownUserException; the reason travels in
    // the Busy itself for an IceFlixExt-aware client (checked below through the log and the unit test).
    assert.ok([...reasons].every((r) => r.includes("::IceFlixExt::Busy")), [...reasons].join(", "));
    await assertAckedState("while full");
    assert.equal((await catalog().getTilesByName("", false)).length, 3, "searches work while full");
    const catalogDb = join(data, "catalog.db");
    const fullLines = logEntries(join(logs, "catalog.log")).filter((l) => l.condition === "full" && l.level === 50);
    assert.equal(fullLines.length, 1, `one log line for the full disk: ${JSON.stringify(fullLines)}`);
    assert.match(String(fullLines[0]!.msg), new RegExp(`catalog DB ${catalogDb}: storage full \\(SQLITE_FULL\\)`));
    assert.equal(
      logEntries(join(logs, "catalog.log")).filter((l) => l.level === 50 && l.err).length,
      0,
      "no stack logged for refused edits",
    );
    assert.equal(integrity(catalogDb), "ok", "integrity_check while full");

    // Authenticator on the full disk: a correct login works; isAuthorized too; wrong passwords
    // are still throttled (in memory), and the right one works again after the lock.
    const token2 = await auth().refreshAuthorization(USER, sha256hex(PASSWORD));
    assert.equal(await auth().isAuthorized(token2), true);
    for (let i = 0; i < 4; i++) await assert.rejects(auth().refreshAuthorization(USER, sha256hex("wrong")), IceFlix.Unauthorized);
    await assert.rejects(auth().refreshAuthorization(USER, sha256hex(PASSWORD)), IceFlix.Unauthorized, "throttled while the disk is full");
    const relogin = await waitFor(
      "the right password accepted after the lock (1 s)",
      () => auth().refreshAuthorization(USER, sha256hex(PASSWORD)).then(() => "ok", (e: unknown) => errorKind(e)),
      (v) => v === "ok",
      5000,
    );
    assert.equal(relogin, "ok");
    const authFull = logEntries(join(logs, "auth.log")).filter((l) => l.condition === "full" && l.level === 50);
    assert.equal(authFull.length, 1, `one users-DB line: ${JSON.stringify(authFull)}`);
    assert.match(String(authFull[0]!.msg), /users DB .*users\.db: storage full \(SQLITE_FULL\); login throttling is kept in memory/);
    const userAdd = await iceflix(["user", "add", "bob", "--data", data, "--password-stdin"], "bob-pw\n");
    assert.equal(userAdd.code, 1, userAdd.stderr);
    assert.equal(userAdd.stderr.trim().split("\n").length, 1, `one line: ${userAdd.stderr}`);
    assert.match(userAdd.stderr, /^iceflix: cannot write the users DB .*users\.db: storage full \(SQLITE_FULL\); nothing was changed$/m);
    // `up` on the full folder: one line naming the condition, not a stack or "unexpected error".
    const up = await iceflix(["up", "--data", join(data, "another"), "--base-port", "1"], "", 30_000);
    assert.equal(up.code, 1, up.stderr);
    assert.match(up.stderr.trim(), /^iceflix: cannot write .*: storage full \(ENOSPC\)$/);

    // Provider: a new file is hashed and announced; its hash cache cannot be saved (warned once,
    // old file intact, no temporary file); the catalog cannot store the title yet.
    writeFileSync(join(media, "clip-new.bin"), randomBytes(16 * 1024));
    const streamingLog = join(logs, "streaming.log");
    await waitFor("the provider warns about the hash cache", () => logEntries(streamingLog).filter((l) => String(l.msg).startsWith("cannot save the hash cache")).length, (n) => n >= 1, 10_000);
    assert.equal(readFileSync(join(data, "hash-cache.json"), "utf8"), cacheBefore, "hash cache intact");
    assert.deepEqual(readdirSync(data).filter((f) => f.endsWith(".tmp")), [], "no temporary file left");
    assert.equal((await catalog().getTilesByName("", false)).length, 3, "the new title cannot be stored while full");
    const fullForMs = Date.now() - t0;

    // Space freed: edits work again without a restart, and the queued newMedia is stored.
    unfill(data);
    const after = `after ${ids[0]!.slice(0, 6)}`;
    await catalog().renameTile(ids[0]!, after, token);
    acked.get(ids[0]!)!.name = after;
    assert.deepEqual(await catalog().getTilesByName(after, true), [ids[0]]);
    await waitFor("the new title stored once space is freed", () => catalog().getTilesByName("clip-new", false), (v) => v.length === 1, 10_000);
    assert.ok(logEntries(join(logs, "catalog.log")).some((l) => String(l.msg).endsWith("writable again")));
    assert.equal(logEntries(streamingLog).filter((l) => String(l.msg).startsWith("cannot save the hash cache")).length, 1, "warned once");
    await assertAckedState("after space freed");
    const newUser = await iceflix(["user", "add", "bob", "--data", data, "--password-stdin"], "bob-pw\n");
    assert.equal(newUser.code, 0, newUser.stderr);
    figure(
      "storage full",
      `${before} edits acknowledged before the fill (${(filled / 1024).toFixed(0)} KiB filler), ${refused} refused with Busy and ${ackedWhileFull} acknowledged while full (${(fullForMs / 1000).toFixed(1)} s), 0 half-applied; integrity_check ok; edits and the queued newMedia saved again without a restart; logins ok while full, one log line per store`,
      { before, refused, ackedWhileFull },
    );
  });

  test("read-only data folder: catalog and Authenticator refuse to start with one line, the provider starts; all acknowledged edits survive", async (t) => {
    if (skipUnlessCapable(t)) return;
    for (const kind of ["streaming", "catalog", "auth"]) await stop(kind);
    const catalogDb = join(data, "catalog.db");
    assert.equal(integrity(catalogDb), "ok");
    remount(data, "ro");
    try {
      for (const [kind, adapter, file] of [
        ["catalog", "CatalogAdapter", "catalog DB"],
        ["auth", "AuthenticatorAdapter", "users DB"],
      ] as const) {
        const r = await iceflix([kind, "--data", data, `--${adapter}.Endpoints=tcp -h 127.0.0.1 -p 0`, ...common()], "", 20_000);
        assert.equal(r.code, 1, `${kind} on a read-only folder: ${r.stderr}`);
        const ownLines = r.stderr.split("\n").filter((l) => l.startsWith("iceflix "));
        assert.equal(ownLines.length, 1, r.stderr);
        assert.match(ownLines[0]!, new RegExp(`^iceflix ${kind}: failed to start: cannot open the ${file} .*: storage read-only \\(EROFS\\)$`));
        assert.ok(!/\n\s+at /.test(r.stderr), `no stack: ${r.stderr}`);
      }
      const userAdd = await iceflix(["user", "add", "carol", "--data", data, "--password-stdin"], "carol-pw\n");
      assert.equal(userAdd.code, 1);
      assert.match(userAdd.stderr.trim(), /^iceflix: cannot open the users DB .*users\.db: storage read-only \(EROFS\)$/);
      // The provider only caches hashes there: it starts, serves, warns once.
      writeFileSync(join(media, "clip-ro.bin"), randomBytes(8 * 1024));
      const streaming = await start("streaming");
      const provider = IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(streaming.ready.proxy));
      await waitFor("the provider serves", () => provider.isAvailable(ids[1]!), (v) => v, 10_000);
      const roWarnings = () =>
        logEntries(join(logs, "streaming.log")).filter((l) => String(l.msg).startsWith("cannot save the hash cache") && l.condition === "read-only").length;
      await waitFor("the provider warns once that its hash cache is read-only", roWarnings, (n) => n >= 1, 10_000);
      await stop("streaming");
      assert.equal(roWarnings(), 1);
    } finally {
      remount(data, "rw");
    }
    // Data folder that is a file / does not exist.
    const aFile = join(root, "a-file");
    writeFileSync(aFile, "x");
    const r = await iceflix(["catalog", "--data", aFile, "--CatalogAdapter.Endpoints=tcp -h 127.0.0.1 -p 0", ...common()], "", 20_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^iceflix catalog: failed to start: cannot open the catalog DB .*a-file\/catalog\.db: a part of the path is not a folder \(E(EXIST|NOTDIR)\)$/m);

    // Restarted on the writable folder: every acknowledged edit is there.
    await start("auth");
    await start("catalog");
    await assertAckedState("after restart");
    await auth().refreshAuthorization("bob", sha256hex("bob-pw"));
    figure("storage read-only", "catalog and Authenticator exit 1 with one line naming the DB and 'storage read-only'; user add exit 1; the provider serves; acknowledged edits intact after restart");
  });
});
