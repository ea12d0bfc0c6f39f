/**
 * The users DB (`<data>/users.db`, SQLite, WAL): credentials, the time of each user's last
 * password change or removal (tokens issued before it are invalid, spec §3), and per-user login
 * throttling kept in the DB so round-robin over replicas does not get around it. The CLI and
 * every running Authenticator open the same file; changes are seen at once.
 *
 * Storage faults: a folder that cannot hold the DB throws a StorageFault naming the file and the
 * condition (disk full, read-only, …); so does an add/passwd/remove the disk cannot take (nothing
 * changed). A login only needs to read: when the throttling bookkeeping cannot be written, the
 * login still succeeds or fails on its password, and throttling is kept in this process's memory
 * until the DB takes writes again (logged once).
 */
import Database from "better-sqlite3";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../../runtime/logger.js";
import { requireWritable, StorageFault, StorageHealth, toStorageFault } from "../../runtime/storageErrors.js";
import { credentialMatches, DEFAULT_KDF, deriveCredential, newCredential } from "./passwordKdf.js";

const DUMMY_SALT = Buffer.alloc(16);

/** Spec §10: 1–64 characters, no control characters. */
export function isValidUserName(name: unknown): name is string {
  return typeof name === "string" && name.length >= 1 && [...name].length <= 64 && !/[\p{Cc}]/u.test(name);
}

export class UserStoreError extends Error {
  override name = "UserStoreError";
}

interface UserRow {
  name: string;
  salt: Buffer;
  key: Buffer;
  kdf: string;
  changed_at: number;
  failed_count: number;
  locked_until: number;
}

/** Failed logins beyond this many in a row lock the user for a doubling delay (max 60 s). */
const FREE_FAILURES = 3;
const MAX_LOCK_MS = 60_000;

export type LoginResult = { ok: true } | { ok: false; reason: "unknown" | "wrong" | "throttled" };

export class UserStore {
  readonly #db: Database.Database;
  readonly #file: string;
  readonly #health: StorageHealth;
  #validSinceQuery: Database.Statement | undefined;
  /** Throttling of logins whose bookkeeping the DB could not take (disk full, read-only). */
  readonly #memoryThrottle = new Map<string, { failed: number; lockedUntil: number }>();

  constructor(file: string, options: { log?: Logger } = {}) {
    this.#file = file;
    this.#health = new StorageHealth("users DB", file, options.log, "login throttling is kept in memory until it is fixed");
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      requireWritable(file);
      db = new Database(file);
      // Credentials: owner-only (SQLite gives the -wal/-shm files the same mode).
      if ((statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 5000");
      db.exec(`
        CREATE TABLE IF NOT EXISTS users (
          name TEXT PRIMARY KEY,
          salt BLOB NOT NULL,
          key BLOB NOT NULL,
          kdf TEXT NOT NULL,
          changed_at INTEGER NOT NULL,
          failed_count INTEGER NOT NULL DEFAULT 0,
          locked_until INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE IF NOT EXISTS removed_users (name TEXT PRIMARY KEY, removed_at INTEGER NOT NULL);
      `);
    } catch (e) {
      try {
        db?.close();
      } catch {
        // it failed to open: nothing to close
      }
      throw toStorageFault(e, file, "cannot open the users DB") ?? e;
    }
    this.#db = db;
  }

  get file(): string {
    return this.#file;
  }

  close(): void {
    this.#db.close();
  }

  /** Changes whenever any connection (CLI or replica) commits; cheap to poll. */
  dataVersion(): number {
    return this.#db.pragma("data_version", { simple: true }) as number;
  }

  has(name: string): boolean {
    return this.#db.prepare("SELECT 1 FROM users WHERE name = ?").get(name) !== undefined;
  }

  list(): string[] {
    return (this.#db.prepare("SELECT name FROM users ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
  }

  /**
   * The time (ms) before which this user's tokens are invalid: their last password change,
   * creation or removal; undefined when the user does not exist.
   */
  validSince(name: string): number | undefined {
    // On every isAuthorized: prepared once (preparing per call was ~12% of the service's time).
    this.#validSinceQuery ??= this.#db.prepare("SELECT changed_at FROM users WHERE name = ?");
    const row = this.#validSinceQuery.get(name) as { changed_at: number } | undefined;
    return row?.changed_at;
  }

  async add(name: string, passwordHash: string, now = Date.now()): Promise<void> {
    if (!isValidUserName(name)) throw new UserStoreError("a user name is 1–64 characters without control characters");
    const cred = await newCredential(passwordHash);
    this.#write(() =>
      this.#db
        .transaction(() => {
          if (this.has(name)) throw new UserStoreError(`user ${name} already exists`);
          this.#db
            .prepare("INSERT INTO users (name, salt, key, kdf, changed_at) VALUES (?, ?, ?, ?, ?)")
            .run(name, cred.salt, cred.key, cred.kdf, now);
          this.#db.prepare("DELETE FROM removed_users WHERE name = ?").run(name);
        })
        .immediate(),
    );
  }

  async setPassword(name: string, passwordHash: string, now = Date.now()): Promise<void> {
    const cred = await newCredential(passwordHash);
    const r = this.#write(() =>
      this.#db
        .prepare("UPDATE users SET salt = ?, key = ?, kdf = ?, changed_at = ?, failed_count = 0, locked_until = 0 WHERE name = ?")
        .run(cred.salt, cred.key, cred.kdf, now, name),
    );
    if (r.changes === 0) throw new UserStoreError(`no user ${name}`);
    this.#memoryThrottle.delete(name);
  }

  remove(name: string, now = Date.now()): void {
    this.#write(() =>
      this.#db
        .transaction(() => {
          const r = this.#db.prepare("DELETE FROM users WHERE name = ?").run(name);
          if (r.changes === 0) throw new UserStoreError(`no user ${name}`);
          this.#db.prepare("INSERT OR REPLACE INTO removed_users (name, removed_at) VALUES (?, ?)").run(name, now);
        })
        .immediate(),
    );
  }

  /**
   * Checks a login, with per-user throttling of failures. Only the password check needs the DB
   * (a read); when the throttling bookkeeping cannot be written, it is kept in memory instead.
   */
  async login(name: string, passwordHash: string, now = Date.now()): Promise<LoginResult> {
    const row = this.#db.prepare("SELECT * FROM users WHERE name = ?").get(name) as UserRow | undefined;
    if (!row) {
      // Same cost as a real check, so timing does not tell which user names exist.
      await deriveCredential(passwordHash, DUMMY_SALT, DEFAULT_KDF);
      return { ok: false, reason: "unknown" };
    }
    const memory = this.#memoryThrottle.get(name);
    const failedBefore = Math.max(row.failed_count, memory?.failed ?? 0);
    if (Math.max(row.locked_until, memory?.lockedUntil ?? 0) > now) return { ok: false, reason: "throttled" };
    if (await credentialMatches(passwordHash, row.salt, row.key, row.kdf)) {
      if (row.failed_count > 0) this.#bookkeeping(name, 0, 0);
      this.#memoryThrottle.delete(name);
      return { ok: true };
    }
    const failures = failedBefore + 1;
    const lockMs = failures > FREE_FAILURES ? Math.min(MAX_LOCK_MS, 1000 * 2 ** (failures - FREE_FAILURES - 1)) : 0;
    const lockedUntil = lockMs ? now + lockMs : 0;
    if (!this.#bookkeeping(name, failures, lockedUntil)) this.#memoryThrottle.set(name, { failed: failures, lockedUntil });
    else this.#memoryThrottle.delete(name);
    return { ok: false, reason: "wrong" };
  }

  /** Stores a user's throttling state; false (logged once) when the disk cannot take it. */
  #bookkeeping(name: string, failed: number, lockedUntil: number): boolean {
    try {
      this.#write(() => this.#db.prepare("UPDATE users SET failed_count = ?, locked_until = ? WHERE name = ?").run(failed, lockedUntil, name));
      return true;
    } catch (e) {
      if (e instanceof StorageFault) return false;
      throw e;
    }
  }

  /** Runs a write; a storage fault is thrown as a StorageFault (nothing changed) and logged once. */
  #write<T>(write: () => T): T {
    return this.#health.write(this.#db, "cannot write the users DB", write);
  }
}
