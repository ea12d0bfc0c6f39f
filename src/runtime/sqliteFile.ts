/**
 * Opening one of our SQLite files (catalog.db, users.db) the same way: its folder made, writable
 * checked first (a read-only start would fail on the first edit instead), WAL with
 * synchronous=FULL (a commit returns after the WAL is fsynced: an acknowledged write survives a
 * power loss), a busy timeout for the other processes sharing the file. A failure closes what was
 * opened and is thrown as a StorageFault naming the file.
 */
import Database from "better-sqlite3";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { requireWritable, toStorageFault } from "./storageErrors.js";

export interface SqliteFileOptions {
  /** For the error: "cannot open the <what>". */
  what: string;
  /** How long a writer waits for another process's transaction. */
  busyTimeoutMs: number;
  /** Owner-only (SQLite gives the -wal/-shm files the same mode): for credentials. */
  ownerOnly?: boolean;
  /** Creates the schema. */
  schema: string;
}

export function openSqliteFile(file: string, options: SqliteFileOptions): Database.Database {
  let db: Database.Database | undefined;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    requireWritable(file);
    db = new Database(file);
    if (options.ownerOnly && (statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(options.schema);
    return db;
  } catch (e) {
    try {
      db?.close();
    } catch {
      // it failed to open: nothing to close
    }
    throw toStorageFault(e, file, `cannot open the ${options.what}`) ?? e;
  }
}
