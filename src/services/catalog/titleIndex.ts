/**
 * The in-memory search index of the catalog (spec §4): every known title with its folded name,
 * kept sorted by name, plus posting lists so that searches touch only candidate titles.
 *
 * Why in memory and not SQLite FTS5: FTS5's trigram tokenizer cannot answer 1–2 character
 * queries from its index (SQLite falls back to a scan), and results must come back sorted by
 * name, which in SQL means sorting every match per call (tens of thousands for a 1-char query).
 * Here every title has a rank in the sorted order, so a search collects candidate ranks and reads
 * them back in order, stopping at MaxResults. 100,000 titles cost about 70 MB of heap (15 MB of
 * it the trigram lists).
 *
 * - Name postings: every distinct 1-, 2- and 3-code-unit substring of a folded name → slots. A
 *   query of 1–3 code units is answered by one posting list; a longer one intersects the
 *   posting lists of its trigrams and checks each candidate with includes(). Code units (not
 *   code points) keep this exactly equal to String.prototype.includes.
 * - Results come out in name order by one of two paths: few candidates have their ranks sorted
 *   (a typed array, natively); many are marked by rank and read in order until MaxResults.
 * - Exact names: folded name → slots. Tags: tag → slots.
 * - Updates never edit posting lists in place: an updated title gets a new slot and the old slot
 *   becomes a tombstone that readers skip; lists are rebuilt once tombstones reach a quarter.
 * - The sorted order is repaired lazily at the next search: a few changes are patched in by
 *   binary search, many (a bulk load) by one sort.
 */

/** Spec §4: names are compared after Unicode NFC and toLowerCase(), on both sides. */
export function foldName(text: string): string {
  return text.normalize("NFC").toLowerCase();
}

export interface TitleRecord {
  id: string;
  name: string;
  tags: readonly string[];
}

interface Entry {
  slot: number;
  id: string;
  name: string;
  folded: string;
  tags: readonly string[];
  tagSet: ReadonlySet<string>;
  /** Position in the sorted order (valid once pending order changes are applied). */
  rank: number;
  live: boolean;
}

/** Sorted by name: folded name, then the name itself, then id (a total order). */
function byName(a: Entry, b: Entry): number {
  if (a.folded !== b.folded) return a.folded < b.folded ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * A 1- or 2-code-unit substring as a number (no string allocated per gram): a unigram is its
 * code unit, a bigram (c1 + 1) * 65536 + c2.
 */
function unigramKey(text: string, at: number): number {
  return text.charCodeAt(at);
}

function bigramKey(text: string, at: number): number {
  return (text.charCodeAt(at) + 1) * 65536 + text.charCodeAt(at + 1);
}

/** A 3-code-unit substring as a number (below 2^49: exact as a double). */
function trigramKey(text: string, at: number): number {
  return (text.charCodeAt(at) + 1) * 4294967296 + (text.charCodeAt(at + 1) + 1) * 65536 + text.charCodeAt(at + 2);
}

function gramKey(gram: string): number {
  return gram.length === 1 ? unigramKey(gram, 0) : bigramKey(gram, 0);
}

/** Posting lists: key → slots in ascending order (a title's slot is added once per key). */
class Postings<K> {
  readonly #lists = new Map<K, number[]>();

  add(key: K, slot: number): void {
    const list = this.#lists.get(key);
    if (!list) this.#lists.set(key, [slot]);
    // Slots only grow, so a repeat of the same title is always the last element.
    else if (list[list.length - 1] !== slot) list.push(slot);
  }

  get(key: K): readonly number[] {
    return this.#lists.get(key) ?? EMPTY;
  }

  get keys(): number {
    return this.#lists.size;
  }

  clear(): void {
    this.#lists.clear();
  }
}

const EMPTY: readonly number[] = [];

/** Below this many candidates left, the remaining lists are not worth intersecting. */
const FEW_CANDIDATES = 64;

/**
 * The slots in every one of `lists` (each ascending), shortest list first. Lists of similar
 * length are merged in one linear pass; a short list against a much longer one walks the short
 * side and binary-searches the long one from where the last match was found.
 */
function intersectAscending(lists: ReadonlyArray<readonly number[]>): readonly number[] {
  const sorted = [...lists].sort((a, b) => a.length - b.length);
  let out: readonly number[] = sorted[0]!;
  for (let k = 1; k < sorted.length && out.length > FEW_CANDIDATES; k++) {
    const other = sorted[k]!;
    out = other.length < out.length * 16 ? mergeCommon(out, other) : searchCommon(out, other);
  }
  return out;
}

function mergeCommon(a: readonly number[], b: readonly number[]): number[] {
  const kept: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      kept.push(x);
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return kept;
}

function searchCommon(short: readonly number[], long: readonly number[]): number[] {
  const kept: number[] = [];
  let from = 0;
  for (const slot of short) {
    let lo = from;
    let hi = long.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (long[mid]! < slot) lo = mid + 1;
      else hi = mid;
    }
    if (lo === long.length) break;
    if (long[lo] === slot) kept.push(slot);
    from = lo;
  }
  return kept;
}

/**
 * Candidates fewer than this share of the titles have their ranks sorted (k log k, natively);
 * more are marked (one pass over every rank). At 100k titles, 3,000–7,000 candidates sorted as
 * entries with a comparator took 1.6–3 ms; as typed ranks they take under 0.8 ms.
 */
const SORT_BELOW_SHARE = 1 / 8;

/** Above this many pending order changes the order is re-sorted instead of patched. */
const PATCH_LIMIT = 256;

export class TitleIndex {
  readonly maxResults: number;
  readonly #byId = new Map<string, Entry>();
  /** slot → entry; tombstones are undefined. */
  #slots: Array<Entry | undefined> = [];
  /** Each slot's rank (-1: retired or not ordered yet), so marking reads one array, not entries. */
  #rankOf = new Int32Array(1024).fill(-1);
  /** Marks by rank, reused by every search (cleared after each). */
  #marks = new Uint8Array(0);
  #tombstones = 0;
  readonly #grams = new Postings<number>();
  readonly #trigrams = new Postings<number>();
  readonly #exact = new Postings<string>();
  readonly #tags = new Postings<string>();
  /** Live entries sorted by name, once #added and #retired are applied. */
  #order: Entry[] = [];
  #added: Entry[] = [];
  #retired: Entry[] = [];

  constructor(maxResults: number) {
    this.maxResults = maxResults;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Search keys held (1-/2-grams, exact names, tags): what the index costs in memory. */
  get keys(): number {
    return this.#grams.keys + this.#trigrams.keys + this.#exact.keys + this.#tags.keys;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  get(id: string): TitleRecord | undefined {
    const e = this.#byId.get(id);
    return e ? { id: e.id, name: e.name, tags: [...e.tags] } : undefined;
  }

  /** Adds a title or replaces what is known of it. */
  upsert(record: TitleRecord): void {
    const old = this.#byId.get(record.id);
    if (old) {
      if (old.name === record.name && sameList(old.tags, record.tags)) return;
      this.#retire(old);
    }
    const entry: Entry = {
      slot: this.#slots.length,
      id: record.id,
      name: record.name,
      folded: foldName(record.name),
      tags: [...record.tags],
      tagSet: new Set(record.tags),
      rank: -1,
      live: true,
    };
    this.#slots.push(entry);
    this.#setRankOf(entry.slot, -1);
    this.#byId.set(entry.id, entry);
    this.#post(entry);
    this.#added.push(entry);
    if (this.#tombstones > 1024 && this.#tombstones * 4 > this.#slots.length) this.#compact();
  }

  /**
   * Ids of titles whose folded name equals (exact) or contains the folded `text`, sorted by
   * name, at most maxResults. An empty substring lists every title.
   */
  searchByName(text: string, exact: boolean): string[] {
    const query = foldName(text);
    if (exact) return this.#inOrder([this.#exact.get(query)]);
    if (query.length === 0) {
      this.#applyOrderChanges();
      const out = resultArray(Math.min(this.#order.length, this.maxResults));
      for (let i = 0; i < out.length; i++) out[i] = this.#order[i]!.id;
      return out;
    }
    if (query.length <= 2) return this.#inOrder([this.#grams.get(gramKey(query))]);
    // Candidates hold every trigram of the query: the posting lists intersected, shortest first
    // (a common bigram alone names a third of the catalog; trigrams are far more selective), then
    // each checked with includes().
    const lists: Array<readonly number[]> = [];
    for (let i = 0; i + 2 < query.length; i++) {
      const list = this.#trigrams.get(trigramKey(query, i));
      if (list.length === 0) return [];
      lists.push(list);
    }
    // Three code units: the one trigram's list is the answer.
    if (query.length === 3) return this.#inOrder(lists);
    return this.#inOrder([intersectAscending(lists)], (e) => e.folded.includes(query));
  }

  /** Ids of titles with all (includeAll) or any of `tags` (exact, case-sensitive), sorted by name. */
  searchByTags(tags: readonly string[], includeAll: boolean): string[] {
    const wanted = [...new Set(tags)];
    if (wanted.length === 0) return [];
    const lists = wanted.map((t) => this.#tags.get(t));
    if (!includeAll) return this.#inOrder(lists);
    const shortest = lists.reduce((a, b) => (b.length < a.length ? b : a));
    return this.#inOrder([shortest], (e) => wanted.every((t) => e.tagSet.has(t)));
  }

  #post(entry: Entry): void {
    const { folded, slot } = entry;
    for (let i = 0; i < folded.length; i++) {
      this.#grams.add(unigramKey(folded, i), slot);
      if (i + 1 < folded.length) this.#grams.add(bigramKey(folded, i), slot);
      if (i + 2 < folded.length) this.#trigrams.add(trigramKey(folded, i), slot);
    }
    this.#exact.add(folded, slot);
    for (const tag of entry.tagSet) this.#tags.add(tag, slot);
  }

  #retire(entry: Entry): void {
    entry.live = false;
    this.#slots[entry.slot] = undefined;
    this.#rankOf[entry.slot] = -1;
    this.#tombstones++;
    this.#byId.delete(entry.id);
    this.#retired.push(entry);
  }

  /** Rebuilds every posting list without tombstones (slots are renumbered). */
  #compact(): void {
    const live = this.#slots.filter((e): e is Entry => e !== undefined);
    this.#slots = live;
    this.#tombstones = 0;
    this.#grams.clear();
    this.#trigrams.clear();
    this.#exact.clear();
    this.#tags.clear();
    this.#rankOf.fill(-1);
    live.forEach((e, slot) => {
      e.slot = slot;
      this.#rankOf[slot] = e.rank; // -1 for one not ordered yet
      this.#post(e);
    });
  }

  /**
   * Brings #order up to date: a few changes are patched in by binary search (a retired entry
   * still has the name it was sorted by); many are merged by one sort.
   */
  #setRankOf(slot: number, rank: number): void {
    if (slot >= this.#rankOf.length) {
      const grown = new Int32Array(Math.max(slot + 1, this.#rankOf.length * 2)).fill(-1);
      grown.set(this.#rankOf);
      this.#rankOf = grown;
    }
    this.#rankOf[slot] = rank;
  }

  #applyOrderChanges(): void {
    const added = this.#added.filter((e) => e.live);
    const retired = this.#retired.filter((e) => e.rank >= 0);
    if (added.length === 0 && retired.length === 0) return;
    this.#added = [];
    this.#retired = [];
    let from: number;
    if (added.length + retired.length > PATCH_LIMIT) {
      this.#order = this.#order.filter((e) => e.live).concat(added);
      this.#order.sort(byName);
      from = 0;
    } else {
      from = this.#order.length;
      for (const e of retired) {
        const at = this.#position(e);
        this.#order.splice(at, 1);
        from = Math.min(from, at);
      }
      for (const e of added) {
        const at = this.#position(e);
        this.#order.splice(at, 0, e);
        from = Math.min(from, at);
      }
    }
    for (const e of retired) e.rank = -1;
    for (let rank = from; rank < this.#order.length; rank++) {
      const e = this.#order[rank]!;
      e.rank = rank;
      this.#rankOf[e.slot] = rank;
    }
  }

  /** Where `e` is (or belongs) in #order: the first position not before it. */
  #position(e: Entry): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (byName(this.#order[mid]!, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The first maxResults live titles of `lists` (slots) that pass `filter`, in name order, as
   * ids; a title in several lists counts once.
   */
  #inOrder(lists: ReadonlyArray<readonly number[]>, filter?: (e: Entry) => boolean): string[] {
    this.#applyOrderChanges();
    const n = this.#order.length;
    const total = lists.reduce((sum, l) => sum + l.length, 0);
    if (total === 0) return [];
    return total < n * SORT_BELOW_SHARE ? this.#sortedRanks(lists, total, filter) : this.#markedRanks(lists, total, filter);
  }

  /** Few candidates: their ranks in a typed array, sorted natively (numbers, no comparator). */
  #sortedRanks(lists: ReadonlyArray<readonly number[]>, total: number, filter?: (e: Entry) => boolean): string[] {
    const rankOf = this.#rankOf;
    const order = this.#order;
    const ranks = new Int32Array(total);
    let k = 0;
    for (const list of lists) {
      for (const slot of list) {
        const rank = rankOf[slot]!;
        if (rank >= 0 && (!filter || filter(order[rank]!))) ranks[k++] = rank;
      }
    }
    const sorted = ranks.subarray(0, k).sort();
    const out = resultArray(Math.min(k, this.maxResults));
    let found = 0;
    let previous = -1;
    for (let i = 0; i < k && found < out.length; i++) {
      const rank = sorted[i]!;
      if (rank !== previous) out[found++] = order[rank]!.id; // a title in several lists counts once
      previous = rank;
    }
    out.length = found;
    return out;
  }

  /** Many candidates: their ranks marked, then read in order, stopping at maxResults. */
  #markedRanks(lists: ReadonlyArray<readonly number[]>, total: number, filter?: (e: Entry) => boolean): string[] {
    const n = this.#order.length;
    const order = this.#order;
    const rankOf = this.#rankOf;
    if (this.#marks.length < n) this.#marks = new Uint8Array(n);
    const marked = this.#marks;
    for (const list of lists) {
      for (const slot of list) {
        const rank = rankOf[slot]!;
        if (rank >= 0) marked[rank] = 1;
      }
    }
    // The filter runs on marked titles in order, so only until maxResults are found.
    const out = resultArray(Math.min(total, this.maxResults));
    let found = 0;
    for (let rank = 0; rank < n && found < out.length; rank++) {
      if (marked[rank] === 1 && (!filter || filter(order[rank]!))) out[found++] = order[rank]!.id;
    }
    marked.fill(0, 0, n);
    out.length = found;
    return out;
  }
}

/**
 * An array sized for at most `n` results, filled by index and then cut to what was found: growing
 * one by push() allocates about three times its final size, which the next scavenge (a pause
 * inside some later search) has to deal with.
 */
function resultArray(n: number): string[] {
  return new Array<string>(n);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
