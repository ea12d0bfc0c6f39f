/**
 * Catalog search benchmark (spec §4 "fast at 100,000 titles"): generated titles in a temporary
 * catalog DB, searched in-process through CatalogDb (SQLite + the in-memory TitleIndex) and
 * through a naive linear scan over pre-folded names (the baseline: filter, sort, cap).
 * For each query class it prints p50/p99 of both and the baseline/index ratio; also the time to
 * open (load and index) the DB, the first search after another connection's edit, and the heap.
 * It asserts nothing.
 *
 *   node dist/bench/catalogSearch.js [--titles 100000] [--queries 300] [--scan-queries 40] [--out FILE]
 *
 * The baseline runs the first --scan-queries queries of each class only (it is slow).
 *
 * Writes bench/results-catalog-search.json (or --out).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CatalogDb } from "../src/services/catalog/catalogDb.js";
import { SqliteCatalogStore } from "../src/services/catalog/sqliteCatalogStore.js";
import { foldName } from "../src/services/catalog/titleIndex.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/bench/ -> repo root
const DEFAULT_OUT = join(ROOT, "bench", "results-catalog-search.json");
const MAX_RESULTS = 10_000;

function option(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** mulberry32: seeded, so every run searches the same titles. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(42);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const SYLLABLES = ["ka", "lo", "mi", "ra", "the", "an", "do", "ré", "ñu", "zo", "qu", "is", "el", "ar", "tu", "Ä", "be", "ko", "sa", "ni"];
const WORDS = Array.from({ length: 400 }, () => Array.from({ length: 2 + Math.floor(random() * 3) }, () => pick(SYLLABLES)).join(""));
const TAGS = Array.from({ length: 500 }, (_, i) => `tag${i}`);

interface Title {
  id: string;
  name: string;
  tags: string[];
}

function generate(count: number): Title[] {
  const titles: Title[] = [];
  for (let i = 0; i < count; i++) {
    const words = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(WORDS));
    if (random() < 0.3) words.push(String(1900 + Math.floor(random() * 125)));
    const name = words.map((w) => (random() < 0.5 ? w[0]!.toUpperCase() + w.slice(1) : w)).join(" ");
    // A few tags are common, most are rare (squared uniform skews towards tag0).
    const tags = [...new Set(Array.from({ length: Math.floor(random() * 6) }, () => TAGS[Math.floor(random() ** 2 * TAGS.length)]!))];
    titles.push({ id: i.toString(16).padStart(64, "0"), name, tags });
  }
  return titles;
}

/** The baseline: one pass over every title per query, then sort the matches by name and cap. */
class NaiveScan {
  readonly #titles: Array<Title & { folded: string; tagSet: Set<string> }>;
  constructor(titles: Title[]) {
    this.#titles = titles.map((t) => ({ ...t, folded: foldName(t.name), tagSet: new Set(t.tags) }));
  }
  #sorted(matches: Array<Title & { folded: string }>): string[] {
    matches.sort((a, b) => (a.folded !== b.folded ? (a.folded < b.folded ? -1 : 1) : a.name !== b.name ? (a.name < b.name ? -1 : 1) : a.id < b.id ? -1 : 1));
    return matches.slice(0, MAX_RESULTS).map((t) => t.id);
  }
  byName(text: string, exact: boolean): string[] {
    const q = foldName(text);
    return this.#sorted(this.#titles.filter((t) => (exact ? t.folded === q : t.folded.includes(q))));
  }
  byTags(tags: string[], all: boolean): string[] {
    if (tags.length === 0) return [];
    return this.#sorted(this.#titles.filter((t) => (all ? tags.every((g) => t.tagSet.has(g)) : tags.some((g) => t.tagSet.has(g)))));
  }
}

interface Stats {
  p50: number;
  p99: number;
  meanResults: number;
}

/** Garbage collections inside a measured window: how many, their total and longest pause. */
interface GcDuring {
  pauses: number;
  totalMs: number;
  maxMs: number;
}

function gcDuring(entries: readonly PerformanceEntry[], from: number, to: number): GcDuring {
  const inside = entries.filter((e) => e.startTime >= from && e.startTime <= to);
  return {
    pauses: inside.length,
    totalMs: inside.reduce((sum, e) => sum + e.duration, 0),
    maxMs: inside.reduce((max, e) => Math.max(max, e.duration), 0),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function time(queries: Array<() => string[]>): Stats {
  const ms: number[] = [];
  let results = 0;
  for (const q of queries) {
    const t0 = performance.now();
    results += q().length;
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), meanResults: Math.round(results / queries.length) };
}

/**
 * p99 of each query's fastest of `repeats` runs: the cost of the work itself, without the
 * moments the process was preempted or collecting garbage (which the plain p99 includes).
 */
function intrinsicP99(queries: Array<() => string[]>, repeats = 5): number {
  const best = queries.map((q) => {
    let min = Infinity;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      q();
      min = Math.min(min, performance.now() - t0);
    }
    return min;
  });
  best.sort((a, b) => a - b);
  return percentile(best, 99);
}

function substringOf(name: string, length: number): string {
  const folded = foldName(name);
  if (folded.length <= length) return folded;
  const at = Math.floor(random() * (folded.length - length));
  return folded.slice(at, at + length);
}

async function main(): Promise<void> {
  const count = Number(option("titles", "100000"));
  const perClass = Number(option("queries", "300"));
  const scanQueries = Math.min(perClass, Number(option("scan-queries", "40")));
  const out = option("out", DEFAULT_OUT);
  const dir = mkdtempSync(join(tmpdir(), "iceflix-bench-catalog-"));
  const file = join(dir, "catalog.db");
  try {
    const titles = generate(count);
    let t0 = performance.now();
    const open = () => CatalogDb.open(SqliteCatalogStore.open(file), { maxResults: MAX_RESULTS });
    const writer = await open();
    await writer.addTitles(titles);
    const insertMs = performance.now() - t0;
    await writer.close();

    // A full collection on both sides, so the heap figure is the index's and not pending garbage.
    setFlagsFromString("--expose-gc");
    const collect = runInNewContext("gc") as () => void;
    collect();
    const heapBefore = process.memoryUsage().heapUsed;
    t0 = performance.now();
    const db = await open();
    const openMs = performance.now() - t0;
    collect();
    const heapMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const naive = new NaiveScan(titles);

    const names = Array.from({ length: perClass }, () => pick(titles).name);
    const classes: Array<{ name: string; index: Array<() => string[]>; naive: Array<() => string[]> }> = [];
    const byName = (label: string, queries: string[], exact: boolean) =>
      classes.push({
        name: label,
        index: queries.map((q) => () => db.searchByName(q, exact)),
        naive: queries.map((q) => () => naive.byName(q, exact)),
      });
    const byTags = (label: string, queries: string[][], all: boolean) =>
      classes.push({
        name: label,
        index: queries.map((q) => () => db.searchByTags(q, all)),
        naive: queries.map((q) => () => naive.byTags(q, all)),
      });
    byName("substring, 1 char", names.map((n) => substringOf(n, 1)), false);
    byName("substring, 2 chars", names.map((n) => substringOf(n, 2)), false);
    byName("substring, 5-8 chars", names.map((n) => substringOf(n, 5 + Math.floor(random() * 4))), false);
    byName("substring, empty (all)", names.map(() => ""), false);
    byName("exact name", names.map((n) => n.toUpperCase()), true);
    byTags("tags, any of 2", names.map(() => [pick(TAGS), pick(TAGS)]), false);
    byTags("tags, all of 2", names.map(() => [TAGS[Math.floor(random() * 20)]!, TAGS[Math.floor(random() * 20)]!]), true);

    // Same answers from both, on a sample (the benchmark must compare like with like).
    for (const c of classes) {
      for (let i = 0; i < 5; i++) {
        if (JSON.stringify(c.index[i]!()) !== JSON.stringify(c.naive[i]!())) throw new Error(`index and scan disagree on ${c.name} #${i}`);
      }
    }

    // Warm-up, then measure.
    for (const c of classes) {
      time(c.index.slice(0, 20));
      time(c.naive.slice(0, 5));
    }
    // Every index class first, with the garbage collections that fell inside its queries, then
    // the scans: the scans' garbage (whole-catalog arrays) must not be collected in the index's time.
    const gcs: PerformanceEntry[] = [];
    const gcObserver = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
    gcObserver.observe({ entryTypes: ["gc"] });
    const indexed: Array<{ c: (typeof classes)[number]; index: Stats; gc: GcDuring; p99Intrinsic: number }> = [];
    for (const c of classes) {
      await new Promise((r) => setTimeout(r, 50)); // the previous class's gc entries are delivered (not at once)
      gcs.length = 0;
      const t0 = performance.now();
      const index = time(c.index);
      const t1 = performance.now();
      await new Promise((r) => setTimeout(r, 50));
      indexed.push({ c, index, gc: gcDuring(gcs, t0, t1), p99Intrinsic: intrinsicP99(c.index) });
    }
    gcObserver.disconnect();
    const rows = indexed.map(({ c, index, gc, p99Intrinsic }) => {
      const scan = time(c.naive.slice(0, scanQueries));
      return { query: c.name, results: index.meanResults, index, p99Intrinsic, gc, naive: scan, ratioP50: scan.p50 / index.p50, ratioP99: scan.p99 / index.p99 };
    });

    // The first search after another connection (a replica) renamed a title: data_version check and refresh.
    const replica = await open();
    const refresh: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = pick(titles);
      await replica.rename(t.id, `${t.name} renamed ${i}`);
      const t1 = performance.now();
      db.searchByName("renamed", false);
      refresh.push(performance.now() - t1);
    }
    await replica.close();
    refresh.sort((a, b) => a - b);
    await db.close();

    const fmt = (n: number) => (n < 10 ? n.toFixed(3) : n.toFixed(1)).padStart(8);
    console.log(`catalog search: ${count} titles, ${perClass} queries per class (baseline: ${scanQueries}), MaxResults ${MAX_RESULTS}, ${cpus().length} × ${cpus()[0]?.model}`);
    console.log(`insert (one transaction) ${insertMs.toFixed(0)} ms; open + index ${openMs.toFixed(0)} ms; index heap ≈ ${heapMb.toFixed(0)} MB`);
    console.log(`first search after a replica's rename: p50 ${refresh[25]!.toFixed(3)} ms, max ${refresh[49]!.toFixed(3)} ms`);
    console.log("");
    console.log(`${"query".padEnd(24)} ${"results".padStart(8)} ${"index p50".padStart(10)} ${"p99".padStart(8)} ${"scan p50".padStart(10)} ${"p99".padStart(8)} ${"ratio p50".padStart(10)} ${"p99".padStart(8)}   ${"gc in index queries".padStart(22)}  ${"p99 best of 5".padStart(13)}   (ms)`);
    for (const r of rows) {
      const gc = `${r.gc.pauses} × max ${r.gc.maxMs.toFixed(2)}, Σ ${r.gc.totalMs.toFixed(1)}`;
      console.log(
        `${r.query.padEnd(24)} ${String(r.results).padStart(8)} ${fmt(r.index.p50)}   ${fmt(r.index.p99)} ${fmt(r.naive.p50)}   ${fmt(r.naive.p99)} ${(r.ratioP50.toFixed(1) + "×").padStart(10)} ${(r.ratioP99.toFixed(1) + "×").padStart(8)}   ${gc.padStart(22)}  ${fmt(r.p99Intrinsic).padStart(13)}`,
      );
    }
    writeFileSync(
      out,
      JSON.stringify(
        { date: new Date().toISOString(), titles: count, queriesPerClass: perClass, baselineQueriesPerClass: scanQueries, maxResults: MAX_RESULTS, insertMs, openMs, heapMb, refreshMs: { p50: refresh[25], max: refresh[49] }, rows },
        null,
        2,
      ) + "\n",
    );
    console.log(`\nwritten to ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
