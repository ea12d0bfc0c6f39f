/**
 * `iceflix db migrate` and `iceflix db import --from <SQLite data folder>` (issue 14), through
 * bin/iceflix against a PostgreSQL cluster of the test's own: the schema is brought up once and
 * then reported as current; an SQLite deployment's titles (names, tags in order) and users
 * (logins keep working with the same password, tokens issued before the import stay as valid as
 * they were) arrive in PostgreSQL; a second import changes nothing and says so; bad input is one
 * line; the database password is in no output.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { databaseChoice } from "../../src/runtime/database.js";
import { CatalogDb } from "../../src/services/catalog/catalogDb.js";
import { openCatalogStore } from "../../src/services/catalog/catalogStores.js";
import { openUserStore } from "../../src/services/authenticator/userStores.js";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.js";
import { iceflix } from "../chaos/lib/deployment.js";
import { sha256hex } from "../chaos/lib/client.js";

const mid = (i: number) => sha256hex(`title ${i}`);

describe("iceflix db migrate | import", { timeout: 120_000 }, () => {
  let postgres: TestPostgres;
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), "iceflix-db-cli-"));
    dirs.push(d);
    return d;
  };

  before(async () => {
    postgres = await startTestPostgres();
  });
  after(async () => {
    await postgres?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const noPassword = (r: { stdout: string; stderr: string }) =>
    assert.ok(!`${r.stdout}${r.stderr}`.includes(postgres.password), "the password is in no output");

  test("migrate brings a new database to the schema once, then reports it current", async () => {
    const url = await postgres.newDatabase("migrate");
    const first = await iceflix(["db", "migrate", "--database", url, "--data", tmp()]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /schema 0 → \d+ \(1: /);
    const again = await iceflix(["db", "migrate", "--database", url, "--data", tmp()]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /schema already at version \d+/);
    for (const r of [first, again]) noPassword(r);
  });

  test("import moves titles, tags and users of an SQLite folder, idempotently", async () => {
    const source = tmp();
    const sqlite = databaseChoice(undefined);
    const catalog = await CatalogDb.open(await openCatalogStore(sqlite, { dataDir: source, deadlineMs: 2000 }), { maxResults: 100 });
    await catalog.addTitles([
      { id: mid(1), name: "Old Film", tags: ["drama", "b&w"] },
      { id: mid(2), name: "Ünïcode Title" },
    ]);
    await catalog.addTags(mid(2), ["z", "a"]);
    await catalog.close();
    const users = await openUserStore(sqlite, { dataDir: source, deadlineMs: 2000 });
    await users.add("ann", sha256hex("ann-pw"));
    await users.add("bob", sha256hex("bob-pw"));
    const annSince = users.validSince("ann");
    await users.close();

    const url = await postgres.newDatabase("import");
    const first = await iceflix(["db", "import", "--from", source, "--database", url, "--data", tmp()]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /titles: 2 imported, 0 already there/);
    assert.match(first.stdout, /users: 2 imported, 0 already there/);
    const again = await iceflix(["db", "import", "--from", source, "--database", url, "--data", tmp()]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /titles: 0 imported, 2 already there/);
    assert.match(again.stdout, /users: 0 imported, 2 already there/);
    for (const r of [first, again]) noPassword(r);

    const target = databaseChoice(url);
    const imported = await CatalogDb.open(await openCatalogStore(target, { dataDir: tmp(), deadlineMs: 2000, listen: false }), { maxResults: 100 });
    try {
      assert.deepEqual(imported.get(mid(1)), { id: mid(1), name: "Old Film", tags: ["drama", "b&w"] });
      assert.deepEqual(imported.get(mid(2)), { id: mid(2), name: "Ünïcode Title", tags: ["z", "a"] });
      assert.deepEqual(imported.searchByName("ünïcode", false), [mid(2)]);
    } finally {
      await imported.close();
    }
    const pgUsers = await openUserStore(target, { dataDir: tmp(), deadlineMs: 2000 });
    try {
      assert.deepEqual((await pgUsers.list()).sort(), ["ann", "bob"]);
      assert.deepEqual(await pgUsers.login("ann", sha256hex("ann-pw")), { ok: true });
      assert.deepEqual(await pgUsers.login("bob", sha256hex("wrong")), { ok: false, reason: "wrong" });
      assert.equal(pgUsers.validSince("ann"), annSince, "the password-change stamp moves with the record");
    } finally {
      await pgUsers.close();
    }
  });

  test("bad input: one line, exit 2 for usage, exit 1 for an unreachable database, no password", async () => {
    const notAFolder = await iceflix(["db", "import", "--from", tmp(), "--database", await postgres.newDatabase("bad")]);
    assert.equal(notAFolder.code, 2);
    assert.match(notAFolder.stderr, /not an IceFlix data folder/);
    const noDatabase = await iceflix(["db", "migrate", "--data", tmp()]);
    assert.equal(noDatabase.code, 2);
    assert.match(noDatabase.stderr, /no PostgreSQL database given/);
    const unreachable = `postgresql://iceflix:${postgres.password}@127.0.0.1:1/nowhere`;
    const down = await iceflix(["db", "migrate", "--database", unreachable, "--data", tmp()]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /postgresql:\/\/127\.0\.0\.1:1\/nowhere/);
    assert.equal(down.stderr.trim().split("\n").length, 1, `one line: ${down.stderr}`);
    for (const r of [notAFolder, noDatabase, down]) noPassword(r);
  });
});
