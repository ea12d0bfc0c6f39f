/** Opens the catalog store a deployment uses (IceFlix.Database): SQLite in the data folder or PostgreSQL. */
import { join } from "node:path";
import type { DatabaseChoice } from "../../runtime/database.js";
import type { Logger } from "../../runtime/logger.js";
import type { CatalogStore } from "./catalogStore.js";
import { PostgresCatalogStore } from "./postgresCatalogStore.js";
import { CATALOG_DB_FILE, SqliteCatalogStore } from "./sqliteCatalogStore.js";

export interface CatalogStoreSettings {
  dataDir: string;
  /** What one edit may take on a networked store before it is refused. */
  deadlineMs: number;
  log?: Logger;
  listen?: boolean;
}

export async function openCatalogStore(database: DatabaseChoice, settings: CatalogStoreSettings): Promise<CatalogStore> {
  if (database.kind === "postgres") {
    return PostgresCatalogStore.open(database.url, { deadlineMs: settings.deadlineMs, log: settings.log, listen: settings.listen });
  }
  return SqliteCatalogStore.open(join(settings.dataDir, CATALOG_DB_FILE), { log: settings.log });
}
