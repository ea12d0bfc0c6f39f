/**
 * The catalog's titles (spec §4) as the service sees them: a CatalogStore (SQLite or PostgreSQL)
 * is the truth, a TitleIndex in memory answers searches and getTile, so reads keep working
 * while a networked store is down.
 *
 * The index is kept in step with every writer:
 * - an edit's own titles are applied as soon as it committed (read your writes);
 * - then, and whenever the store says another writer committed (SQLite: data_version checked
 *   before reads, at most once per event-loop task (runtime/oncePerTurn): the requests of one
 *   read burst share it; PostgreSQL: NOTIFY, and after a reconnect), the titles above the last
 *   revision seen are loaded. Revisions commit in order in both stores, so nothing is skipped.
 * - each title's revision is remembered, so an older read never overwrites a newer edit.
 * An edit that fails (storage fault, TagLimitError) changes neither the store nor the index.
 */
import type { Logger } from "../../runtime/logger.js";
import { oncePerTurn } from "../../runtime/oncePerTurn.js";
import type { StorageCondition } from "../../runtime/storageErrors.js";
import type { CatalogStore, Edit, NewTitle, StoredTitle } from "./catalogStore.js";
import { TitleIndex, type TitleRecord } from "./titleIndex.js";

export { TagLimitError } from "./catalogStore.js";
export { CATALOG_DB_FILE } from "./sqliteCatalogStore.js";

export interface CatalogDbOptions {
  /** IceFlix.Catalog.MaxResults: most ids one search returns. */
  maxResults: number;
  /** Where a failed catch-up is logged (debug: the store logs the outage itself). */
  log?: Logger;
}

export class CatalogDb {
  readonly #store: CatalogStore;
  readonly #index: TitleIndex;
  readonly #log: Logger | undefined;
  /** Revision of each title in the index. */
  readonly #revs = new Map<string, number>();
  /** Every revision up to this one is in the index. */
  #lastRev = -1;
  #catchUpWanted = false;
  #catchingUp: Promise<void> | undefined;

  private constructor(store: CatalogStore, options: CatalogDbOptions) {
    this.#store = store;
    this.#index = new TitleIndex(options.maxResults);
    this.#log = options.log;
  }

  /** Loads every title of `store` into a new index; the DB owns the store from then on (close()). */
  static async open(store: CatalogStore, options: CatalogDbOptions): Promise<CatalogDb> {
    const db = new CatalogDb(store, options);
    // Listening before the first load: a commit after it is either in the load or notified.
    store.onChange(() => db.#requestCatchUp());
    try {
      db.#apply(await store.titlesSince(-1), true);
    } catch (e) {
      await store.close();
      throw e;
    }
    return db;
  }

  /** Where the titles are (file or URL without credentials). */
  get location(): string {
    return this.#store.location;
  }

  async close(): Promise<void> {
    await this.#catchingUp?.catch(() => undefined);
    await this.#store.close();
  }

  get size(): number {
    this.#poll();
    return this.#index.size;
  }

  /** The index's search keys (not polled: a scrape must not touch the store). */
  get indexKeys(): number {
    return this.#index.keys;
  }

  /** The titles indexed now (not polled, as indexKeys). */
  get indexedTitles(): number {
    return this.#index.size;
  }

  /** Whether the index held `id` at the last poll: a pre-check with no poll (confirm with get()). */
  hadAtLastPoll(id: string): boolean {
    return this.#index.has(id);
  }

  has(id: string): boolean {
    this.#poll();
    return this.#index.has(id);
  }

  get(id: string): TitleRecord | undefined {
    this.#poll();
    return this.#index.get(id);
  }

  searchByName(text: string, exact: boolean): string[] {
    this.#poll();
    return this.#index.searchByName(text, exact);
  }

  searchByTags(tags: readonly string[], includeAll: boolean): string[] {
    this.#poll();
    return this.#index.searchByTags(tags, includeAll);
  }

  /**
   * Stores titles whose ids are not known yet, with their tags (de-duplicated, at most
   * LIMITS.tagsPerTitle); known ids keep their stored name and tags. One transaction. Returns the
   * ids stored.
   */
  addTitles(titles: readonly NewTitle[]): Promise<string[]> {
    return this.#edited(this.#store.addTitles(titles));
  }

  /** Renames a title; false when the id is not known. */
  rename(id: string, name: string): Promise<boolean> {
    return this.#edited(this.#store.rename(id, name));
  }

  /**
   * Adds the tags the title does not have yet; false when the id is not known. Throws
   * TagLimitError (changing nothing) when the title would have more than LIMITS.tagsPerTitle.
   */
  addTags(id: string, tags: readonly string[]): Promise<boolean> {
    return this.#edited(this.#store.addTags(id, tags));
  }

  /** Removes the tags the title has (absent ones are ignored); false when the id is not known. */
  removeTags(id: string, tags: readonly string[]): Promise<boolean> {
    return this.#edited(this.#store.removeTags(id, tags));
  }

  /** The storage condition the last edit failed with, if it has not succeeded since. */
  get storageFailing(): StorageCondition | undefined {
    return this.#store.failing;
  }

  /** Resolves once every catch-up asked for so far is done (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.#catchingUp) await this.#catchingUp;
  }

  async #edited<T>(edit: Promise<Edit<T>>): Promise<T> {
    const { result, changed } = await edit;
    this.#apply(changed, false);
    this.#requestCatchUp();
    return result;
  }

  /**
   * Puts titles into the index unless it holds a newer revision of them. `complete`: these are
   * all the titles above #lastRev (one snapshot), so #lastRev may move up to their highest.
   */
  #apply(titles: readonly StoredTitle[], complete: boolean): void {
    let highest = this.#lastRev;
    for (const t of titles) {
      if (t.rev > highest) highest = t.rev;
      if ((this.#revs.get(t.id) ?? -1) > t.rev) continue;
      this.#revs.set(t.id, t.rev);
      this.#index.upsert({ id: t.id, name: t.name, tags: t.tags });
    }
    if (complete) this.#lastRev = Math.max(this.#lastRev, highest, 0);
  }

  /** A local store's changes by other connections, read before answering (once per task). */
  readonly #poll = oncePerTurn(() => {
    const changes = this.#store.pollChangesSince?.(this.#lastRev);
    if (changes) this.#apply(changes, true);
  });

  /** One catch-up at a time; asked during one, another runs after it. */
  #requestCatchUp(): void {
    this.#catchUpWanted = true;
    this.#catchingUp ??= this.#catchUps().finally(() => (this.#catchingUp = undefined));
  }

  async #catchUps(): Promise<void> {
    while (this.#catchUpWanted) {
      this.#catchUpWanted = false;
      try {
        this.#apply(await this.#store.titlesSince(this.#lastRev), true);
      } catch (e) {
        // The store logged the outage; its reconnect asks for a catch-up again.
        this.#log?.debug({ error: String(e) }, "catalog catch-up failed; retried when the store answers");
        return;
      }
    }
  }
}
