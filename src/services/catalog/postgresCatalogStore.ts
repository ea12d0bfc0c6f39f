/**
 * The catalog store in PostgreSQL, shared by catalog replicas on any number of hosts.
 *
 * - Every edit is one transaction that first takes the revision counter (UPDATE catalog_rev …
 *   RETURNING): its row lock serializes edits until COMMIT, so revisions commit in order and
 *   "rev > last seen" never skips a commit. The edit reads back the titles it stamped and, in the
 *   same transaction, NOTIFYs `iceflix_catalog` (delivered only if it commits).
 * - Replicas LISTEN on that channel and catch up by revision on each notification and after each
 *   reconnect (notifications sent while disconnected are lost; the revision is not).
 * - An edit is acknowledged only after COMMIT returned. A server down, unreachable or too slow
 *   makes it fail within the deadline as a StorageFault `unavailable` (Busy on the wire), logged
 *   once until the store answers again; a transaction given up before COMMIT is rolled back.
 */
import type { Logger } from "../../runtime/logger.js";
import { StorageHealth, type StorageCondition } from "../../runtime/storageErrors.js";
import { createPool, inTransaction, scrubbedError, toPostgresFault, type PgPool, type PgQueryable, openRetryingTimeouts } from "../../runtime/postgres.js";
import { PostgresNotifications } from "../../runtime/postgresNotifications.js";
import { displayUrl } from "../../runtime/database.js";
import { migrate } from "../../runtime/postgresSchema.js";
import { LIMITS } from "./catalogLimits.js";
import { TagLimitError, type CatalogStore, type Edit, type NewTitle, type StoredTitle } from "./catalogStore.js";
import { foldName } from "./titleIndex.js";

const CHANNEL = "iceflix_catalog";
/** A first load of many titles may take longer than one edit is allowed to. */
const LOAD_DEADLINE_MS = 60_000;

export interface PostgresCatalogOptions {
  /** What one edit may take before it is refused (well within the call timeout). */
  deadlineMs: number;
  log?: Logger;
  /** Listen for other writers' edits (a service does; a one-shot command does not). @default true */
  listen?: boolean;
}

interface TitleRow {
  id: string;
  name: string;
  rev: number;
  tags: string[];
}

/** Every title with its tags (the full load): one join, aggregated. Add the WHERE and GROUP BY t.id. */
const TITLES_WITH_TAGS = `
  SELECT t.id, t.name, t.rev::float8 AS rev,
         COALESCE(array_agg(g.tag ORDER BY g.seq) FILTER (WHERE g.tag IS NOT NULL), '{}') AS tags
    FROM titles t LEFT JOIN tags g ON g.title_id = t.id`;

/**
 * A few titles with their tags (an edit's read-back, a catch-up): tags looked up per title by
 * index. The join above would hash-join the whole tags table (a seq scan: 10 ms per edit at 100k
 * titles) however few titles the WHERE selects. Add the WHERE.
 */
const FEW_TITLES_WITH_TAGS = `
  SELECT t.id, t.name, t.rev::float8 AS rev,
         COALESCE((SELECT array_agg(g.tag ORDER BY g.seq) FROM tags g WHERE g.title_id = t.id), '{}') AS tags
    FROM titles t`;

export class PostgresCatalogStore implements CatalogStore {
  readonly #pool: PgPool;
  readonly #url: string;
  readonly #deadlineMs: number;
  readonly #health: StorageHealth;
  readonly #listeners: Array<() => void> = [];
  #notifications: PostgresNotifications | undefined;

  private constructor(url: string, options: PostgresCatalogOptions) {
    this.#url = url;
    this.#deadlineMs = options.deadlineMs;
    this.#health = new StorageHealth("catalog DB", displayUrl(url), options.log);
    this.#pool = createPool(url, { deadlineMs: options.deadlineMs, applicationName: "iceflix-catalog" }, () => {
      // An idle connection lost: the next edit reports the outage, if it lasts.
    });
  }

  /** Connects, brings the schema up to date and starts listening; a failure names the URL without credentials. */
  static open(url: string, options: PostgresCatalogOptions): Promise<PostgresCatalogStore> {
    return openRetryingTimeouts(() => PostgresCatalogStore.#openOnce(url, options));
  }

  static async #openOnce(url: string, options: PostgresCatalogOptions): Promise<PostgresCatalogStore> {
    const store = new PostgresCatalogStore(url, options);
    try {
      await migrate(store.#pool);
      if (options.listen ?? true) {
        store.#notifications = new PostgresNotifications(url, [CHANNEL], { deadlineMs: options.deadlineMs }, {
          onNotification: () => store.#changed(),
          onListening: () => {
            store.#health.succeeded();
            store.#changed();
          },
          onLost: (e) => {
            const fault = toPostgresFault(e, store.location, "lost the catalog DB");
            if (fault) store.#health.failed(fault);
          },
        });
        await store.#notifications.start();
      }
      return store;
    } catch (e) {
      await store.close();
      throw toPostgresFault(e, store.location, "cannot open the catalog DB") ?? scrubbedError(e, url);
    }
  }

  get location(): string {
    return displayUrl(this.#url);
  }

  get failing(): StorageCondition | undefined {
    return this.#health.failing;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    await this.#notifications?.close();
    await this.#pool.end().catch(() => undefined);
  }

  async titlesSince(rev: number): Promise<StoredTitle[]> {
    try {
      return await inTransaction(this.#pool, rev < 0 ? LOAD_DEADLINE_MS : this.#deadlineMs, async (c) => {
        if (rev < 0) await c.query(`SET LOCAL statement_timeout = ${LOAD_DEADLINE_MS}`);
        const text = rev < 0 ? `${TITLES_WITH_TAGS} WHERE t.rev > $1 GROUP BY t.id` : `${FEW_TITLES_WITH_TAGS} WHERE t.rev > $1`;
        const query = { text, values: [rev], query_timeout: rev < 0 ? LOAD_DEADLINE_MS : undefined };
        return (await c.query<TitleRow>(query)).rows;
      });
    } catch (e) {
      throw this.#fault(e, "cannot read the catalog DB");
    }
  }

  async addTitles(titles: readonly NewTitle[]): Promise<Edit<string[]>> {
    return this.#edit(async (c, rev) => {
      if (titles.length === 0) return [];
      const inserted = await c.query<{ id: string }>(
        `INSERT INTO titles (id, name, folded, rev)
           SELECT u.id, u.name, u.folded, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, name, folded)
           ON CONFLICT (id) DO NOTHING RETURNING id`,
        [titles.map((t) => t.id), titles.map((t) => t.name), titles.map((t) => foldName(t.name)), rev],
      );
      const stored = new Set(inserted.rows.map((r) => r.id));
      const tagRows: Array<[string, string]> = [];
      for (const t of titles) {
        if (!stored.has(t.id)) continue;
        stored.delete(t.id); // a repeated id in the batch: its first entry counts
        for (const tag of [...new Set(t.tags ?? [])].slice(0, LIMITS.tagsPerTitle)) tagRows.push([t.id, tag]);
      }
      await insertTags(c, tagRows);
      return inserted.rows.map((r) => r.id);
    });
  }

  async rename(id: string, name: string): Promise<Edit<boolean>> {
    return this.#edit(async (c, rev) => {
      const r = await c.query("UPDATE titles SET name = $1, folded = $2, rev = $3 WHERE id = $4", [name, foldName(name), rev, id]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async addTags(id: string, tags: readonly string[]): Promise<Edit<boolean>> {
    return this.#edit(async (c, rev) => {
      if ((await c.query("SELECT 1 FROM titles WHERE id = $1", [id])).rowCount === 0) return false;
      const have = new Set((await c.query<{ tag: string }>("SELECT tag FROM tags WHERE title_id = $1", [id])).rows.map((r) => r.tag));
      const fresh = [...new Set(tags)].filter((t) => !have.has(t));
      if (fresh.length === 0) return true;
      if (have.size + fresh.length > LIMITS.tagsPerTitle) {
        throw new TagLimitError(`a title has at most ${LIMITS.tagsPerTitle} tags (it has ${have.size}, ${fresh.length} more asked)`);
      }
      await insertTags(c, fresh.map((tag) => [id, tag]));
      await c.query("UPDATE titles SET rev = $1 WHERE id = $2", [rev, id]);
      return true;
    });
  }

  async removeTags(id: string, tags: readonly string[]): Promise<Edit<boolean>> {
    return this.#edit(async (c, rev) => {
      if ((await c.query("SELECT 1 FROM titles WHERE id = $1", [id])).rowCount === 0) return false;
      const removed = await c.query("DELETE FROM tags WHERE title_id = $1 AND tag = ANY($2::text[])", [id, [...new Set(tags)]]);
      if ((removed.rowCount ?? 0) > 0) await c.query("UPDATE titles SET rev = $1 WHERE id = $2", [rev, id]);
      return true;
    });
  }

  /** One edit transaction: next revision (serializing), the change, its titles read back, NOTIFY. */
  async #edit<T>(change: (c: PgQueryable, rev: number) => Promise<T>): Promise<Edit<T>> {
    try {
      const edit = await inTransaction(this.#pool, this.#deadlineMs, async (c) => {
        const rev = Number((await c.query<{ rev: number }>("UPDATE catalog_rev SET rev = rev + 1 RETURNING rev::float8 AS rev")).rows[0]!.rev);
        const result = await change(c, rev);
        const changed = (await c.query<TitleRow>(`${FEW_TITLES_WITH_TAGS} WHERE t.rev = $1`, [rev])).rows;
        if (changed.length > 0) await c.query("SELECT pg_notify($1, $2)", [CHANNEL, String(rev)]);
        return { result, changed };
      });
      this.#health.succeeded();
      return edit;
    } catch (e) {
      throw this.#fault(e, "cannot write the catalog DB");
    }
  }

  /** A storage error as a StorageFault (logged once); other errors pass, without credentials. */
  #fault(e: unknown, action: string): Error {
    if (e instanceof TagLimitError) return e;
    const fault = toPostgresFault(e, this.location, action);
    if (!fault) return scrubbedError(e, this.#url);
    this.#health.failed(fault);
    return fault;
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** Inserts (title, tag) pairs in the given order (their `seq` keeps it); existing pairs are kept. */
async function insertTags(c: PgQueryable, rows: ReadonlyArray<readonly [string, string]>): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO tags (title_id, tag)
       SELECT u.title_id, u.tag FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(title_id, tag, n) ORDER BY u.n
       ON CONFLICT (title_id, tag) DO NOTHING`,
    [rows.map((r) => r[0]), rows.map((r) => r[1])],
  );
}
