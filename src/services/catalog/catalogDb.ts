/**
 * The catalog's titles (spec §4): SQLite at `<IceFlix.Data>/catalog.db` is the truth, a
 * TitleIndex in memory answers searches.
 *
 * - WAL mode, synchronous=FULL: a commit returns only after the WAL is fsynced, so an
 *   acknowledged edit survives a crash or power loss (NORMAL would survive a process crash only).
 * - Catalog replicas on one machine share the file: writers take the lock with BEGIN IMMEDIATE
 *   and wait up to busy_timeout for each other; every edit is one transaction (never half applied).
 * - Every change stamps the title's row with the next `rev`. Before answering, a reader checks
 *   PRAGMA data_version (it changes when another connection commits) and, after its own
 *   commits, loads the rows with rev above the last one it saw into the index. So a replica sees
 *   another replica's edits at its next call.
 * - Storage faults (disk full, read-only, I/O error) are thrown as StorageFault, logged once per
 *   condition: the failed transaction is rolled back and the index, loaded only from committed
 *   rows, is untouched; reads keep working, and the next edit after the fault is fixed commits.
 *   With the disk full, SQLite may still commit into WAL space it already has (durably); a
 *   checkpoint that cannot grow the DB file fails quietly and is retried by later commits.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../../runtime/logger.js";
import { requireWritable, StorageHealth, toStorageFault, type StorageCondition } from "../../runtime/storageErrors.js";
import { LIMITS } from "./catalogLimits.js";
import { foldName, TitleIndex, type TitleRecord } from "./titleIndex.js";

export const CATALOG_DB_FILE = "catalog.db";

export interface CatalogDbOptions {
  /** IceFlix.Catalog.MaxResults: most ids one search returns. */
  maxResults: number;
  /** How long a writer waits for another replica's transaction. @default 5000 */
  busyTimeoutMs?: number;
  /** Where a storage fault (and its end) is logged, once per condition. */
  log?: Logger;
}

/** An edit would leave a title with more than LIMITS.tagsPerTitle tags. */
export class TagLimitError extends Error {
  override name = "TagLimitError";
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

export class CatalogDb {
  readonly #db: Database.Database;
  readonly #index: TitleIndex;
  #lastRev = -1;
  #dataVersion = -1;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #file: string;
  readonly #health: StorageHealth;

  private constructor(db: Database.Database, file: string, options: CatalogDbOptions) {
    this.#db = db;
    this.#file = file;
    this.#index = new TitleIndex(options.maxResults);
    this.#sql = prepare(db);
    this.#health = new StorageHealth("catalog DB", file, options.log);
  }

  /**
   * Opens (creating if needed) the DB. A folder that cannot hold it (read-only, full, not a
   * folder, …) throws a StorageFault whose message names the file and the condition.
   */
  static open(file: string, options: CatalogDbOptions): CatalogDb {
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      requireWritable(file); // edits and newMedia need writes: no read-only start
      db = new Database(file);
      db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.exec(SCHEMA);
      const catalog = new CatalogDb(db, file, options);
      catalog.#sync();
      return catalog;
    } catch (e) {
      try {
        db?.close();
      } catch {
        // closing a DB that failed to open: nothing more to do
      }
      throw toStorageFault(e, file, "cannot open the catalog DB") ?? e;
    }
  }

  get file(): string {
    return this.#file;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  get size(): number {
    this.#sync();
    return this.#index.size;
  }

  has(id: string): boolean {
    this.#sync();
    return this.#index.has(id);
  }

  get(id: string): TitleRecord | undefined {
    this.#sync();
    return this.#index.get(id);
  }

  searchByName(text: string, exact: boolean): string[] {
    this.#sync();
    return this.#index.searchByName(text, exact);
  }

  searchByTags(tags: readonly string[], includeAll: boolean): string[] {
    this.#sync();
    return this.#index.searchByTags(tags, includeAll);
  }

  /**
   * Stores titles whose ids are not known yet, with their tags (de-duplicated, at most
   * LIMITS.tagsPerTitle); known ids keep their stored name and tags. One transaction. Returns the
   * ids stored.
   */
  addTitles(titles: ReadonlyArray<{ id: string; name: string; tags?: readonly string[] }>): string[] {
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

  /** Renames a title; false when the id is not known. */
  rename(id: string, name: string): boolean {
    return this.#write((rev) => this.#sql.rename.run(name, foldName(name), rev, id).changes > 0);
  }

  /**
   * Adds the tags the title does not have yet; false when the id is not known. Throws
   * TagLimitError (changing nothing) when the title would have more than LIMITS.tagsPerTitle.
   */
  addTags(id: string, tags: readonly string[]): boolean {
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

  /** Removes the tags the title has (absent ones are ignored); false when the id is not known. */
  removeTags(id: string, tags: readonly string[]): boolean {
    return this.#write((rev) => {
      if (!this.#sql.titleExists.get(id)) return false;
      let removed = 0;
      for (const tag of new Set(tags)) removed += this.#sql.deleteTag.run(id, tag).changes;
      if (removed > 0) this.#sql.touch.run(rev, id);
      return true;
    });
  }

  /**
   * Runs `change` in an IMMEDIATE transaction with the next rev, then refreshes the index from
   * the committed rows. A storage fault rolls the transaction back, leaves the index as it was and
   * is thrown as a StorageFault (logged once per condition).
   */
  #write<T>(change: (rev: number) => T): T {
    const result = this.#health.write(this.#db, "cannot write the catalog DB", () =>
      this.#db.transaction(() => change((this.#sql.maxRev.get() as { rev: number }).rev + 1)).immediate(),
    );
    this.#refresh();
    return result;
  }

  /** The storage condition the last edit failed with, if it has not succeeded since. */
  get storageFailing(): StorageCondition | undefined {
    return this.#health.failing;
  }

  /** Brings the index up to date when another connection committed since the last look. */
  #sync(): void {
    const version = this.#db.pragma("data_version", { simple: true }) as number;
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    this.#refresh();
  }

  /** Loads every title changed since #lastRev (one read snapshot) into the index. */
  #refresh(): void {
    this.#db
      .transaction(() => {
        const initial = this.#lastRev < 0;
        const titles = (initial ? this.#sql.allTitles.all() : this.#sql.changedTitles.all(this.#lastRev)) as TitleRow[];
        if (titles.length === 0) return;
        // Many changed titles (a first load, a replica's bulk insert): one pass over all tags.
        const tags = titles.length > 1000 ? this.#allTags() : undefined;
        for (const t of titles) {
          const own = tags ? tags.get(t.id) : (this.#sql.tagsOf.all(t.id) as Array<{ tag: string }>).map((r) => r.tag);
          this.#index.upsert({ id: t.id, name: t.name, tags: own ?? [] });
          if (t.rev > this.#lastRev) this.#lastRev = t.rev;
        }
      })
      .deferred();
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
  };
}
