/**
 * The users store in SQLite (`<data>/users.db`, WAL, mode 0600), the embedded default. The CLI and
 * every Authenticator on the machine open the same file; PRAGMA data_version tells a connection
 * that another one committed, so changes are seen at once. A folder that cannot hold the DB, and
 * a write the disk cannot take, throw a StorageFault naming the file (nothing changed).
 */
import Database from "better-sqlite3";
import type { Logger } from "../../runtime/logger.js";
import { oncePerTurn } from "../../runtime/oncePerTurn.js";
import { openSqliteFile } from "../../runtime/sqliteFile.js";
import { StorageHealth, type StorageCondition } from "../../runtime/storageErrors.js";
import { toRecord, type Credential, type UserRecord, type UserRecordStore, type UserRow } from "./userRecordStore.js";

export const USERS_DB_FILE = "users.db";
/** Users whose stamp is kept in memory at once (beyond it the memory starts again). */
const MAX_REMEMBERED_STAMPS = 50_000;

const SCHEMA = `
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
`;

export class SqliteUserRecordStore implements UserRecordStore {
  readonly #db: Database.Database;
  readonly #file: string;
  readonly #health: StorageHealth;
  readonly #sql: ReturnType<typeof prepare>;
  /**
   * name → changedAt (null: no such user), read from the file once and kept until another
   * connection commits (data_version changes; checked at most once per event-loop task, see
   * oncePerTurn) or this one writes the user. Token checks read it instead of the file.
   */
  readonly #stamps = new Map<string, number | null>();
  #dataVersion: number;
  readonly #forgetStampsIfChanged = oncePerTurn(() => void this.changeStamp());

  private constructor(db: Database.Database, file: string, log: Logger | undefined) {
    this.#db = db;
    this.#file = file;
    this.#health = new StorageHealth("users DB", file, log, "login throttling is kept in memory until it is fixed");
    this.#sql = prepare(db);
    this.#dataVersion = this.#readDataVersion();
  }

  static open(file: string, options: { log?: Logger } = {}): SqliteUserRecordStore {
    const db = openSqliteFile(file, { what: "users DB", busyTimeoutMs: 5000, ownerOnly: true, schema: SCHEMA });
    return new SqliteUserRecordStore(db, file, options.log);
  }

  get location(): string {
    return this.#file;
  }

  get failing(): StorageCondition | undefined {
    return this.#health.failing;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** data_version: changes when another connection commits (never for this one's own commits). */
  changeStamp(): number {
    const version = this.#readDataVersion();
    if (version !== this.#dataVersion) {
      this.#dataVersion = version;
      this.#stamps.clear();
    }
    return version;
  }

  validSince(name: string): number | undefined {
    this.#forgetStampsIfChanged();
    let since = this.#stamps.get(name);
    if (since === undefined) {
      since = (this.#sql.validSince.get(name) as { changed_at: number } | undefined)?.changed_at ?? null;
      this.#remember(name, since);
    }
    return since ?? undefined;
  }

  #remember(name: string, since: number | null): void {
    if (this.#stamps.size >= MAX_REMEMBERED_STAMPS && !this.#stamps.has(name)) this.#stamps.clear();
    this.#stamps.set(name, since);
  }

  #readDataVersion(): number {
    return this.#sql.dataVersion.get() as number;
  }

  async find(name: string): Promise<UserRecord | undefined> {
    const row = this.#sql.find.get(name) as UserRow | undefined;
    return row && toRecord(row);
  }

  async names(): Promise<string[]> {
    return (this.#sql.names.all() as Array<{ name: string }>).map((r) => r.name);
  }

  async insert(name: string, c: Credential, now: number): Promise<boolean> {
    return this.#write(() =>
      this.#db
        .transaction(() => {
          if (this.#sql.exists.get(name)) return false;
          this.#sql.insert.run(name, c.salt, c.key, c.kdf, now);
          this.#sql.forgetRemoval.run(name);
          return true;
        })
        .immediate(),
      name,
    );
  }

  async updateCredential(name: string, c: Credential, now: number): Promise<boolean> {
    return this.#write(() => this.#sql.updateCredential.run(c.salt, c.key, c.kdf, now, name).changes > 0, name);
  }

  async delete(name: string, now: number): Promise<boolean> {
    return this.#write(() =>
      this.#db
        .transaction(() => {
          if (this.#sql.delete.run(name).changes === 0) return false;
          this.#sql.stampRemoval.run(name, now);
          return true;
        })
        .immediate(),
      name,
    );
  }

  async setThrottle(name: string, failedCount: number, lockedUntil: number): Promise<void> {
    this.#write(() => this.#sql.throttle.run(failedCount, lockedUntil, name));
  }

  /**
   * Runs a write; a storage fault is thrown as a StorageFault (nothing changed) and logged once.
   * `changes`: the user whose stamp it may change; re-read at the next check (this connection's
   * own commits do not move data_version).
   */
  #write<T>(write: () => T, changes?: string): T {
    try {
      return this.#health.write(this.#db, "cannot write the users DB", write);
    } finally {
      if (changes !== undefined) this.#stamps.delete(changes);
    }
  }
}

function prepare(db: Database.Database) {
  return {
    // Token checks: a user's stamp when it is not in memory.
    validSince: db.prepare("SELECT changed_at FROM users WHERE name = ?"),
    // db.pragma() prepares a statement on each call.
    dataVersion: db.prepare("PRAGMA data_version").pluck(),
    find: db.prepare("SELECT * FROM users WHERE name = ?"),
    exists: db.prepare("SELECT 1 FROM users WHERE name = ?"),
    names: db.prepare("SELECT name FROM users ORDER BY name"),
    insert: db.prepare("INSERT INTO users (name, salt, key, kdf, changed_at) VALUES (?, ?, ?, ?, ?)"),
    forgetRemoval: db.prepare("DELETE FROM removed_users WHERE name = ?"),
    updateCredential: db.prepare("UPDATE users SET salt = ?, key = ?, kdf = ?, changed_at = ?, failed_count = 0, locked_until = 0 WHERE name = ?"),
    delete: db.prepare("DELETE FROM users WHERE name = ?"),
    stampRemoval: db.prepare("INSERT OR REPLACE INTO removed_users (name, removed_at) VALUES (?, ?)"),
    throttle: db.prepare("UPDATE users SET failed_count = ?, locked_until = ? WHERE name = ?"),
  };
}
