/**
 * Storage faults in one place: a SQLite or fs error is classified as a condition the operator can
 * fix (disk full, read-only, no permission, I/O error, cannot open), turned into a StorageFault
 * that names the file, and — on the wire — into `IceFlixExt::Busy{reason}` (temporary, not an
 * InternalError: nothing is wrong with the service, the change was simply not saved).
 * StorageHealth logs one line when a store starts failing and one when it works again, instead of
 * a stack per call. Used by the catalog DB, the users DB (and its CLI) and the hash cache.
 */
import { metrics } from "./metrics.js";
import { accessSync, constants, existsSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { IceFlixExt } from "../slice/index.js";
import type { Logger } from "./logger.js";

export type StorageCondition = "full" | "read-only" | "no-permission" | "io" | "cannot-open" | "unavailable";

const CONDITION_TEXT: Record<StorageCondition, string> = {
  full: "storage full",
  "read-only": "storage read-only",
  "no-permission": "storage not writable (permission denied)",
  io: "storage I/O error",
  "cannot-open": "storage cannot be opened",
  // A networked store (PostgreSQL) that does not answer: down, unreachable, or too slow.
  unavailable: "database unavailable",
};

/** The condition of a SQLite (`SQLITE_*`) or fs (`E*`) error code; undefined for other errors. */
export function classifyStorageCode(code: string | undefined): StorageCondition | undefined {
  if (!code) return undefined;
  if (code === "SQLITE_FULL" || code === "ENOSPC" || code === "EDQUOT" || code === "EFBIG") return "full";
  if (code === "EROFS" || code.startsWith("SQLITE_READONLY")) return "read-only";
  if (code === "EACCES" || code === "EPERM" || code === "SQLITE_PERM" || code === "SQLITE_AUTH") return "no-permission";
  if (code === "EIO" || code.startsWith("SQLITE_IOERR")) return "io";
  if (code.startsWith("SQLITE_CANTOPEN") || code === "ENOTDIR" || code === "EISDIR" || code === "EEXIST" || code === "ENOENT") return "cannot-open";
  return undefined;
}

export function classifyStorageError(e: unknown): StorageCondition | undefined {
  return classifyStorageCode((e as { code?: unknown } | null)?.code as string | undefined);
}

/** The condition in words, more precise where the code tells more (a folder that is a file, …). */
function explain(condition: StorageCondition, code: string): string {
  if (code === "ENOTDIR" || code === "EEXIST") return "a part of the path is not a folder";
  if (code === "ENOENT") return "no such file or folder";
  return CONDITION_TEXT[condition];
}

/** A store that cannot be read or written for a reason of the disk, not of the service. */
export class StorageFault extends Error {
  override name = "StorageFault";
  constructor(
    readonly condition: StorageCondition,
    /** The file (or folder) concerned. */
    readonly path: string,
    /** The underlying code (SQLITE_FULL, EROFS, …). */
    readonly code: string,
    /** What was being done, e.g. "cannot open the catalog DB". */
    action: string,
    options?: ErrorOptions,
  ) {
    super(`${action} ${path}: ${explain(condition, code)} (${code})`, options);
  }

  get conditionText(): string {
    return CONDITION_TEXT[this.condition];
  }

  /** The reason an edit was refused: no path (spec §0), the condition and that nothing was saved. */
  get reason(): string {
    return `${CONDITION_TEXT[this.condition]}: change not saved`;
  }
}

/**
 * `e` as a StorageFault if it is a storage error (else undefined). A SQLITE_CANTOPEN says nothing
 * of why: the folder is probed (read-only? full?) so the message tells the operator what to fix.
 */
export function toStorageFault(e: unknown, path: string, action: string): StorageFault | undefined {
  if (e instanceof StorageFault) return e;
  let condition = classifyStorageError(e);
  if (!condition) return undefined;
  const code = String((e as { code: unknown }).code);
  if (condition === "cannot-open" && code.startsWith("SQLITE_")) condition = probeFolder(dirname(path)) ?? condition;
  return new StorageFault(condition, path, code, action, { cause: e });
}

/**
 * Throws the fs error (EROFS, EACCES, …) when `file`'s folder, or the file if it exists, cannot be
 * written. SQLite would otherwise open a WAL DB read-only on a read-only folder when its -wal and
 * -shm files happen to exist, and fail with SQLITE_CANTOPEN when they do not: a store that must
 * take writes checks first, so the outcome does not depend on how the last process stopped.
 */
export function requireWritable(file: string): void {
  accessSync(dirname(file), constants.W_OK);
  if (existsSync(file)) accessSync(file, constants.W_OK);
}

/** Why a folder cannot take a new file, when that can be told: read-only, no permission, full. */
export function probeFolder(dir: string): StorageCondition | undefined {
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const c = classifyStorageError(e);
    if (c !== "cannot-open") return c;
    return undefined;
  }
  try {
    const s = statfsSync(dir);
    if (s.bavail === 0 || s.ffree === 0) return "full";
  } catch {
    // no statfs: nothing more to tell
  }
  return undefined;
}

/** The extension exception a caller gets for a change that a storage fault kept from being saved. */
export function busyFor(fault: StorageFault): IceFlixExt.Busy {
  return new IceFlixExt.Busy(fault.reason);
}

/**
 * Logs a store's storage faults once per condition (one line naming the condition and the file,
 * no stack) and once when it works again.
 */
export class StorageHealth {
  #failing: StorageCondition | undefined;

  constructor(
    private readonly what: string,
    private readonly path: string,
    private readonly log: Logger | undefined,
    private readonly consequence = "changes are not saved until it is fixed",
  ) {}

  get failing(): StorageCondition | undefined {
    return this.#failing;
  }

  /** Counted every time; logged once per condition. */
  failed(fault: StorageFault): void {
    metrics.storeErrors.inc({ store: this.what, condition: fault.condition });
    if (this.#failing === fault.condition) return;
    this.#failing = fault.condition;
    this.log?.error(
      { condition: fault.condition, code: fault.code, file: this.path },
      `${this.what} ${this.path}: ${fault.conditionText} (${fault.code}); ${this.consequence}`,
    );
  }

  succeeded(): void {
    if (this.#failing === undefined) return;
    this.log?.info({ file: this.path, was: this.#failing }, `${this.what} ${this.path}: writable again`);
    this.#failing = undefined;
  }

  /**
   * Runs a write on the SQLite `db` at this path. A storage fault leaves no transaction open (a
   * failed COMMIT may), is logged once, and is thrown as a StorageFault naming the file (nothing
   * changed); other errors pass unchanged.
   */
  write<T>(db: { readonly inTransaction: boolean; exec(sql: string): unknown }, action: string, write: () => T): T {
    let result: T;
    try {
      result = write();
    } catch (e) {
      const fault = toStorageFault(e, this.path, action);
      if (!fault) throw e;
      if (db.inTransaction) {
        try {
          db.exec("ROLLBACK");
        } catch {
          // SQLite already rolled it back
        }
      }
      this.failed(fault);
      throw fault;
    }
    this.succeeded();
    return result;
  }
}
