/**
 * The catalog's store and search index (spec §4): folding, exact vs substring, short queries,
 * order, the MaxResults cap, tags, persistence, transactions and replicas sharing one file.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { CatalogDb, TagLimitError } from "../../src/services/catalog/catalogDb.js";
import { foldName, TitleIndex } from "../../src/services/catalog/titleIndex.js";
import { mulberry32 } from "../helpers/iceFrames.js";
import { STORE_KINDS, TestStores, type StoreKind, type StoreLocation } from "../helpers/stores.js";
import { waitFor } from "../helpers/waitFor.js";

const stores = new TestStores();

/** A 64-hex media id from a small number, so tests can name titles by number. */
function mid(n: number): string {
  return n.toString(16).padStart(64, "0");
}

function namesOf(db: CatalogDb, ids: string[]): string[] {
  return ids.map((id) => db.get(id)!.name);
}

after(() => stores.release());

describe("name folding (NFC + toLowerCase, both sides)", () => {
  it("folds composed and decomposed forms to the same text", () => {
    assert.equal(foldName("\u00C9cran"), "\u00E9cran");
    assert.equal(foldName("E\u0301cran"), "\u00E9cran");
  });
});

describe("TitleIndex", () => {
  it("agrees with a naive scan through thousands of renames (posting lists compacted, ranks by slot rebuilt)", () => {
    const rng = mulberry32(11);
    const alphabet = "abcdeÉé xy";
    const tags = ["t1", "t2", "t3", "t4"];
    const randomName = () => Array.from({ length: 1 + Math.floor(rng() * 6) }, () => alphabet[Math.floor(rng() * alphabet.length)]).join("");
    const index = new TitleIndex(100_000);
    const truth = new Map<string, { id: string; name: string; tags: string[] }>();
    const put = (id: string) => {
      const record = { id, name: randomName(), tags: tags.filter(() => rng() < 0.3) };
      truth.set(id, record);
      index.upsert(record);
    };
    const sorted = (pick: (r: { name: string; tags: string[] }) => boolean) =>
      [...truth.values()]
        .filter(pick)
        .sort((a, b) => {
          const fa = foldName(a.name);
          const fb = foldName(b.name);
          if (fa !== fb) return fa < fb ? -1 : 1;
          if (a.name !== b.name) return a.name < b.name ? -1 : 1;
          return a.id < b.id ? -1 : 1;
        })
        .map((r) => r.id);
    for (let i = 0; i < 3000; i++) put(`id${i}`);
    // 50 renames between searches: few enough to be patched into the order (not one re-sort),
    // so a compaction between two searches must keep the untouched ranks.
    for (let round = 0; round < 100; round++) {
      for (let k = 0; k < 50; k++) put(`id${Math.floor(rng() * 3000)}`);
      for (let q = 0; q < 2; q++) {
        const query = foldName(randomName()).slice(0, 1 + Math.floor(rng() * 3));
        assert.deepEqual(index.searchByName(query, false), sorted((r) => foldName(r.name).includes(query)), `substring ${JSON.stringify(query)}`);
        const any = [tags[Math.floor(rng() * 4)]!, tags[Math.floor(rng() * 4)]!];
        assert.deepEqual(index.searchByTags(any, false), sorted((r) => any.some((t) => r.tags.includes(t))), `tags ${any.join(",")}`);
      }
    }
  });

  it("agrees with a naive scan on random names (seeded), also after renames", () => {
    const rng = mulberry32(1234);
    const alphabet = ["a", "b", "c", "É", "e\u0301", "ß", "İ", " ", "x", "ñ", "😀", "Z"];
    const randomName = () => Array.from({ length: 1 + Math.floor(rng() * 8) }, () => alphabet[Math.floor(rng() * alphabet.length)]).join("");
    const index = new TitleIndex(10_000);
    const truth = new Map<string, string>();
    const naive = (q: string, exact: boolean) => {
      const f = foldName(q);
      return [...truth]
        .filter(([, name]) => (exact ? foldName(name) === f : foldName(name).includes(f)))
        .sort(([ia, a], [ib, b]) => {
          const fa = foldName(a);
          const fb = foldName(b);
          if (fa !== fb) return fa < fb ? -1 : 1;
          if (a !== b) return a < b ? -1 : 1;
          return ia < ib ? -1 : 1;
        })
        .map(([id]) => id);
    };
    for (let i = 0; i < 600; i++) {
      const id = mid(i);
      const name = randomName();
      truth.set(id, name);
      index.upsert({ id, name, tags: [] });
    }
    // Enough renames to compact the posting lists more than once.
    for (let round = 0; round < 3; round++) {
      for (let k = 0; k < 1500; k++) {
        const id = mid(Math.floor(rng() * 600));
        const name = randomName();
        truth.set(id, name);
        index.upsert({ id, name, tags: [] });
      }
      for (let q = 0; q < 200; q++) {
        const query = randomName().slice(0, 1 + Math.floor(rng() * 6));
        assert.deepEqual(index.searchByName(query, false), naive(query, false), `substring ${JSON.stringify(query)}`);
        assert.deepEqual(index.searchByName(query, true), naive(query, true), `exact ${JSON.stringify(query)}`);
      }
    }
  });
});

for (const kind of STORE_KINDS) storeSuite(kind);

function storeSuite(kind: StoreKind): void {
  const openDb = (location: StoreLocation, maxResults = 10_000) => stores.openCatalog(location, maxResults);
  const fresh = () => stores.location(kind);
  /** A DB holding `names` as titles mid(0), mid(1), … */
  const withTitles = async (names: string[], maxResults = 10_000): Promise<CatalogDb> => {
    const db = await openDb(await fresh(), maxResults);
    await db.addTitles(names.map((name, i) => ({ id: mid(i), name })));
    return db;
  };

  describe(`catalog DB on ${kind}`, () => {
    it("finds a composed É and a decomposed É with either form of the query", async () => {
      const db = await withTitles(["\u00C9cran total", "E\u0301cran noir", "Ecran plat"]);
      for (const q of ["\u00E9cran", "e\u0301cran", "\u00C9CRAN", "E\u0301CRAN"]) {
        assert.deepEqual(namesOf(db, db.searchByName(q, false)).sort(), ["E\u0301cran noir", "\u00C9cran total"].sort(), q);
      }
      assert.deepEqual(namesOf(db, db.searchByName("ecran", false)), ["Ecran plat"]);
      assert.deepEqual(namesOf(db, db.searchByName("\u00E9CRAN TOTAL", true)), ["\u00C9cran total"]);
    });

    describe("searchByName", () => {
      let db: CatalogDb;
      before(async () => {
        db = await withTitles(["The Matrix", "Matrix Reloaded", "the matrix", "Alien", "Aliens", "Zorro", "b", "A", "ñandú 🎬"]);
      });

      it("exact matches the whole folded name only", () => {
        assert.deepEqual(namesOf(db, db.searchByName("THE MATRIX", true)), ["The Matrix", "the matrix"].sort());
        assert.deepEqual(db.searchByName("Matrix", true), []);
        assert.deepEqual(db.searchByName("", true), []);
      });

      it("substring matches anywhere in the folded name, sorted by name", () => {
        assert.deepEqual(namesOf(db, db.searchByName("matrix", false)), ["Matrix Reloaded", "The Matrix", "the matrix"]);
        assert.deepEqual(namesOf(db, db.searchByName("LIEN", false)), ["Alien", "Aliens"]);
        assert.deepEqual(db.searchByName("nothing like this", false), []);
      });

      it("answers 1- and 2-character queries", () => {
        assert.deepEqual(namesOf(db, db.searchByName("z", false)), ["Zorro"]);
        assert.deepEqual(namesOf(db, db.searchByName("b", false)), ["b"]);
        assert.deepEqual(namesOf(db, db.searchByName("a", false)), ["A", "Alien", "Aliens", "Matrix Reloaded", "The Matrix", "the matrix", "ñandú 🎬"]);
        assert.deepEqual(namesOf(db, db.searchByName("rr", false)), ["Zorro"]);
        assert.deepEqual(namesOf(db, db.searchByName("Ñ", false)), ["ñandú 🎬"]);
        assert.deepEqual(namesOf(db, db.searchByName("🎬", false)), ["ñandú 🎬"], "one astral character (two code units)");
      });

      it("an empty substring lists every title, sorted by name", () => {
        const all = namesOf(db, db.searchByName("", false));
        assert.equal(all.length, 9);
        assert.deepEqual(all, [...all].sort((a, b) => (foldName(a) < foldName(b) ? -1 : foldName(a) > foldName(b) ? 1 : a < b ? -1 : 1)));
        assert.deepEqual(all.slice(0, 3), ["A", "Alien", "Aliens"]);
      });

      it("returns at most MaxResults ids, the first ones by name", async () => {
        const names = Array.from({ length: 50 }, (_, i) => `title ${String(49 - i).padStart(2, "0")}`);
        const capped = await withTitles(names, 7);
        const expected = Array.from({ length: 7 }, (_, i) => `title ${String(i).padStart(2, "0")}`);
        assert.deepEqual(namesOf(capped, capped.searchByName("", false)), expected);
        assert.deepEqual(namesOf(capped, capped.searchByName("t", false)), expected, "1-char query");
        assert.deepEqual(namesOf(capped, capped.searchByName("title", false)), expected);
      });
    });

    describe("searchByTags", () => {
      let db: CatalogDb;
      before(async () => {
        db = await withTitles(["one", "two", "three", "four"]);
        await db.addTags(mid(0), ["drama", "Comedy"]);
        await db.addTags(mid(1), ["drama"]);
        await db.addTags(mid(2), ["comedy", "drama"]);
      });

      it("any: titles with at least one of the tags, sorted by name", () => {
        assert.deepEqual(namesOf(db, db.searchByTags(["drama"], false)), ["one", "three", "two"]);
        assert.deepEqual(namesOf(db, db.searchByTags(["Comedy", "comedy"], false)), ["one", "three"]);
      });

      it("all: titles with every tag", () => {
        assert.deepEqual(namesOf(db, db.searchByTags(["drama", "comedy"], true)), ["three"]);
        assert.deepEqual(namesOf(db, db.searchByTags(["drama", "nope"], true)), []);
      });

      it("matches tags exactly (case-sensitive)", () => {
        assert.deepEqual(namesOf(db, db.searchByTags(["Comedy"], true)), ["one"]);
        assert.deepEqual(db.searchByTags(["DRAMA"], false), []);
      });

      it("an empty tag list finds nothing", () => {
        assert.deepEqual(db.searchByTags([], false), []);
        assert.deepEqual(db.searchByTags([], true), []);
      });
    });

    describe("edits", () => {
      it("adds no duplicate tags and ignores removal of absent tags", async () => {
        const db = await withTitles(["x"]);
        assert.equal(await db.addTags(mid(0), ["a", "a", "b"]), true);
        assert.equal(await db.addTags(mid(0), ["b", "c"]), true);
        assert.deepEqual(db.get(mid(0))!.tags, ["a", "b", "c"]);
        assert.equal(await db.removeTags(mid(0), ["b", "zzz"]), true);
        assert.deepEqual(db.get(mid(0))!.tags, ["a", "c"]);
      });

      it("reports unknown ids without changing anything", async () => {
        const db = await withTitles(["x"]);
        assert.equal(await db.rename(mid(9), "y"), false);
        assert.equal(await db.addTags(mid(9), ["t"]), false);
        assert.equal(await db.removeTags(mid(9), ["t"]), false);
        assert.equal(db.size, 1);
        assert.deepEqual(db.searchByTags(["t"], false), []);
      });

      it("addTitles keeps the stored name and tags of a known id", async () => {
        const db = await withTitles(["original"]);
        await db.rename(mid(0), "renamed");
        await db.addTags(mid(0), ["kept"]);
        assert.deepEqual(await db.addTitles([{ id: mid(0), name: "original again" }, { id: mid(1), name: "new" }]), [mid(1)]);
        assert.deepEqual(db.get(mid(0)), { id: mid(0), name: "renamed", tags: ["kept"] });
        assert.deepEqual(db.searchByName("original", false), []);
      });

      it("a tag edit beyond 256 tags per title is refused whole (transaction rolled back)", async () => {
        const db = await withTitles(["x"]);
        const tags = (from: number, n: number) => Array.from({ length: n }, (_, i) => `t${from + i}`);
        await db.addTags(mid(0), tags(0, 250));
        await assert.rejects(db.addTags(mid(0), tags(250, 10)), TagLimitError);
        assert.equal(db.get(mid(0))!.tags.length, 250);
        assert.deepEqual(db.searchByTags(["t250"], false), []);
        // Reopened: nothing of the refused edit reached the store either.
        const location = await fresh();
        const a = await openDb(location);
        await a.addTitles([{ id: mid(0), name: "x", tags: tags(0, 256) }]);
        await assert.rejects(a.addTags(mid(0), ["one more"]), TagLimitError);
        await a.close();
        assert.equal((await openDb(location)).get(mid(0))!.tags.length, 256);
      });

      it("edits persist across reopening, tags in the order they were added", async () => {
        const location = await fresh();
        const a = await openDb(location);
        await a.addTitles([{ id: mid(1), name: "first" }, { id: mid(2), name: "second", tags: ["z", "a", "m"] }]);
        await a.rename(mid(1), "Renamed É");
        await a.addTags(mid(1), ["x", "y"]);
        await a.removeTags(mid(1), ["x"]);
        await a.close();
        const b = await openDb(location);
        assert.deepEqual(b.get(mid(1)), { id: mid(1), name: "Renamed É", tags: ["y"] });
        assert.deepEqual(b.get(mid(2))!.tags, ["z", "a", "m"]);
        assert.deepEqual(b.searchByName("renamed é", true), [mid(1)]);
        assert.deepEqual(b.searchByTags(["y"], true), [mid(1)]);
        assert.equal(b.size, 2);
      });
    });

    describe("replicas sharing one store", () => {
      /** SQLite: seen at the next call; PostgreSQL: after the NOTIFY (bounded wait). */
      const seen = <T>(what: string, probe: () => T, ok: (v: T) => boolean) => waitFor(what, probe, ok, 5000);

      it("each sees the other's edits", async () => {
        const location = await fresh();
        const a = await openDb(location);
        const b = await openDb(stores.sameDatabase(location));
        await a.addTitles([{ id: mid(1), name: "shared" }]);
        await seen("b finds the title", () => b.searchByName("shared", false), (ids) => ids.length === 1 && ids[0] === mid(1));
        await b.rename(mid(1), "renamed by b");
        await b.addTags(mid(1), ["from-b"]);
        await seen("a sees the rename and tag", () => a.get(mid(1)), (t) => t?.name === "renamed by b" && t.tags.join() === "from-b");
        assert.deepEqual(a.searchByName("shared", false), []);
        assert.deepEqual(a.searchByTags(["from-b"], false), [mid(1)]);
        await a.removeTags(mid(1), ["from-b"]);
        await a.addTags(mid(1), ["from-a"]);
        await seen("b sees a's tags", () => b.get(mid(1))?.tags.join(), (t) => t === "from-a");
        assert.deepEqual(b.searchByTags(["from-b"], false), []);
      });

      if (kind === "sqlite") {
        it("sees another connection's edits at its very next call", async () => {
          const location = await fresh();
          const a = await openDb(location);
          const b = await openDb(location);
          await a.addTitles([{ id: mid(1), name: "shared" }]);
          assert.deepEqual(b.searchByName("shared", false), [mid(1)]);
        });
      }

      it("concurrent edits through both replicas all land, none lost, in both indexes", async () => {
        const location = await fresh();
        const a = await openDb(location);
        const b = await openDb(stores.sameDatabase(location));
        await a.addTitles(Array.from({ length: 20 }, (_, i) => ({ id: mid(i), name: `t${i}` })));
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => ((i % 2 === 0 ? a : b).rename(mid(i), `renamed ${i}`))),
        );
        for (const db of [a, b]) {
          await seen("every rename in this replica", () => db.searchByName("renamed", false).length, (n) => n === 20);
        }
      });
    });
  });
}
