/** Opens the users store a deployment uses (IceFlix.Database): SQLite in the data folder or PostgreSQL. */
import { join } from "node:path";
import type { DatabaseChoice } from "../../runtime/database.js";
import type { Logger } from "../../runtime/logger.js";
import { PostgresUserRecordStore } from "./postgresUserRecordStore.js";
import { SqliteUserRecordStore, USERS_DB_FILE } from "./sqliteUserRecordStore.js";
import { UserStore } from "./userStore.js";

export interface UserStoreSettings {
  dataDir: string;
  /** What one call may take on a networked store before it is refused. */
  deadlineMs: number;
  log?: Logger;
  /** Keep token validity in step with other writers (services); one-shot commands need not. */
  listen?: boolean;
}

export async function openUserStore(database: DatabaseChoice, settings: UserStoreSettings): Promise<UserStore> {
  if (database.kind === "postgres") {
    return new UserStore(await PostgresUserRecordStore.open(database.url, settings));
  }
  return new UserStore(SqliteUserRecordStore.open(join(settings.dataDir, USERS_DB_FILE), { log: settings.log }));
}
