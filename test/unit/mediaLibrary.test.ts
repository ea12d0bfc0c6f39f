/**
 * MediaLibrary (spec §5) on real temporary folders: ids are the SHA-256 of the content (checked
 * against sha256sum), the hash cache spares restarts, symlinks are resolved and never lead out of
 * the folder, the folder watch and the periodic rescan pick up changes. Every wait is bounded.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { MediaLibrary, type MediaFile, type MediaLibraryOptions } from "../../src/services/streaming/mediaLibrary.js";
import { sha256OfFile, type HashOptions } from "../../src/services/streaming/fileHash.js";
import { HashProgress } from "../../src/services/streaming/hashProgress.js";

const tmpDirs: string[] = [];
const libraries: MediaLibrary[] = [];

after(async () => {
  await Promise.all(libraries.map((l) => l.stop()));
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function tmp(prefix = "iceflix-media-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

/** A logger whose lines the test can read. */
function captureLog(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

/** A file `ageMs` old (so the settle delay does not hold it back). */
function writeOld(path: string, content: string | Buffer, ageMs = 10_000): void {
  writeFileSync(path, content);
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(path, t, t);
}

function sha256sum(path: string): string {
  return execFileSync("sha256sum", ["--", path], { encoding: "utf8" }).split(" ")[0]!;
}

/** A library over `dir` with a hash spy; not started. */
function library(dir: string, options: Partial<MediaLibraryOptions> = {}) {
  const hashed: string[] = [];
  const { log, lines } = captureLog();
  const lib = new MediaLibrary({
    dir,
    cacheFile: options.cacheFile ?? join(tmp("iceflix-data-"), "hash-cache.json"),
    log,
    settleMs: 0,
    rescanMs: 60_000,
    debounceMs: 50,
    hashFile: (path: string, o: HashOptions) => {
      hashed.push(path);
      return sha256OfFile(path, o);
    },
    ...options,
  });
  libraries.push(lib);
  return { lib, hashed, lines };
}

/** Resolves with the first `event` whose file satisfies `match`; fails after timeoutMs. */
function nextEvent(lib: MediaLibrary, event: "added" | "removed", match: (f: MediaFile) => boolean, timeoutMs = 5000): Promise<MediaFile> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      lib.off(event, listener);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (f: MediaFile) => {
      if (!match(f)) return;
      clearTimeout(timer);
      lib.off(event, listener);
      resolve(f);
    };
    lib.on(event, listener);
  });
}

const byName = (lib: MediaLibrary) => Object.fromEntries(lib.list().map((f) => [f.name, f.id]));

describe("MediaLibrary", () => {
  it("identifies each regular file by the SHA-256 of its content, as sha256sum computes it", async () => {
    const dir = tmp();
    writeOld(join(dir, "big.bin"), randomBytes(3 * 1024 * 1024 + 17)); // several read chunks
    writeOld(join(dir, "empty.bin"), "");
    writeOld(join(dir, "Película ñ (2024).txt"), "hola");
    mkdirSync(join(dir, "sub"));
    writeOld(join(dir, "sub", "nested.bin"), "not served: sub-folders are not scanned");
    const { lib } = library(dir);
    await lib.start();
    const names = byName(lib);
    assert.deepEqual(Object.keys(names).sort(), ["Película ñ (2024).txt", "big.bin", "empty.bin"]);
    for (const [name, id] of Object.entries(names)) {
      assert.equal(id, sha256sum(join(dir, name)), name);
      assert.match(id, /^[0-9a-f]{64}$/);
      assert.ok(lib.has(id));
    }
    assert.equal(lib.has("0".repeat(64)), false);
  });

  it("a wait for the first scan that begins before start() lasts until that scan, not zero", async () => {
    const dir = tmp();
    writeOld(join(dir, "clip.bin"), "frames");
    const { lib } = library(dir);
    let waited = false;
    const wait = lib.whenFirstScanned(10_000).then(() => (waited = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(waited, false, "nothing scanned yet: still waiting");
    await lib.start();
    await wait;
    assert.ok(lib.has(sha256sum(join(dir, "clip.bin"))), "the media is known once the wait ends");
  });

  it("shows progress (done/total bytes) while hashing", async () => {
    const dir = tmp();
    writeOld(join(dir, "a.bin"), randomBytes(2 * 1024 * 1024));
    writeOld(join(dir, "b.bin"), randomBytes(1024 * 1024));
    const { lib, lines } = library(dir, { progressIntervalMs: 0 });
    await lib.start();
    const progress = lines.filter((l) => String(l.msg).startsWith("hashing media"));
    assert.ok(progress.length >= 3, `one line per chunk at interval 0, got ${progress.length}`);
    assert.ok(progress.every((l) => l.totalBytes === 3 * 1024 * 1024 && l.totalFiles === 2));
    assert.equal(progress.at(-1)!.doneBytes, 3 * 1024 * 1024);
    assert.ok(lines.some((l) => l.msg === "media hashing finished"));
  });

  it("two files with the same content share an id; each is served", async () => {
    const dir = tmp();
    writeOld(join(dir, "a.txt"), "same");
    writeOld(join(dir, "b.txt"), "same");
    const { lib } = library(dir);
    await lib.start();
    assert.equal(lib.size, 2);
    const ids = new Set(lib.list().map((f) => f.id));
    assert.equal(ids.size, 1);
    assert.ok(lib.get([...ids][0]!));
  });

  it("a restart with the hash cache hashes nothing; a touched file is hashed again", async () => {
    const dir = tmp();
    const cacheFile = join(tmp("iceflix-data-"), "hash-cache.json");
    for (let i = 0; i < 5; i++) writeOld(join(dir, `f${i}.bin`), randomBytes(1000 + i));
    const first = library(dir, { cacheFile });
    await first.lib.start();
    assert.equal(first.hashed.length, 5);
    const ids = byName(first.lib);
    await first.lib.stop();
    const cache = JSON.parse(readFileSync(cacheFile, "utf8")) as { version: number; entries: Record<string, { sha256: string }> };
    assert.equal(cache.version, 1);
    assert.equal(Object.keys(cache.entries).length, 5);

    const second = library(dir, { cacheFile });
    await second.lib.start();
    assert.equal(second.hashed.length, 0, "nothing rehashed");
    assert.deepEqual(byName(second.lib), ids);
    await second.lib.stop();

    writeOld(join(dir, "f2.bin"), "new content", 5000);
    const third = library(dir, { cacheFile });
    await third.lib.start();
    assert.deepEqual(third.hashed.map((p) => p.split("/").pop()), ["f2.bin"]);
    assert.equal(byName(third.lib)["f2.bin"], sha256sum(join(dir, "f2.bin")));
  });

  it("a damaged cache file is ignored (everything is hashed)", async () => {
    const dir = tmp();
    const cacheFile = join(tmp("iceflix-data-"), "hash-cache.json");
    writeFileSync(cacheFile, "{ not json");
    writeOld(join(dir, "x.bin"), "x");
    const { lib, hashed } = library(dir, { cacheFile });
    await lib.start();
    assert.equal(hashed.length, 1);
    assert.equal(byName(lib)["x.bin"], sha256sum(join(dir, "x.bin")));
  });

  it("refuses symlinks that escape the folder (and says so once); serves a file linked inside once", async () => {
    const outside = tmp("iceflix-outside-");
    writeOld(join(outside, "secret.txt"), "outside content");
    const dir = tmp();
    writeOld(join(dir, "real.bin"), "inside content");
    mkdirSync(join(dir, "sub"));
    writeOld(join(dir, "sub", "deep.bin"), "deep content");
    symlinkSync(join(outside, "secret.txt"), join(dir, "absolute-escape"));
    symlinkSync("../" + outside.split("/").pop() + "/secret.txt", join(dir, "relative-escape"));
    symlinkSync("..", join(dir, "parent-dir"));
    symlinkSync("real.bin", join(dir, "alias-of-real"));
    symlinkSync("sub/deep.bin", join(dir, "deep-link"));
    symlinkSync("nowhere.bin", join(dir, "broken"));
    const { lib, lines } = library(dir);
    await lib.start();
    assert.deepEqual(byName(lib), {
      "real.bin": sha256sum(join(dir, "real.bin")),
      "deep-link": sha256sum(join(dir, "sub", "deep.bin")),
    });
    const outsideId = sha256sum(join(outside, "secret.txt"));
    assert.equal(lib.has(outsideId), false);
    const warned = lines.filter((l) => l.msg === "not serving a file of the media folder").map((l) => `${l.file}: ${l.reason}`);
    assert.deepEqual(warned.sort(), [
      "absolute-escape: the link resolves outside the media folder",
      "broken: the link leads nowhere",
      "parent-dir: the link resolves outside the media folder",
      "relative-escape: the link resolves outside the media folder",
    ]);
    await lib.rescan();
    const again = lines.filter((l) => l.msg === "not serving a file of the media folder");
    assert.equal(again.length, 4, "each refusal is warned about once");
  });

  it("a link swapped to point outside stops being served", async () => {
    const outside = tmp("iceflix-outside-");
    writeOld(join(outside, "o.bin"), "outside");
    const dir = tmp();
    writeOld(join(dir, "target.bin"), "inside");
    symlinkSync("target.bin", join(dir, "link"));
    const { lib } = library(dir);
    await lib.start();
    assert.equal(lib.size, 1);
    unlinkSync(join(dir, "target.bin"));
    unlinkSync(join(dir, "link"));
    symlinkSync(join(outside, "o.bin"), join(dir, "link"));
    await lib.rescan();
    assert.equal(lib.size, 0);
    assert.equal(lib.has(sha256sum(join(outside, "o.bin"))), false);
  });

  it("file names that are not UTF-8 are refused; control characters are not announced", async () => {
    const dir = tmp();
    writeOld(Buffer.concat([Buffer.from(dir + "/"), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62])]) as unknown as string, "bad name");
    writeOld(join(dir, "tab\there\nnewline.bin"), "control");
    const { lib, lines } = library(dir);
    await lib.start();
    assert.deepEqual(Object.keys(byName(lib)), ["tab\ufffdhere\ufffdnewline.bin"]);
    assert.ok(lines.some((l) => l.reason === "the file name is not valid UTF-8"));
  });

  it("the watch picks up added, changed and removed files within a bound", async () => {
    const dir = tmp();
    writeOld(join(dir, "first.bin"), "first");
    const { lib } = library(dir);
    await lib.start();
    assert.equal(lib.size, 1);

    const added = nextEvent(lib, "added", (f) => f.name === "second.bin", 5000);
    writeFileSync(join(dir, "second.bin"), "second");
    assert.equal((await added).id, sha256sum(join(dir, "second.bin")));

    const firstId = byName(lib)["first.bin"];
    const gone = nextEvent(lib, "removed", (f) => f.name === "first.bin", 5000);
    const back = nextEvent(lib, "added", (f) => f.name === "first.bin", 5000);
    writeFileSync(join(dir, "first.bin"), "first, edited");
    assert.equal((await gone).id, firstId);
    assert.equal((await back).id, sha256sum(join(dir, "first.bin")));
    assert.equal(lib.has(firstId!), false, "the old content is no longer served");

    const removed = nextEvent(lib, "removed", (f) => f.name === "second.bin", 5000);
    unlinkSync(join(dir, "second.bin"));
    const r = await removed;
    assert.equal(lib.has(r.id), false);
    assert.deepEqual(Object.keys(byName(lib)), ["first.bin"]);
  });

  it("the periodic rescan catches what the watch cannot see (a link target in a sub-folder)", async () => {
    const dir = tmp();
    mkdirSync(join(dir, "sub"));
    writeOld(join(dir, "sub", "t.bin"), "version 1");
    symlinkSync("sub/t.bin", join(dir, "show"));
    const { lib } = library(dir, { rescanMs: 200 });
    await lib.start();
    const v1 = byName(lib)["show"];
    const changed = nextEvent(lib, "added", (f) => f.name === "show" && f.id !== v1, 5000);
    writeOld(join(dir, "sub", "t.bin"), "version 2", 5000);
    assert.equal((await changed).id, sha256sum(join(dir, "sub", "t.bin")));
    assert.equal(lib.has(v1!), false);
  });

  it("a file still being written is held back until it settles", async () => {
    const dir = tmp();
    const { lib, hashed } = library(dir, { settleMs: 600 });
    await lib.start();
    const started = Date.now();
    const added = nextEvent(lib, "added", (f) => f.name === "fresh.bin", 5000);
    writeFileSync(join(dir, "fresh.bin"), "fresh");
    await added;
    assert.ok(Date.now() - started >= 500, "not hashed before it settled");
    assert.equal(hashed.length, 1);
  });

  it("a file that vanishes while it is hashed is skipped", async () => {
    const dir = tmp();
    writeOld(join(dir, "keep.bin"), "keep");
    writeOld(join(dir, "vanish.bin"), "vanish");
    const { lib } = library(dir, {
      hashFile: (path, o) => {
        if (path.endsWith("vanish.bin")) unlinkSync(path);
        return sha256OfFile(path, o);
      },
    });
    await lib.start();
    assert.deepEqual(Object.keys(byName(lib)), ["keep.bin"]);
  });

  it("an unreadable media folder serves nothing, and is served again when it comes back", async () => {
    const parent = tmp();
    const dir = join(parent, "media");
    mkdirSync(dir);
    writeOld(join(dir, "a.bin"), "a");
    const { lib } = library(dir);
    await lib.start();
    assert.equal(lib.size, 1);
    rmSync(dir, { recursive: true });
    await lib.rescan();
    assert.equal(lib.size, 0);
    mkdirSync(dir);
    writeOld(join(dir, "a.bin"), "a");
    await lib.rescan();
    assert.equal(lib.size, 1);
  });
});

describe("HashProgress", () => {
  it("logs done/total bytes at most once per interval, and a summary only if it logged", () => {
    let now = 0;
    const { log, lines } = captureLog();
    const p = new HashProgress(log, 1000, 2, 1000, () => now);
    for (let t = 0; t <= 3000; t += 100) {
      now = t;
      p.addBytes(30);
    }
    p.fileDone();
    p.finish();
    const progress = lines.filter((l) => String(l.msg).startsWith("hashing media"));
    assert.equal(progress.length, 3); // at 1000, 2000, 3000 ms
    assert.equal(progress[0]!.totalBytes, 1000);
    assert.equal(progress[0]!.doneBytes, 330);
    assert.equal(lines.at(-1)!.msg, "media hashing finished");

    const quiet = captureLog();
    const q = new HashProgress(quiet.log, 10, 1, 1000, () => 0);
    q.addBytes(10);
    q.fileDone();
    q.finish();
    assert.equal(quiet.lines.length, 0);
  });
});
