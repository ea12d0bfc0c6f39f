/**
 * The PostgreSQL schema of both stores, versioned: `iceflix_schema` holds the versions applied;
 * migrate() applies the missing ones in order, in one transaction, under an advisory
 * lock so that replicas starting together do not race. A database whose schema is newer than
 * this build is refused (an older IceFlix must not write into a layout it does not know).
 *
 * Catalog: `catalog_rev` is a one-row counter. Every edit takes it (UPDATE … RETURNING), which
 * holds its row lock until COMMIT: edits commit in revision order, so a replica that has seen
 * revision r has seen every commit up to r, and catching up is "rev > r". Tags keep the order
 * they were added in (`seq`). Users: the same records as the SQLite users DB.
 */
import { checkOut, type PgPool } from "./postgres.js";

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "catalog titles, tags and revision counter; users, removals and throttling",
    sql: `
      CREATE TABLE catalog_rev (one boolean PRIMARY KEY DEFAULT true CHECK (one), rev bigint NOT NULL);
      INSERT INTO catalog_rev (one, rev) VALUES (true, 0);
      CREATE TABLE titles (
        id     text PRIMARY KEY,
        name   text NOT NULL,
        folded text NOT NULL,
        rev    bigint NOT NULL
      );
      CREATE INDEX titles_by_folded ON titles (folded);
      CREATE INDEX titles_by_rev ON titles (rev);
      CREATE TABLE tags (
        title_id text NOT NULL REFERENCES titles (id),
        tag      text NOT NULL,
        seq      bigserial NOT NULL,
        UNIQUE (title_id, tag)
      );
      CREATE INDEX tags_by_tag ON tags (tag);
      CREATE TABLE users (
        name         text PRIMARY KEY,
        salt         bytea NOT NULL,
        key          bytea NOT NULL,
        kdf          text NOT NULL,
        changed_at   bigint NOT NULL,
        failed_count integer NOT NULL DEFAULT 0,
        locked_until bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE removed_users (name text PRIMARY KEY, removed_at bigint NOT NULL);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Any lock id will do as long as every IceFlix uses the same one. */
const MIGRATION_LOCK = 0x1cef11;

export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
}

export interface MigrationOutcome {
  from: number;
  to: number;
  applied: string[];
}

/** Brings the schema to SCHEMA_VERSION; idempotent. */
export async function migrate(pool: PgPool): Promise<MigrationOutcome> {
  const client = await checkOut(pool);
  let failed = false;
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS iceflix_schema (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const from = Number((await client.query<{ v: number }>("SELECT COALESCE(MAX(version), 0)::int AS v FROM iceflix_schema")).rows[0]!.v);
    if (from > SCHEMA_VERSION) {
      throw new SchemaTooNewError(`the database schema is version ${from}, newer than this IceFlix knows (${SCHEMA_VERSION}): upgrade IceFlix`);
    }
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO iceflix_schema (version, description) VALUES ($1, $2)", [m.version, m.description]);
      applied.push(`${m.version}: ${m.description}`);
    }
    await client.query("COMMIT");
    return { from, to: SCHEMA_VERSION, applied };
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    client.release(failed ? true : undefined);
  }
}
