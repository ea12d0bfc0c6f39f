/**
 * The media a StreamProvider serves (spec §5): the regular files of its folder, each known by the
 * SHA-256 of its content. Keeps itself current while running: a folder watch (debounced) plus a
 * periodic rescan (the watch can miss events, e.g. on network file systems or for link targets),
 * and emits `added` / `removed` as files come and go. Hashes come from the persisted cache when
 * path, size and mtime are unchanged, so a restart does not rehash.
 *
 * A file modified less than `settleMs` ago is left for a later scan, so a file still being
 * copied in is not announced half-written.
 */
import { EventEmitter } from "node:events";
import { realpathSync, watch, type FSWatcher } from "node:fs";
import type { Logger } from "../../runtime/logger.js";
import { sha256OfFile, type HashOutcome, type HashOptions } from "./fileHash.js";
import { scanFolder, type FolderScan, type MediaCandidate } from "./folderScan.js";
import { HashCache } from "./hashCache.js";
import { HashProgress } from "./hashProgress.js";

export interface MediaFile {
  /** Lowercase hex SHA-256 of the content: the media id. */
  readonly id: string;
  /** The name in the folder, as announced (newMedia's initialName). */
  readonly name: string;
  /** Resolved path inside the folder. */
  readonly path: string;
  readonly size: number;
  readonly mtimeNs: string;
}

export type MediaLibraryEvents = {
  added: [MediaFile];
  removed: [MediaFile];
};

export interface MediaLibraryOptions {
  /** The media folder (must exist). */
  dir: string;
  /** The persisted hash cache, `<data>/hash-cache.json`. */
  cacheFile: string;
  log: Logger;
  /** Periodic rescan, the watch's fallback. @default 30000 */
  rescanMs?: number;
  /** Quiet time after a watch event before rescanning. @default 200 */
  debounceMs?: number;
  /** Files modified more recently than this wait for a later scan. @default 1000 */
  settleMs?: number;
  /** Least time between two progress lines. @default 1000 */
  progressIntervalMs?: number;
  /** How a file is hashed (tests count calls). */
  hashFile?: (path: string, options: HashOptions) => Promise<HashOutcome>;
  /** How often, at most, the cache is saved while a long hashing run goes on. @default 10000 */
  cacheSaveIntervalMs?: number;
}

export class MediaLibrary extends EventEmitter<MediaLibraryEvents> {
  readonly dir: string;
  readonly #options: Required<Omit<MediaLibraryOptions, "dir" | "cacheFile" | "log">>;
  readonly #log: Logger;
  readonly #cache: HashCache;
  readonly #byPath = new Map<string, MediaFile>();
  readonly #byId = new Map<string, Set<string>>();
  /** "reason|name" of refusals already warned about, so each is logged once while it lasts. */
  #warned = new Set<string>();
  /** Refusals seen by the scan in progress. */
  #refusedNow = new Set<string>();
  #folderUnreadable = false;
  #watcher: FSWatcher | undefined;
  #debounceTimer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #started = false;
  #scannedOnce = false;
  /**
   * Settles when the first scan is done. It exists before start(): the service answers calls
   * (its servant added) a moment before it starts the library, and a getStream then must wait too.
   */
  readonly #firstScan: Promise<void>;
  #firstScanDone!: () => void;
  #stopped = false;
  readonly #abort = new AbortController();

  constructor(options: MediaLibraryOptions) {
    super();
    this.dir = options.dir;
    this.#log = options.log;
    this.#options = {
      rescanMs: options.rescanMs ?? 30_000,
      debounceMs: options.debounceMs ?? 200,
      settleMs: options.settleMs ?? 1000,
      progressIntervalMs: options.progressIntervalMs ?? 1000,
      hashFile: options.hashFile ?? sha256OfFile,
      cacheSaveIntervalMs: options.cacheSaveIntervalMs ?? 10_000,
    };
    this.#cache = new HashCache(options.cacheFile, realpathSync(options.dir), options.log);
    this.#firstScan = new Promise<void>((resolve) => (this.#firstScanDone = resolve));
  }

  /** Starts watching and the first scan; resolves when that scan is done (files are `added` as they are hashed). */
  start(): Promise<void> {
    if (this.#started) return this.rescan();
    this.#started = true;
    this.#watch();
    const periodic = () => {
      if (this.#stopped) return;
      if (!this.#watcher) this.#watch();
      void this.rescan();
      this.#rescanTimer = setTimeout(periodic, this.#options.rescanMs).unref();
    };
    this.#rescanTimer = setTimeout(periodic, this.#options.rescanMs).unref();
    return this.rescan().finally(() => this.#firstScanDone());
  }

  /**
   * Resolves when the first scan is done, or after timeoutMs: a just-started provider asked for a
   * file it is still loading waits a moment instead of answering "unknown".
   */
  async whenFirstScanned(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#firstScan, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Scans now (or once more after the scan in progress); resolves when done. Never rejects. */
  rescan(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#again = false;
        try {
          await this.#scanOnce();
        } catch (e) {
          if (!this.#stopped) this.#log.error({ err: e }, "media scan failed; will retry");
        }
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#scanning = undefined));
    return this.#scanning;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  /** A file with this id (several files may share one content). */
  get(id: string): MediaFile | undefined {
    const path = this.#byId.get(id)?.values().next().value;
    return path === undefined ? undefined : this.#byPath.get(path);
  }

  list(): MediaFile[] {
    return [...this.#byPath.values()];
  }

  /** True while `file` is still served as it was when emitted. */
  isCurrent(file: MediaFile): boolean {
    return this.#byPath.get(file.path) === file;
  }

  get size(): number {
    return this.#byPath.size;
  }

  /** Stops watching and hashing (an interrupted file is hashed again next time); saves the cache. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#firstScanDone(); // no first scan is coming: waiters answer now
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#settleTimer);
    clearTimeout(this.#rescanTimer);
    this.#abort.abort();
    await this.#scanning;
    this.#cache.save();
  }

  #watch(): void {
    try {
      const watcher = watch(this.dir, { persistent: false }, () => this.#debounced());
      watcher.on("error", (e) => {
        this.#log.warn({ dir: this.dir, error: e.message }, "media folder watch failed; relying on periodic rescans");
        watcher.close();
        if (this.#watcher === watcher) this.#watcher = undefined;
        this.#debounced();
      });
      this.#watcher = watcher;
    } catch (e) {
      this.#log.warn({ dir: this.dir, error: (e as Error).message }, "cannot watch the media folder; relying on periodic rescans");
    }
  }

  #debounced(): void {
    if (this.#stopped) return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => void this.rescan(), this.#options.debounceMs).unref();
  }

  async #scanOnce(): Promise<void> {
    const startedAt = Date.now();
    this.#refusedNow = new Set();
    const scan = await this.#look();
    const { candidates } = scan;
    for (const r of scan.refused) this.#refuse(r.name, r.reason);

    // Gone or changed files leave first; a changed file comes back under its new id.
    for (const file of [...this.#byPath.values()]) {
      const c = candidates.get(file.path);
      if (!c || c.size !== file.size || c.mtimeNs !== file.mtimeNs) this.#remove(file);
      else if (c.name !== file.name) {
        // Served under another name now (e.g. the preferred of two links went away): same content.
        this.#remove(file);
        this.#add({ ...file, name: c.name });
      }
    }
    if (!this.#folderUnreadable) this.#cache.retainOnly(new Set(candidates.keys()));

    const settleBefore = BigInt(Date.now() - this.#options.settleMs) * 1_000_000n;
    const toHash: MediaCandidate[] = [];
    let fromCache = 0;
    let postponed = 0;
    for (const c of candidates.values()) {
      if (this.#byPath.has(c.path)) continue;
      const cached = this.#cache.lookup(c.path, c);
      if (cached) {
        this.#add({ id: cached, name: c.name, path: c.path, size: c.size, mtimeNs: c.mtimeNs });
        fromCache++;
      } else if (BigInt(c.mtimeNs) > settleBefore) {
        postponed++;
      } else {
        toHash.push(c);
      }
    }
    if (postponed > 0) this.#scheduleSettledScan();

    const hashed = await this.#hashAll(toHash);
    this.#cache.save();
    // A refusal that is gone is warned about again if it comes back.
    for (const key of this.#warned) if (!this.#refusedNow.has(key)) this.#warned.delete(key);
    if (!this.#scannedOnce || hashed + fromCache > 0 || postponed > 0) {
      this.#scannedOnce = true;
      this.#log.info(
        { files: this.#byPath.size, hashed, fromCache, postponed, refused: scan.refused.length, ms: Date.now() - startedAt },
        "media folder scanned",
      );
    }
  }

  /** The folder's content, or nothing while it cannot be read (then nothing can be served). */
  async #look(): Promise<FolderScan> {
    try {
      const scan = await scanFolder(this.dir);
      if (this.#folderUnreadable) this.#log.info({ dir: this.dir }, "media folder readable again");
      this.#folderUnreadable = false;
      return scan;
    } catch (e) {
      if (!this.#folderUnreadable) this.#log.error({ dir: this.dir, error: (e as Error).message }, "cannot read the media folder; serving nothing until it is back");
      this.#folderUnreadable = true;
      return { root: this.dir, candidates: new Map(), refused: [] };
    }
  }

  /** Hashes one file after the other (the disk is the limit); returns how many were added. */
  async #hashAll(files: MediaCandidate[]): Promise<number> {
    if (files.length === 0) return 0;
    const progress = new HashProgress(this.#log, files.reduce((n, f) => n + f.size, 0), files.length, this.#options.progressIntervalMs);
    let added = 0;
    let lastSave = Date.now();
    for (const c of files) {
      if (this.#stopped) break;
      const began = Date.now();
      let outcome: HashOutcome;
      try {
        outcome = await this.#options.hashFile(c.path, { onBytes: (n) => progress.addBytes(n), signal: this.#abort.signal });
      } catch (e) {
        if (this.#stopped) break;
        this.#log.warn({ file: c.name, error: (e as Error).message }, "cannot hash a media file; will retry at the next scan");
        continue;
      } finally {
        progress.fileDone();
      }
      switch (outcome.kind) {
        case "hashed": {
          this.#cache.remember(c.path, outcome.version, outcome.sha256);
          this.#log.info({ file: c.name, id: outcome.sha256, bytes: outcome.version.size, ms: Date.now() - began }, "media hashed");
          this.#add({ id: outcome.sha256, name: c.name, path: c.path, size: outcome.version.size, mtimeNs: outcome.version.mtimeNs });
          added++;
          break;
        }
        case "changed":
          this.#log.info({ file: c.name }, "media file changed while hashed; hashing it again later");
          this.#scheduleSettledScan();
          break;
        case "unreadable":
          this.#refuse(c.name, outcome.reason);
          break;
        case "vanished":
        case "not-regular":
          break; // removed or replaced meanwhile: the next scan sees what is there now
      }
      if (Date.now() - lastSave >= this.#options.cacheSaveIntervalMs) {
        this.#cache.save(); // a long first run keeps its work if it is interrupted
        lastSave = Date.now();
      }
    }
    progress.finish();
    return added;
  }

  /** Warns that a file is not served, once while the reason lasts (scans repeat every few seconds). */
  #refuse(name: string, reason: string): void {
    const key = `${reason}|${name}`;
    this.#refusedNow.add(key);
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#log.warn({ dir: this.dir, file: name, reason }, "not serving a file of the media folder");
  }

  #scheduleSettledScan(): void {
    if (this.#stopped || this.#settleTimer) return;
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined;
      void this.rescan();
    }, this.#options.settleMs + 50).unref();
  }

  #add(file: MediaFile): void {
    this.#byPath.set(file.path, file);
    let paths = this.#byId.get(file.id);
    if (!paths) this.#byId.set(file.id, (paths = new Set()));
    paths.add(file.path);
    this.#log.debug({ file: file.name, id: file.id }, "media available");
    this.emit("added", file);
  }

  #remove(file: MediaFile): void {
    this.#byPath.delete(file.path);
    const paths = this.#byId.get(file.id);
    paths?.delete(file.path);
    if (paths?.size === 0) this.#byId.delete(file.id);
    this.#log.info({ file: file.name, id: file.id }, "media removed");
    this.emit("removed", file);
  }
}
