/**
 * `iceflix db migrate [--database URL]`: brings a PostgreSQL store's schema to this version (the
 * services also do it at start). `iceflix db import --from <data folder> [--database URL]`: moves
 * an SQLite deployment's titles (names, tags) and users (credential records, password-change
 * stamps) into PostgreSQL. Import is idempotent and loses nothing: what the database already has
 * (same title id, same user name) is kept and counted, never overwritten.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { resolveDatabase, type DatabaseChoice } from "../../runtime/database.js";
import { createPool, postgresBoundsFor, scrubbedError, toPostgresFault } from "../../runtime/postgres.js";
import { migrate } from "../../runtime/postgresSchema.js";
import { StorageFault } from "../../runtime/storageErrors.js";
import { openCatalogStore } from "../../services/catalog/catalogStores.js";
import { CATALOG_DB_FILE, SqliteCatalogStore } from "../../services/catalog/sqliteCatalogStore.js";
import { SqliteUserRecordStore, USERS_DB_FILE } from "../../services/authenticator/sqliteUserRecordStore.js";
import { PostgresUserRecordStore } from "../../services/authenticator/postgresUserRecordStore.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths } from "../../common/dataDir.js";

/** A one-shot command: each statement or batch may take this long before it is given up. */
const CLI_CALL_TIMEOUT_MS = 20_000;
/** Titles per transaction: large catalogs go in steps, with progress. */
const IMPORT_BATCH = 1000;

export interface DbOptions {
  data: string;
  database?: string;
}

function postgresOf(options: DbOptions): Extract<DatabaseChoice, { kind: "postgres" }> {
  const choice = resolveDatabase(options.database, dataPaths(options.data).root);
  if (choice.kind !== "postgres") {
    throw new CliError("no PostgreSQL database given: pass --database postgresql://user:pass@host:port/db (or --data of a deployment started with one)", EXIT.usage);
  }
  return choice;
}

/** Storage faults become one line naming the database without credentials. */
function asCliError(e: unknown, url: string, display: string, action: string): unknown {
  if (e instanceof CliError) return e;
  const fault = e instanceof StorageFault ? e : toPostgresFault(e, display, action);
  if (fault) return new CliError(fault.message);
  return new CliError(`${action} ${display}: ${scrubbedError(e, url).message}`);
}

export async function dbMigrate(options: DbOptions, say: (line: string) => void): Promise<number> {
  const database = postgresOf(options);
  const pool = createPool(database.url, postgresBoundsFor(CLI_CALL_TIMEOUT_MS), () => {});
  try {
    const outcome = await migrate(pool);
    if (outcome.applied.length === 0) say(`${database.display}: schema already at version ${outcome.to}`);
    else say(`${database.display}: schema ${outcome.from} → ${outcome.to} (${outcome.applied.join("; ")})`);
    return EXIT.ok;
  } catch (e) {
    throw asCliError(e, database.url, database.display, "cannot migrate");
  } finally {
    await pool.end().catch(() => undefined);
  }
}

export async function dbImport(from: string, options: DbOptions, say: (line: string) => void): Promise<number> {
  const database = postgresOf(options);
  const source = dataPaths(from).root;
  const catalogFile = join(source, CATALOG_DB_FILE);
  const usersFile = join(source, USERS_DB_FILE);
  if (!existsSync(catalogFile) && !existsSync(usersFile)) {
    throw new CliError(`${source} has neither ${CATALOG_DB_FILE} nor ${USERS_DB_FILE}: not an IceFlix data folder`, EXIT.usage);
  }
  const bounds = postgresBoundsFor(CLI_CALL_TIMEOUT_MS);
  try {
    if (existsSync(catalogFile)) await importTitles(catalogFile, database, bounds.deadlineMs, say);
    if (existsSync(usersFile)) await importUsers(usersFile, database, bounds.deadlineMs, say);
  } catch (e) {
    throw asCliError(e, database.url, database.display, "cannot import into");
  }
  return EXIT.ok;
}

async function importTitles(file: string, database: DatabaseChoice, deadlineMs: number, say: (line: string) => void): Promise<void> {
  const source = SqliteCatalogStore.open(file);
  const target = await openCatalogStore(database, { dataDir: "", deadlineMs, listen: false });
  try {
    const titles = await source.titlesSince(-1);
    let added = 0;
    for (let i = 0; i < titles.length; i += IMPORT_BATCH) {
      const batch = titles.slice(i, i + IMPORT_BATCH).map((t) => ({ id: t.id, name: t.name, tags: t.tags }));
      added += (await target.addTitles(batch)).result.length;
      if (titles.length > IMPORT_BATCH) say(`titles: ${Math.min(i + IMPORT_BATCH, titles.length)}/${titles.length}`);
    }
    say(`titles: ${added} imported, ${titles.length - added} already there (kept as they are)`);
  } finally {
    await source.close();
    await target.close();
  }
}

async function importUsers(file: string, database: Extract<DatabaseChoice, { kind: "postgres" }>, deadlineMs: number, say: (line: string) => void): Promise<void> {
  const source = SqliteUserRecordStore.open(file);
  const target = await PostgresUserRecordStore.open(database.url, { deadlineMs, listen: false });
  try {
    const names = await source.names();
    let added = 0;
    for (const name of names) {
      const record = await source.find(name);
      if (!record) continue; // removed meanwhile
      // The record moves as it is: salted key, KDF parameters and the password-change stamp.
      if (await target.insert(name, { salt: record.salt, key: record.key, kdf: record.kdf }, record.changedAt)) added++;
    }
    say(`users: ${added} imported, ${names.length - added} already there (kept as they are)`);
  } finally {
    await source.close();
    await target.close();
  }
}
