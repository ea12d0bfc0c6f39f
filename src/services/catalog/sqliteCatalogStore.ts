/**
 * The catalog store in SQLite (`<IceFlix.Data>/catalog.db`), the embedded default.
 *
 * - WAL mode, synchronous=FULL: a commit returns only after the WAL is fsynced, so an
 *   acknowledged edit survives a crash or power loss (NORMAL would survive a process crash only).
 * - Catalog replicas on one machine share the file: writers take the lock with BEGIN IMMEDIATE
 *   and wait up to busy_timeout for each other; every edit is one transaction (never half applied).
 * - Every change stamps the title's row with the next `rev` (max + 1 under the write lock, so
 *   revisions commit in order). PRAGMA data_version changes when another connection commits:
 *   pollChangesSince() checks it before each read, so a replica sees another's edits at its next call.
 * - Storage faults (disk full, read-only, I/O error) are thrown as StorageFault, logged once per
 *   condition: the failed transaction is rolled back. With the disk full, SQLite may still commit
 *   into WAL space it already has (durably); a checkpoint that cannot grow the DB file fails
 *   quietly and is retried by later commits.
 */
import Database from "better-sqlite3";
import type { Logger } from "../../runtime/logger.js";
import { openSqliteFile } from "../../runtime/sqliteFile.js";
import { StorageHealth, type StorageCondition } from "../../runtime/storageErrors.js";
import { LIMITS } from "./catalogLimits.js";
import { TagLimitError, type CatalogStore, type Edit, type NewTitle, type StoredTitle } from "./catalogStore.js";
import { foldName } from "./titleIndex.js";

export const CATALOG_DB_FILE = "catalog.db";

export interface SqliteCatalogOptions {
  /** How long a writer waits for another replica's transaction. @default 5000 */
  busyTimeoutMs?: number;
  /** Where a storage fault (and its end) is logged, once per condition. */
  log?: Logger;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS titles (
    id     TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    folded TEXT NOT NULL,          -- foldName(name), for exact lookups from SQL
    rev    INTEGER NOT NULL        -- bumped on every change of the title or its tags
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS titles_by_folded ON titles(folded);
  CREATE INDEX IF NOT EXISTS titles_by_rev ON titles(rev);
  CREATE TABLE IF NOT EXISTS tags (
    title_id TEXT NOT NULL REFERENCES titles(id),
    tag      TEXT NOT NULL,
    UNIQUE (title_id, tag)         -- no duplicate tags; rowid keeps the order they were added in
  );
  CREATE INDEX IF NOT EXISTS tags_by_tag ON tags(tag);
`;

interface TitleRow {
  id: string;
  name: string;
  rev: number;
}

interface TagRow {
  title_id: string;
  tag: string;
}

export class SqliteCatalogStore implements CatalogStore {
  readonly #db: Database.Database;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #file: string;
  readonly #health: StorageHealth;
  #dataVersion = -1;

  private constructor(db: Database.Database, file: string, log: Logger | undefined) {
    this.#db = db;
    this.#file = file;
    this.#sql = prepare(db);
    this.#health = new StorageHealth("catalog DB", file, log);
    this.#dataVersion = this.#currentDataVersion();
  }

  /**
   * Opens (creating if needed) the DB. A folder that cannot hold it (read-only, full, not a
   * folder, …) throws a StorageFault whose message names the file and the condition.
   */
  static open(file: string, options: SqliteCatalogOptions = {}): SqliteCatalogStore {
    const db = openSqliteFile(file, { what: "catalog DB", busyTimeoutMs: options.busyTimeoutMs ?? 5000, schema: SCHEMA });
    return new SqliteCatalogStore(db, file, options.log);
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

  onChange(): void {
    // Changes are found by pollChangesSince() before each read.
  }

  async titlesSince(rev: number): Promise<StoredTitle[]> {
    return this.#readSince(rev);
  }

  pollChangesSince(rev: number): StoredTitle[] | undefined {
    const version = this.#currentDataVersion();
    if (version === this.#dataVersion) return undefined;
    this.#dataVersion = version;
    return this.#readSince(rev);
  }

  async addTitles(titles: readonly NewTitle[]): Promise<Edit<string[]>> {
    return this.#write((rev) => {
      const ids: string[] = [];
      for (const t of titles) {
        if (this.#sql.insertTitle.run(t.id, t.name, foldName(t.name), rev).changes === 0) continue;
        for (const tag of [...new Set(t.tags ?? [])].slice(0, LIMITS.tagsPerTitle)) this.#sql.insertTag.run(t.id, tag);
        ids.push(t.id);
      }
      return ids;
    });
  }

  async rename(id: string, name: string): Promise<Edit<boolean>> {
    return this.#write((rev) => this.#sql.rename.run(name, foldName(name), rev, id).changes > 0);
  }

  async addTags(id: string, tags: readonly string[]): Promise<Edit<boolean>> {
    return this.#write((rev) => {
      if (!this.#sql.titleExists.get(id)) return false;
      const have = new Set((this.#sql.tagsOf.all(id) as Array<{ tag: string }>).map((r) => r.tag));
      const fresh = [...new Set(tags)].filter((t) => !have.has(t));
      if (fresh.length === 0) return true;
      if (have.size + fresh.length > LIMITS.tagsPerTitle) {
        throw new TagLimitError(`a title has at most ${LIMITS.tagsPerTitle} tags (it has ${have.size}, ${fresh.length} more asked)`);
      }
      for (const tag of fresh) this.#sql.insertTag.run(id, tag);
      this.#sql.touch.run(rev, id);
      return true;
    });
  }

  async removeTags(id: string, tags: readonly string[]): Promise<Edit<boolean>> {
    return this.#write((rev) => {
      if (!this.#sql.titleExists.get(id)) return false;
      let removed = 0;
      for (const tag of new Set(tags)) removed += this.#sql.deleteTag.run(id, tag).changes;
      if (removed > 0) this.#sql.touch.run(rev, id);
      return true;
    });
  }

  /**
   * Runs `change` in an IMMEDIATE transaction with the next rev and reads back the titles it
   * stamped, in the same transaction. A storage fault rolls it back and is thrown as a
   * StorageFault (logged once per condition).
   */
  #write<T>(change: (rev: number) => T): Edit<T> {
    return this.#health.write(this.#db, "cannot write the catalog DB", () =>
      this.#db
        .transaction(() => {
          const rev = (this.#sql.maxRev.get() as { rev: number }).rev + 1;
          const result = change(rev);
          const changed = this.#withTags(this.#sql.titlesAt.all(rev) as TitleRow[]);
          return { result, changed };
        })
        .immediate(),
    );
  }

  #currentDataVersion(): number {
    return this.#sql.dataVersion.get() as number;
  }

  /** Every title changed since `rev`, in one read snapshot. */
  #readSince(rev: number): StoredTitle[] {
    return this.#db
      .transaction(() => {
        return this.#withTags((rev < 0 ? this.#sql.allTitles.all() : this.#sql.changedTitles.all(rev)) as TitleRow[]);
      })
      .deferred();
  }

  /** The titles with their tags (inside the caller's transaction). */
  #withTags(titles: TitleRow[]): StoredTitle[] {
    const tagsOf = (id: string) => (this.#sql.tagsOf.all(id) as Array<{ tag: string }>).map((r) => r.tag);
    if (titles.length <= 1000) return titles.map((t) => ({ id: t.id, name: t.name, rev: t.rev, tags: tagsOf(t.id) }));
    // Many titles (a first load, a bulk insert): one pass over all tags.
    const tags = this.#allTags();
    return titles.map((t) => ({ id: t.id, name: t.name, rev: t.rev, tags: tags.get(t.id) ?? [] }));
  }

  /** Every title's tags in the order they were added (one pass over the table). */
  #allTags(): Map<string, string[]> {
    const tags = new Map<string, string[]>();
    for (const row of this.#sql.allTags.iterate() as IterableIterator<TagRow>) {
      const list = tags.get(row.title_id);
      if (list) list.push(row.tag);
      else tags.set(row.title_id, [row.tag]);
    }
    return tags;
  }
}

function prepare(db: Database.Database) {
  return {
    // Before reads (once per event-loop task); db.pragma() would prepare a statement each time.
    dataVersion: db.prepare("PRAGMA data_version").pluck(),
    maxRev: db.prepare("SELECT COALESCE(MAX(rev), 0) AS rev FROM titles"),
    insertTitle: db.prepare("INSERT OR IGNORE INTO titles (id, name, folded, rev) VALUES (?, ?, ?, ?)"),
    insertTag: db.prepare("INSERT OR IGNORE INTO tags (title_id, tag) VALUES (?, ?)"),
    deleteTag: db.prepare("DELETE FROM tags WHERE title_id = ? AND tag = ?"),
    rename: db.prepare("UPDATE titles SET name = ?, folded = ?, rev = ? WHERE id = ?"),
    touch: db.prepare("UPDATE titles SET rev = ? WHERE id = ?"),
    titleExists: db.prepare("SELECT 1 FROM titles WHERE id = ?"),
    tagsOf: db.prepare("SELECT tag FROM tags WHERE title_id = ? ORDER BY rowid"),
    allTitles: db.prepare("SELECT id, name, rev FROM titles"),
    allTags: db.prepare("SELECT title_id, tag FROM tags ORDER BY rowid"),
    changedTitles: db.prepare("SELECT id, name, rev FROM titles WHERE rev > ?"),
    titlesAt: db.prepare("SELECT id, name, rev FROM titles WHERE rev = ?"),
  };
}
