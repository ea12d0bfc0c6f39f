/**
 * Benchmark 7, the stores (issue 14): catalog edits per second and search latency on each store
 * (SQLite file, PostgreSQL on this machine), and the cross-replica visibility delay on PostgreSQL:
 * a rename committed through replica A until a search on replica B (its own connection pool and
 * LISTEN connection, as on another host) finds it. In-process CatalogDb instances (the servants'
 * code below the RPC layer), so the figures are the stores', not the transport's. PostgreSQL is a
 * cluster of the bench's own (test/helpers/postgres.ts: fsync and synchronous_commit on).
 * Targets: visibility p99 <= 100 ms (issue 14).
 *
 *   node dist/bench/storeBench.js [--quick] [--titles N] [--edits N] [--renames N] [--out FILE]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createHash } from "node:crypto";
import { databaseChoice, type DatabaseChoice } from "../src/runtime/database.js";
import { CatalogDb } from "../src/services/catalog/catalogDb.js";
import { openCatalogStore } from "../src/services/catalog/catalogStores.js";
import { startTestPostgres } from "../test/helpers/postgres.js";
import { BENCH_DIR, commonArgs, environment, figure, fmt, numberOption, onCleanup, parseOptions, runScript, sig, table, type BenchResult, type Figure } from "./lib/common.js";

const idOf = (i: number) => createHash("sha256").update(`bench title ${i}`).digest("hex");

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface StoreFigures {
  store: string;
  editsPerSecond: number;
  editP50: number;
  editP99: number;
  searchP50: number;
  searchP99: number;
}

async function measureStore(label: string, database: DatabaseChoice, dataDir: string, titles: number, edits: number): Promise<StoreFigures> {
  const db = await CatalogDb.open(await openCatalogStore(database, { dataDir, deadlineMs: 10_000 }), { maxResults: 10_000 });
  try {
    for (let i = 0; i < titles; i += 5000) {
      await db.addTitles(Array.from({ length: Math.min(5000, titles - i) }, (_, k) => ({ id: idOf(i + k), name: `Bench title ${i + k}`, tags: [`t${(i + k) % 50}`] })));
    }
    // Edits one after the other, as one client does: each acknowledged after its commit.
    const editMs: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < edits; i++) {
      const e0 = performance.now();
      if (i % 2 === 0) await db.rename(idOf(i % titles), `Renamed bench title ${i}`);
      else await db.addTags(idOf(i % titles), [`e${i}`]);
      editMs.push(performance.now() - e0);
    }
    const elapsed = performance.now() - t0;
    const searchMs: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const s0 = performance.now();
      db.searchByName(`title ${(i * 37) % titles}`, false);
      searchMs.push(performance.now() - s0);
    }
    editMs.sort((a, b) => a - b);
    searchMs.sort((a, b) => a - b);
    return {
      store: label,
      editsPerSecond: (edits / elapsed) * 1000,
      editP50: percentile(editMs, 50),
      editP99: percentile(editMs, 99),
      searchP50: percentile(searchMs, 50),
      searchP99: percentile(searchMs, 99),
    };
  } finally {
    await db.close();
  }
}

/** Rename through A, then spin (yielding) until B's search finds it; the delay per rename. */
async function crossReplicaDelays(database: DatabaseChoice, dataDir: string, renames: number): Promise<number[]> {
  const a = await CatalogDb.open(await openCatalogStore(database, { dataDir, deadlineMs: 10_000 }), { maxResults: 100 });
  const b = await CatalogDb.open(await openCatalogStore(database, { dataDir, deadlineMs: 10_000 }), { maxResults: 100 });
  try {
    await a.addTitles([{ id: idOf(-1), name: "visibility probe" }]);
    const delays: number[] = [];
    for (let i = 0; i < renames; i++) {
      const name = `visibility probe ${i}`;
      await a.rename(idOf(-1), name);
      const t0 = performance.now();
      while (b.searchByName(name, true).length === 0) {
        if (performance.now() - t0 > 5000) throw new Error(`replica B did not see rename ${i} within 5 s`);
        await new Promise((r) => setImmediate(r));
      }
      delays.push(performance.now() - t0);
    }
    return delays.sort((x, y) => x - y);
  } finally {
    await a.close();
    await b.close();
  }
}

async function main(): Promise<void> {
  const { quick, out: outArg, rest } = commonArgs(process.argv.slice(2));
  const opt = parseOptions(rest, ["titles", "edits", "renames"], "storeBench.js [--quick] [--titles N] [--edits N] [--renames N] [--out FILE]");
  const titles = numberOption(opt, "titles", quick ? 5000 : 100_000);
  const edits = numberOption(opt, "edits", quick ? 200 : 2000);
  const renames = numberOption(opt, "renames", quick ? 50 : 500);
  const out = outArg ?? join(BENCH_DIR, "results-store.json");
  const startedAt = new Date().toISOString();
  const work = mkdtempSync(join(tmpdir(), "iceflix-bench-store-"));
  const postgres = await startTestPostgres();
  onCleanup(async () => {
    await postgres.stop();
    rmSync(work, { recursive: true, force: true });
  });

  console.log(`stores: ${fmt(titles)} titles, ${fmt(edits)} sequential edits, ${renames} cross-replica renames`);
  const sqlite = await measureStore("sqlite", databaseChoice(undefined), join(work, "sqlite"), titles, edits);
  const pg = await measureStore("postgres", databaseChoice(await postgres.newDatabase("bench")), join(work, "pg"), titles, edits);
  const delays = await crossReplicaDelays(databaseChoice(await postgres.newDatabase("visibility")), join(work, "pg2"), renames);
  const visibility = { p50: percentile(delays, 50), p99: percentile(delays, 99), max: delays[delays.length - 1]! };

  console.log(
    table(
      ["store", "edits/s", "edit p50 ms", "edit p99 ms", "search p50 ms", "search p99 ms"],
      [sqlite, pg].map((s) => [s.store, fmt(s.editsPerSecond), sig(s.editP50), sig(s.editP99), sig(s.searchP50), sig(s.searchP99)]),
    ),
  );
  console.log(`cross-replica visibility (PostgreSQL): p50 ${sig(visibility.p50)} ms, p99 ${sig(visibility.p99)} ms, max ${sig(visibility.max)} ms`);

  const figures: Figure[] = [
    figure({
      id: "store.postgres.editsPerSecond",
      name: "catalog edits/s, one client, PostgreSQL (each acknowledged after its commit)",
      value: pg.editsPerSecond,
      unit: "edits/s",
      baseline: { name: "SQLite", value: sqlite.editsPerSecond, unit: "edits/s" },
      ratioLabel: "PostgreSQL / SQLite",
    }),
    figure({
      id: "store.postgres.searchP99",
      name: `substring search p99 at ${fmt(titles)} titles, PostgreSQL store (index in memory)`,
      value: pg.searchP99,
      unit: "ms",
      baseline: { name: "SQLite", value: sqlite.searchP99, unit: "ms" },
      ratioLabel: "PostgreSQL / SQLite",
    }),
    figure({
      id: "store.postgres.crossReplicaP99",
      name: "rename through replica A visible to a search on replica B, p99 (LISTEN/NOTIFY)",
      value: visibility.p99,
      unit: "ms",
      baseline: { name: "p50", value: visibility.p50, unit: "ms" },
      ratioLabel: "p99 / p50",
      target: { on: "value", op: "<=", value: 100, text: "<= 100 ms" },
    }),
    figure({
      id: "store.sqlite.editP99",
      name: "edit latency p99, SQLite (synchronous=FULL: fsync per commit)",
      value: sqlite.editP99,
      unit: "ms",
      baseline: { name: "PostgreSQL", value: pg.editP99, unit: "ms" },
      ratioLabel: "SQLite / PostgreSQL",
      detail: true,
    }),
  ];
  const result: BenchResult = {
    benchmark: "store",
    title: "7. Stores (SQLite vs PostgreSQL; cross-replica visibility)",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: { titles, edits, renames },
    environment: environment(),
    figures,
    notes: [
      "In-process CatalogDb over each store; PostgreSQL 15 on this machine (loopback, fsync on, synchronous_commit on).",
      "Visibility: from the rename's acknowledgement on A until B's in-memory index answers the search (B learns by NOTIFY, then reads by revision).",
    ],
    details: { sqlite, postgres: pg, visibility },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nstore: wrote ${out}`);
}

await runScript("store", main);
