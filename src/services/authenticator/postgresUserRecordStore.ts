/**
 * The users store in PostgreSQL, shared by every Authenticator and `iceflix user …` on any host.
 *
 * - Adds, removals and password changes NOTIFY `iceflix_users` (payload: the user name) in their
 *   transaction; each Authenticator LISTENs and keeps every user's changedAt in memory, re-read
 *   on each notification and wholly after each reconnect. Token checks read that memory: they
 *   keep working while the database is down, and see a change within a notification's delay.
 * - Every write is one transaction with a deadline (runtime/postgres.ts): refused within the call
 *   timeout when the server is down or unreachable, as a StorageFault `unavailable`, logged once.
 */
import type { Logger } from "../../runtime/logger.js";
import { displayUrl } from "../../runtime/database.js";
import { createPool, inTransaction, readWithin, scrubbedError, toPostgresFault, type PgPool, type PgQueryable, openRetryingTimeouts } from "../../runtime/postgres.js";
import { PostgresNotifications } from "../../runtime/postgresNotifications.js";
import { migrate } from "../../runtime/postgresSchema.js";
import { StorageHealth, type StorageCondition } from "../../runtime/storageErrors.js";
import { toRecord, type Credential, type UserRecord, type UserRecordStore, type UserRow } from "./userRecordStore.js";

const CHANNEL = "iceflix_users";

export interface PostgresUserOptions {
  deadlineMs: number;
  log?: Logger;
  /** Keep validSince() in step (a service does; a one-shot command reads the database). @default true */
  listen?: boolean;
}

const USER_COLUMNS = "name, salt, key, kdf, changed_at::float8 AS changed_at, failed_count, locked_until::float8 AS locked_until";

export class PostgresUserRecordStore implements UserRecordStore {
  readonly #pool: PgPool;
  readonly #url: string;
  readonly #deadlineMs: number;
  readonly #health: StorageHealth;
  /** name → changedAt, for token checks. */
  readonly #validSince = new Map<string, number>();
  #stamp = 0;
  #notifications: PostgresNotifications | undefined;
  /** Names to re-read, or "all" after a reconnect. */
  #toReload: Set<string> | "all" = new Set();
  #reloading: Promise<void> | undefined;

  private constructor(url: string, options: PostgresUserOptions) {
    this.#url = url;
    this.#deadlineMs = options.deadlineMs;
    this.#health = new StorageHealth("users DB", displayUrl(url), options.log, "logins are refused (Busy) until it answers");
    this.#pool = createPool(url, { deadlineMs: options.deadlineMs, applicationName: "iceflix-users" }, () => {
      // An idle connection lost: the next call reports the outage, if it lasts.
    });
  }

  static open(url: string, options: PostgresUserOptions): Promise<PostgresUserRecordStore> {
    return openRetryingTimeouts(() => PostgresUserRecordStore.#openOnce(url, options));
  }

  static async #openOnce(url: string, options: PostgresUserOptions): Promise<PostgresUserRecordStore> {
    const store = new PostgresUserRecordStore(url, options);
    try {
      await migrate(store.#pool);
      if (options.listen ?? true) {
        store.#notifications = new PostgresNotifications(url, [CHANNEL], { deadlineMs: options.deadlineMs }, {
          onNotification: (_channel, name) => store.#reload(name),
          onListening: () => {
            store.#health.succeeded();
            store.#reload("all");
          },
          onLost: (e) => {
            const fault = toPostgresFault(e, store.location, "lost the users DB");
            if (fault) store.#health.failed(fault);
          },
        });
        await store.#notifications.start();
        await store.#reloading;
      }
      return store;
    } catch (e) {
      await store.close();
      throw toPostgresFault(e, store.location, "cannot open the users DB") ?? scrubbedError(e, url);
    }
  }

  get location(): string {
    return displayUrl(this.#url);
  }

  get failing(): StorageCondition | undefined {
    return this.#health.failing;
  }

  async close(): Promise<void> {
    await this.#notifications?.close();
    await this.#reloading?.catch(() => undefined);
    await this.#pool.end().catch(() => undefined);
  }

  validSince(name: string): number | undefined {
    return this.#validSince.get(name);
  }

  changeStamp(): number {
    return this.#stamp;
  }

  async find(name: string): Promise<UserRecord | undefined> {
    const rows = await this.#read<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE name = $1`, [name]);
    return rows[0] && toRecord(rows[0]);
  }

  async names(): Promise<string[]> {
    // COLLATE "C": code-point order, as SQLite sorts.
    return (await this.#read<{ name: string }>(`SELECT name FROM users ORDER BY name COLLATE "C"`)).map((r) => r.name);
  }

  async insert(name: string, c: Credential, now: number): Promise<boolean> {
    const inserted = await this.#write(async (q) => {
      const r = await q.query("INSERT INTO users (name, salt, key, kdf, changed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING", [
        name,
        c.salt,
        c.key,
        c.kdf,
        now,
      ]);
      if (r.rowCount === 0) return false;
      await q.query("DELETE FROM removed_users WHERE name = $1", [name]);
      await notify(q, name);
      return true;
    });
    if (inserted) this.#known(name, now);
    return inserted;
  }

  async updateCredential(name: string, c: Credential, now: number): Promise<boolean> {
    const updated = await this.#write(async (q) => {
      const r = await q.query(
        "UPDATE users SET salt = $1, key = $2, kdf = $3, changed_at = $4, failed_count = 0, locked_until = 0 WHERE name = $5",
        [c.salt, c.key, c.kdf, now, name],
      );
      if (r.rowCount === 0) return false;
      await notify(q, name);
      return true;
    });
    if (updated) this.#known(name, now);
    return updated;
  }

  async delete(name: string, now: number): Promise<boolean> {
    const deleted = await this.#write(async (q) => {
      const r = await q.query("DELETE FROM users WHERE name = $1", [name]);
      if (r.rowCount === 0) return false;
      await q.query(
        "INSERT INTO removed_users (name, removed_at) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET removed_at = EXCLUDED.removed_at",
        [name, now],
      );
      await notify(q, name);
      return true;
    });
    if (deleted) this.#known(name, undefined);
    return deleted;
  }

  async setThrottle(name: string, failedCount: number, lockedUntil: number): Promise<void> {
    await this.#write((q) => q.query("UPDATE users SET failed_count = $1, locked_until = $2 WHERE name = $3", [failedCount, lockedUntil, name]));
  }

  #known(name: string, changedAt: number | undefined): void {
    if (changedAt === undefined) this.#validSince.delete(name);
    else this.#validSince.set(name, changedAt);
    this.#stamp++;
  }

  /** Re-reads one user's changedAt (or every user's) in the background, one reload at a time. */
  #reload(what: string | "all"): void {
    if (what === "all") this.#toReload = "all";
    else if (this.#toReload !== "all") this.#toReload.add(what);
    this.#reloading ??= this.#reloads().finally(() => (this.#reloading = undefined));
  }

  async #reloads(): Promise<void> {
    for (;;) {
      const wanted = this.#toReload;
      if (wanted !== "all" && wanted.size === 0) return;
      this.#toReload = new Set();
      try {
        if (wanted === "all") {
          const rows = await this.#read<{ name: string; changed_at: number }>("SELECT name, changed_at::float8 AS changed_at FROM users");
          this.#validSince.clear();
          for (const r of rows) this.#validSince.set(r.name, r.changed_at);
        } else {
          const names = [...wanted];
          const rows = await this.#read<{ name: string; changed_at: number }>(
            "SELECT name, changed_at::float8 AS changed_at FROM users WHERE name = ANY($1::text[])",
            [names],
          );
          for (const n of names) this.#validSince.delete(n);
          for (const r of rows) this.#validSince.set(r.name, r.changed_at);
        }
        this.#stamp++;
      } catch {
        // Down again: the reconnect reloads everything.
        this.#toReload = "all";
        return;
      }
    }
  }

  async #read<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      const rows = await readWithin<T & Record<string, unknown>>(this.#pool, this.#deadlineMs, sql, params);
      return rows;
    } catch (e) {
      throw this.#fault(e, "cannot read the users DB");
    }
  }

  async #write<T>(work: (q: PgQueryable) => Promise<T>): Promise<T> {
    try {
      const result = await inTransaction(this.#pool, this.#deadlineMs, work);
      this.#health.succeeded();
      return result;
    } catch (e) {
      throw this.#fault(e, "cannot write the users DB");
    }
  }

  #fault(e: unknown, action: string): Error {
    const fault = toPostgresFault(e, this.location, action);
    if (!fault) return scrubbedError(e, this.#url);
    this.#health.failed(fault);
    return fault;
  }
}

function notify(q: PgQueryable, name: string): Promise<unknown> {
  return q.query("SELECT pg_notify($1, $2)", [CHANNEL, name]);
}
