/**
 * The persisted hash cache (spec §5): resolved path + size + mtime → SHA-256, in
 * `<data>/hash-cache.json`, so a restart does not rehash an unchanged folder.
 *
 * Several providers may share one data folder, each with its own media folder: saving re-reads
 * the file and replaces only the entries under our own folder, and writes through a temporary
 * file and rename(), so a reader never sees a half-written cache. A lost race only costs a rehash.
 *
 * The temporary file is fsynced before the rename (a crash or power loss leaves the old cache or
 * the new one, never a truncated one). A data folder that is full or read-only costs only the
 * cache: the failed write leaves the old file intact and no temporary file, one warning is logged
 * (and one line when saving works again), and scanning, announcing and streaming go on.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, sep } from "node:path";
import type { Logger } from "../../runtime/logger.js";
import { classifyStorageError } from "../../runtime/storageErrors.js";
import type { FileVersion } from "./fileHash.js";

interface CacheEntry extends FileVersion {
  sha256: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export class HashCache {
  readonly #file: string;
  /** Entries under this folder are ours: saving replaces them and keeps everyone else's. */
  readonly #root: string;
  readonly #log: Logger;
  #entries = new Map<string, CacheEntry>();
  #dirty = false;
  /** The last save failed (warned once); the next one that works says so. */
  #saveFailing = false;

  constructor(file: string, root: string, log: Logger) {
    this.#file = file;
    this.#root = root.endsWith(sep) ? root : root + sep;
    this.#log = log;
    for (const [path, entry] of readEntries(file, log)) if (this.#owns(path)) this.#entries.set(path, entry);
  }

  /** The cached hash of `path` if its size and mtime are still those that were hashed. */
  lookup(path: string, version: FileVersion): string | undefined {
    const e = this.#entries.get(path);
    return e && e.size === version.size && e.mtimeNs === version.mtimeNs ? e.sha256 : undefined;
  }

  remember(path: string, version: FileVersion, sha256: string): void {
    this.#entries.set(path, { size: version.size, mtimeNs: version.mtimeNs, sha256 });
    this.#dirty = true;
  }

  /** Drops our entries for paths not in `present` (files removed from the folder). */
  retainOnly(present: ReadonlySet<string>): void {
    for (const path of this.#entries.keys()) {
      if (!present.has(path)) {
        this.#entries.delete(path);
        this.#dirty = true;
      }
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Writes the cache if it changed. A failure is logged, never thrown: the cache is an optimisation. */
  save(): void {
    if (!this.#dirty) return;
    const merged: Record<string, CacheEntry> = {};
    for (const [path, entry] of readEntries(this.#file, this.#log)) if (!this.#owns(path)) merged[path] = entry;
    for (const [path, entry] of this.#entries) merged[path] = entry;
    const tmp = `${this.#file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      mkdirSync(dirname(this.#file), { recursive: true });
      writeDurably(tmp, JSON.stringify({ version: 1, entries: merged } satisfies CacheFile));
      renameSync(tmp, this.#file);
      this.#dirty = false;
      if (this.#saveFailing) {
        this.#saveFailing = false;
        this.#log.info({ file: this.#file }, "hash cache saved again");
      }
    } catch (e) {
      rmSync(tmp, { force: true });
      // Once per failing spell: a full or read-only data folder must not flood the log.
      if (!this.#saveFailing) {
        this.#saveFailing = true;
        const condition = classifyStorageError(e);
        this.#log.warn(
          { file: this.#file, condition, error: (e as Error).message },
          `cannot save the hash cache${condition ? ` (${condition})` : ""}; the old one is kept, serving goes on`,
        );
      }
    }
  }

  #owns(path: string): boolean {
    return path.startsWith(this.#root);
  }
}

/** Writes `text` to a new file and fsyncs it (mode 0600); a partial file is the caller's to remove. */
function writeDurably(file: string, text: string): void {
  const fd = openSync(file, "wx", 0o600);
  try {
    const data = Buffer.from(text, "utf8");
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The valid entries of a cache file; a missing or damaged file is an empty cache. */
function readEntries(file: string, log: Logger): Map<string, CacheEntry> {
  const out = new Map<string, CacheEntry>();
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") log.warn({ file, error: (e as Error).message }, "ignoring an unreadable hash cache");
    return out;
  }
  const entries = (parsed as Partial<CacheFile> | null)?.entries;
  if ((parsed as Partial<CacheFile> | null)?.version !== 1 || typeof entries !== "object" || entries === null) {
    log.warn({ file }, "ignoring a hash cache of an unknown format");
    return out;
  }
  for (const [path, e] of Object.entries(entries)) {
    if (
      e &&
      typeof e.sha256 === "string" &&
      SHA256_HEX.test(e.sha256) &&
      Number.isSafeInteger(e.size) &&
      typeof e.mtimeNs === "string" &&
      /^\d{1,30}$/.test(e.mtimeNs)
    ) {
      out.set(path, { size: e.size, mtimeNs: e.mtimeNs, sha256: e.sha256 });
    }
  }
  return out;
}
