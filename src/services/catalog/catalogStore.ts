/**
 * What the catalog needs of a store (spec §4): titles with their tags, each change stamped with a
 * revision, edits applied in one transaction and acknowledged only after their commit. Two
 * implementations: SQLite (the file in the data folder, the embedded default) and PostgreSQL
 * (shared by replicas on several hosts). CatalogDb keeps the in-memory search index on top.
 */
import type { StorageCondition } from "../../runtime/storageErrors.js";

export interface StoredTitle {
  id: string;
  name: string;
  /** In the order they were added. */
  tags: string[];
  /** The revision of the title's last change (commit order across every writer). */
  rev: number;
}

export interface NewTitle {
  id: string;
  name: string;
  tags?: readonly string[];
}

/** What an edit returned, and the titles it changed as committed (for the index at once). */
export interface Edit<T> {
  result: T;
  changed: StoredTitle[];
}

/** An edit would leave a title with more than LIMITS.tagsPerTitle tags. */
export class TagLimitError extends Error {
  override name = "TagLimitError";
}

export interface CatalogStore {
  /** Where it is, for log lines and errors: a file, or a URL without credentials. */
  readonly location: string;
  /** Every title whose revision is above `rev`, with its tags, from one snapshot (all when rev < 0). */
  titlesSince(rev: number): Promise<StoredTitle[]>;
  /** Stores titles whose ids are not known yet (tags de-duplicated, capped); returns the ids stored. */
  addTitles(titles: readonly NewTitle[]): Promise<Edit<string[]>>;
  /** false when the id is not known. */
  rename(id: string, name: string): Promise<Edit<boolean>>;
  /** Adds the missing tags; false when the id is not known; TagLimitError (nothing changed) past the cap. */
  addTags(id: string, tags: readonly string[]): Promise<Edit<boolean>>;
  /** Removes the present tags (absent ones are ignored); false when the id is not known. */
  removeTags(id: string, tags: readonly string[]): Promise<Edit<boolean>>;
  /**
   * Local stores (SQLite): the titles other connections committed above `rev` since the last look,
   * read synchronously so that a read answers with them; undefined when nothing changed.
   * Networked stores have none and push through onChange instead.
   */
  pollChangesSince?(rev: number): StoredTitle[] | undefined;
  /** Networked stores: `listener` runs when another writer committed, and after a reconnect. */
  onChange(listener: () => void): void;
  /** The condition the last edit failed with, if none succeeded since. */
  readonly failing: StorageCondition | undefined;
  close(): Promise<void>;
}
