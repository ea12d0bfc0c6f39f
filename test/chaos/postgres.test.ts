/**
 * Chaos: the PostgreSQL store (issue 14) with real services, a real IceStorm and a PostgreSQL
 * cluster of the test's own (test/helpers/postgres.ts).
 *
 * - Two deployments, each with its own data folder, on one database (as on two hosts): the
 *   second serves the first's titles, names, tags and users; a rename or a user change through
 *   either reaches the other's catalogs and Authenticators without a restart.
 * - PostgreSQL down: edits refused with Busy within the call timeout (the client's invocation
 *   timeout is the call timeout: a slower refusal would be a timeout here), searches, getTile and
 *   token checks keep working, logins refused as Busy, one log line per store; back without a
 *   restart once it answers; a refused edit is nowhere afterwards.
 * - PostgreSQL hung (every process SIGSTOPped: connections accepted, nothing answered): the
 *   same within the call timeout, by the transactions' deadlines.
 * - kill -9 of the postmaster during two edit loops: every acknowledged edit is in the database
 *   and in every catalog's index afterwards, no refused one is.
 * - The database password is in no log line of either deployment.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { IceFlix } from "../../src/slice/index.js";
import { DEFAULT_CALL_TIMEOUT_MS } from "../../src/runtime/communicator.js";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.js";
import { waitFor } from "../helpers/waitFor.js";
import { Deployment } from "./lib/deployment.js";
import { errorKind, login, newCommunicator } from "./lib/client.js";
import { figure } from "./lib/figures.js";
import { SIZES } from "./lib/sizes.js";

const DEMO = { user: "demo", password: "demo" };

describe("chaos: PostgreSQL store (two deployments, outage, postmaster kill -9)", { timeout: 420_000 }, () => {
  let postgres: TestPostgres;
  let url: string;
  let a: Deployment;
  // Calls bounded by the services' call timeout: a Busy that came later would show as a timeout.
  const communicator = newCommunicator({ invocationTimeoutMs: DEFAULT_CALL_TIMEOUT_MS });

  before(async () => {
    postgres = await startTestPostgres();
    url = await postgres.newDatabase("chaos");
    a = await Deployment.up({ label: "pg-a", replicas: 2, database: url });
  });

  after(async () => {
    await communicator.destroy().catch(() => undefined);
    await a?.down();
    await postgres?.stop();
  });

  const catalogsOf = async (d: Deployment) =>
    (await d.instances()).filter((i) => i.kind === "catalog").map((i) => IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(i.proxy.toString())));
  const authsOf = async (d: Deployment) =>
    (await d.instances()).filter((i) => i.kind === "authenticator").map((i) => IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(i.proxy.toString())));
  const mainOf = (d: Deployment) => d.main(communicator);
  const kindOf = async (call: () => Promise<unknown>) => {
    try {
      await call();
      return "ok";
    } catch (e) {
      return errorKind(e);
    }
  };

  test("a second deployment on the same database serves the same titles, names, tags and users; edits cross at once", async () => {
    const token = await login(mainOf(a), DEMO.user, DEMO.password);
    const [catalogA] = await catalogsOf(a);
    const ids = await catalogA!.getTilesByName("", false);
    assert.ok(ids.length >= 3, `demo titles: ${ids.length}`);
    const id = ids[0]!;
    const original = (await catalogA!.getTile(id)).info;
    await catalogA!.renameTile(id, "shared across deployments", token);
    await catalogA!.addTags(id, ["pg-shared"], token);
    await a.addUser("carol", "carol-pw");

    const b = await Deployment.up({ label: "pg-b", database: url });
    try {
      const [catalogB] = await catalogsOf(b);
      // Its own secret (its own data folder): tokens are per deployment, users and titles are shared.
      const tokenB = await login(mainOf(b), DEMO.user, DEMO.password);
      const tile = await catalogB!.getTile(id);
      assert.equal(tile.info.name, "shared across deployments");
      assert.ok(tile.info.tags.includes("pg-shared"), `tags on b: ${tile.info.tags}`);
      assert.deepEqual(await catalogB!.getTilesByTags(["pg-shared"], true), [id]);
      const carolOnB = await login(mainOf(b), "carol", "carol-pw");
      for (const auth of await authsOf(b)) assert.equal(await auth.isAuthorized(carolOnB), true);
      assert.equal((await b.cli(["user", "list"])).stdout.split("\n").filter(Boolean).sort().join(), "carol,demo", "one demo user, not two");

      // A rename through b: in every catalog of a, without a restart.
      const t0 = performance.now();
      await catalogB!.renameTile(id, "renamed through b", tokenB);
      for (const catalog of await catalogsOf(a)) {
        await waitFor("a's catalog sees b's rename", () => catalog.getTilesByName("renamed through b", true), (r) => r.length === 1, 5000);
      }
      figure("pg.crossDeployment.rename", `a rename through deployment b visible in both catalogs of a after ${(performance.now() - t0).toFixed(0)} ms`);

      // A user removed through b's data folder: their token is refused by a's Authenticators.
      const carolOnA = await login(mainOf(a), "carol", "carol-pw");
      const removed = await b.cli(["user", "remove", "carol"]);
      assert.equal(removed.code, 0, removed.stderr);
      for (const auth of await authsOf(a)) {
        await waitFor("a's Authenticator refuses the removed user's token", () => auth.isAuthorized(carolOnA), (v) => v === false, 5000);
      }
    } finally {
      await b.down();
    }
    await catalogA!.renameTile(id, original.name, token);
    await catalogA!.removeTags(id, ["pg-shared"], token);
  });

  test("PostgreSQL down: edits Busy within the call timeout, reads and token checks go on, logins Busy; back without a restart", async () => {
    const token = await login(mainOf(a), DEMO.user, DEMO.password);
    const catalogs = await catalogsOf(a);
    const auths = await authsOf(a);
    const id = (await catalogs[0]!.getTilesByName("", false))[0]!;
    const name = (await catalogs[0]!.getTile(id)).info.name;
    const pids = a.components().map((c) => c.pid).sort();

    await postgres.stopServer();
    const refusedMs: number[] = [];
    for (let round = 0; round < 3; round++) {
      for (const catalog of catalogs) {
        const t0 = performance.now();
        assert.equal(await kindOf(() => catalog.renameTile(id, `during the outage ${round}`, token)), "Busy");
        refusedMs.push(performance.now() - t0);
        assert.equal(await kindOf(() => catalog.addTags(id, ["outage"], token)), "Busy");
        assert.deepEqual(await catalog.getTilesByName(name, true), [id], "searches answer from the index");
        assert.equal((await catalog.getTile(id)).info.name, name);
      }
      for (const auth of auths) {
        assert.equal(await auth.isAuthorized(token), true, "token checks go on");
        assert.equal(await kindOf(() => login(mainOf(a), DEMO.user, DEMO.password)), "Busy");
      }
    }
    figure("pg.outage.refusal", `an edit with PostgreSQL down refused (Busy) after ${Math.max(...refusedMs).toFixed(0)} ms at most (call timeout ${DEFAULT_CALL_TIMEOUT_MS} ms)`);
    for (const name of ["catalog", "catalog-2", "auth", "auth-2"]) {
      const lines = a.log(name).filter((l) => String(l.msg).includes("database unavailable"));
      assert.equal(lines.length, 1, `${name}: one line for its store, not one per call: ${lines.map((l) => l.msg).join(" | ")}`);
    }

    await postgres.startServer();
    const t0 = performance.now();
    for (const catalog of catalogs) {
      await waitFor("edits taken again", () => kindOf(() => catalog.addTags(id, ["after-outage"], token)), (k) => k === "ok", 20_000);
    }
    await waitFor("logins taken again", () => kindOf(() => login(mainOf(a), DEMO.user, DEMO.password)), (k) => k === "ok", 20_000);
    figure("pg.outage.recovery", `edits and logins taken again ${(performance.now() - t0).toFixed(0)} ms after PostgreSQL answered, no service restarted`);
    assert.deepEqual(a.components().map((c) => c.pid).sort(), pids, "no service restarted");
    for (const catalog of catalogs) {
      assert.deepEqual(await catalog.getTilesByName("during the outage", false), [], "a refused rename is nowhere");
      assert.ok(!(await catalog.getTile(id)).info.tags.includes("outage"), "a refused tag edit is nowhere");
    }
    await catalogs[0]!.removeTags(id, ["after-outage"], token);
  });

  test("PostgreSQL hung (accepts, never answers): edits and logins Busy within the call timeout, token checks and reads go on", async () => {
    const token = await login(mainOf(a), DEMO.user, DEMO.password);
    const catalogs = await catalogsOf(a);
    const id = (await catalogs[0]!.getTilesByName("", false))[0]!;
    const name = (await catalogs[0]!.getTile(id)).info.name;
    postgres.freeze();
    let refusedMs = 0;
    try {
      for (const catalog of catalogs) {
        const t0 = performance.now();
        // A refusal slower than the call timeout would be an InvocationTimeoutException here.
        assert.equal(await kindOf(() => catalog.renameTile(id, "while hung", token)), "Busy");
        refusedMs = Math.max(refusedMs, performance.now() - t0);
        assert.deepEqual(await catalog.getTilesByName(name, true), [id]);
      }
      assert.equal(await kindOf(() => login(mainOf(a), DEMO.user, DEMO.password)), "Busy");
      for (const auth of await authsOf(a)) assert.equal(await auth.isAuthorized(token), true);
    } finally {
      postgres.thaw();
    }
    figure("pg.hung.refusal", `an edit with PostgreSQL hung refused (Busy) after ${refusedMs.toFixed(0)} ms (call timeout ${DEFAULT_CALL_TIMEOUT_MS} ms)`);
    for (const catalog of catalogs) {
      await waitFor("edits taken again", () => kindOf(() => catalog.addTags(id, ["after-hang"], token)), (k) => k === "ok", 20_000);
      assert.deepEqual(await catalog.getTilesByName("while hung", false), [], "a refused rename is nowhere");
    }
    await catalogs[0]!.removeTags(id, ["after-hang"], token);
  });

  test("kill -9 of the postmaster during edit loops: 0 acknowledged edits lost, 0 refused edits applied", async () => {
    const token = await login(mainOf(a), DEMO.user, DEMO.password);
    const catalogs = await catalogsOf(a);
    const ids = await catalogs[0]!.getTilesByName("", false);
    const acked = new Map<string, string>(); // tag → title id
    const refused = new Map<string, string>();
    const unknown: string[] = []; // neither acknowledged nor refused (e.g. a timeout): either outcome is fine
    const titleOfUnknown = new Map<string, string>();
    let n = 0;
    let stop = false;
    const loop = async (catalog: IceFlix.MediaCatalogPrx, lane: number) => {
      while (!stop) {
        const tag = `k${lane}-${n++}`;
        const id = ids[n % ids.length]!;
        const kind = await kindOf(() => catalog.addTags(id, [tag], token));
        if (kind === "ok") acked.set(tag, id);
        else if (kind === "Busy") refused.set(tag, id);
        else {
          unknown.push(`${tag}: ${kind}`);
          titleOfUnknown.set(tag, id);
        }
        if (kind !== "ok") await new Promise((r) => setTimeout(r, 50)); // a refused edit is retried by a client after a pause
      }
    };
    const loops = catalogs.map((c, i) => loop(c, i));
    try {
      await waitFor("edits acknowledged before the kill", () => acked.size, (s) => s >= SIZES.editsBeforeKill, 60_000);
      await postgres.killPostmaster();
      const killedAt = acked.size;
      await postgres.startServer();
      await waitFor("edits acknowledged after the restart", () => acked.size, (s) => s >= killedAt + SIZES.editsAfterRestart, 60_000);
    } finally {
      stop = true;
      await Promise.all(loops);
    }

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let stored: Set<string>;
    try {
      const rows = await client.query<{ tag: string }>("SELECT tag FROM tags WHERE tag LIKE 'k%-%'");
      stored = new Set(rows.rows.map((r) => r.tag));
    } finally {
      await client.end();
    }
    const tagTitle = (t: string) => acked.get(t) ?? refused.get(t) ?? titleOfUnknown.get(t);
    const lost = [...acked.keys()].filter((t) => !stored.has(t));
    const applied = [...refused.keys()].filter((t) => stored.has(t));
    figure("pg.postmasterKill", `${acked.size} edits acknowledged, ${refused.size} refused (Busy), ${unknown.length} unknown outcome; ${lost.length} acknowledged lost, ${applied.length} refused applied`);
    assert.deepEqual(lost, [], "acknowledged edits lost");
    assert.deepEqual(applied, [], "refused edits applied");
    // Every catalog's index (caught up by revision after the reconnect) agrees with the database.
    for (const catalog of catalogs) {
      for (const id of ids) {
        const want = [...stored].filter((t) => tagTitle(t) === id).sort().join();
        await waitFor(
          "the index caught up with the database",
          async () => (await catalog.getTile(id)).info.tags.filter((t) => /^k\d+-\d+$/.test(t)).sort().join(),
          (tags) => tags === want,
          10_000,
        );
      }
    }
    for (const id of ids) await catalogs[0]!.removeTags(id, [...stored], token);
  });

  test("the database password is in no log line", () => {
    assert.deepEqual(a.logsContaining([postgres.password, url]), []);
  });
});
