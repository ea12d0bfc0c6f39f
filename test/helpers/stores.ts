/**
 * Runs the same store tests against both stores: SQLite in a temporary data folder and
 * PostgreSQL in a database of the file's own cluster (test/helpers/postgres.ts, started on first
 * use). release() closes what was opened and stops the cluster, also when a test failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databaseChoice, type DatabaseChoice } from "../../src/runtime/database.js";
import { CatalogDb } from "../../src/services/catalog/catalogDb.js";
import { openCatalogStore } from "../../src/services/catalog/catalogStores.js";
import { openUserStore } from "../../src/services/authenticator/userStores.js";
import type { UserStore } from "../../src/services/authenticator/userStore.js";
import { startTestPostgres, type TestPostgres } from "./postgres.js";

export const STORE_KINDS = ["sqlite", "postgres"] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** One deployment's store: its data folder and database (for postgres, a fresh database). */
export interface StoreLocation {
  kind: StoreKind;
  dataDir: string;
  database: DatabaseChoice;
  /** postgres: the URL (with credentials); sqlite: undefined. */
  url?: string;
}

export class TestStores {
  #pg: Promise<TestPostgres> | undefined;
  readonly #dirs: string[] = [];
  readonly #closers: Array<() => Promise<void>> = [];

  /** The file's cluster, started on first use. */
  postgres(): Promise<TestPostgres> {
    this.#pg ??= startTestPostgres();
    return this.#pg;
  }

  tmp(prefix = "iceflix-store-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /** A new, empty store of `kind`. */
  async location(kind: StoreKind): Promise<StoreLocation> {
    const dataDir = this.tmp();
    if (kind === "sqlite") return { kind, dataDir, database: { kind: "sqlite" } };
    const url = await (await this.postgres()).newDatabase();
    return { kind, dataDir, database: databaseChoice(url), url };
  }

  /** Another data folder on the same database (a second deployment or host). */
  sameDatabase(location: StoreLocation): StoreLocation {
    return location.kind === "sqlite" ? location : { ...location, dataDir: this.tmp() };
  }

  async openCatalog(location: StoreLocation, maxResults = 10_000, deadlineMs = 2000): Promise<CatalogDb> {
    const store = await openCatalogStore(location.database, { dataDir: location.dataDir, deadlineMs });
    const db = await CatalogDb.open(store, { maxResults });
    this.#closers.push(() => db.close());
    return db;
  }

  async openUsers(location: StoreLocation, deadlineMs = 2000): Promise<UserStore> {
    const store = await openUserStore(location.database, { dataDir: location.dataDir, deadlineMs });
    this.#closers.push(() => store.close());
    return store;
  }

  async release(): Promise<void> {
    await Promise.allSettled(this.#closers.map((close) => close()));
    if (this.#pg) await (await this.#pg).stop();
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }
}
