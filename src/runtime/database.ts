/**
 * Which store the catalog and the users live in (IceFlix.Database): unset = the SQLite files in
 * the data folder; `postgresql://user:pass@host:port/db` = both stores in PostgreSQL. `up
 * --database URL` records the URL in `<data>/database.url` (0600) so that the services it starts
 * and `iceflix user … --data D` use the same store without the credentials on a command line.
 * Only `displayUrl()` (no user, no password) may reach a log line or an error text.
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "./config.js";

export const DATABASE_URL_FILE = "database.url";

export type DatabaseChoice = { kind: "sqlite" } | { kind: "postgres"; url: string; display: string };

export class DatabaseUrlError extends ConfigError {
  override name = "DatabaseUrlError";
}

/** The URL without user and password (and without query options, which may hold a password). */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "postgresql://(unparsable URL)";
  }
}

/** `text` with every credential of `url` (password, user:password) replaced. */
export function withoutCredentials(text: string, url: string): string {
  let out = text.split(url).join(displayUrl(url));
  try {
    const u = new URL(url);
    for (const secret of [u.password, decodeURIComponent(u.password)]) {
      if (secret.length > 0) out = out.split(secret).join("***");
    }
  } catch {
    // an unparsable URL has no parts to hide beyond itself
  }
  return out;
}

/** Parses a database URL: empty = SQLite; postgres(ql):// = PostgreSQL; anything else refused. */
export function databaseChoice(raw: string | undefined): DatabaseChoice {
  const url = (raw ?? "").trim();
  if (url === "" || url === "sqlite") return { kind: "sqlite" };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseUrlError("the database URL is not a URL (expected postgresql://user:pass@host:port/db)");
  }
  if (parsed.protocol !== "postgresql:" && parsed.protocol !== "postgres:") {
    throw new DatabaseUrlError(`unsupported database URL scheme ${parsed.protocol} (expected postgresql://)`);
  }
  if (parsed.pathname.length <= 1) throw new DatabaseUrlError(`the database URL ${displayUrl(url)} names no database`);
  return { kind: "postgres", url, display: displayUrl(url) };
}

/**
 * The store of a deployment: the property if set, else the URL `up` recorded in the data folder,
 * else SQLite.
 */
export function resolveDatabase(property: string | undefined, dataDir: string): DatabaseChoice {
  if (property && property.trim() !== "") return databaseChoice(property);
  return databaseChoice(recordedDatabaseUrl(dataDir));
}

export function recordedDatabaseUrl(dataDir: string): string | undefined {
  try {
    return readFileSync(join(dataDir, DATABASE_URL_FILE), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Records (or, for SQLite, forgets) the deployment's database URL; owner-only, it holds credentials. */
export function recordDatabaseUrl(dataDir: string, choice: DatabaseChoice): void {
  const file = join(dataDir, DATABASE_URL_FILE);
  if (choice.kind === "sqlite") {
    rmSync(file, { force: true });
    return;
  }
  writeFileSync(file, choice.url + "\n", { mode: 0o600 });
  chmodSync(file, 0o600);
}
