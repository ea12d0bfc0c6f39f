/**
 * Faults (spec §2, §4, §11) on a real deployment from `iceflix up --replicas 2`, used through
 * Main by Node clients on the npm `ice` runtime:
 *  - kill -9 of one of two replicas of every service (main-2, auth-2, catalog-2, streaming-2, one
 *    at a time) under a steady client load: no client operation fails beyond a single retry, and
 *    Main (and the catalogs) stop handing out the dead instances at once;
 *  - kill -9 of the first replicas (fixed ports, so clients reach the restarted process at once):
 *    until it can serve, a restarted instance is unreachable, never wrong (no TemporaryUnavailable
 *    or Unauthorized because it has not heard the others' announcements yet);
 *  - IceStorm killed while everything runs (`up` restarts it): subscriptions and announcements
 *    come back — a catalog learns a provider started after the restart, a signed revocation
 *    reaches both Authenticators, no subscription is duplicated — within 15 s;
 *  - kill -9 of a catalog while clients rename and tag in a loop: every edit that returned
 *    success is there after the restart (on both replicas, which share the DB), no refused one is.
 * Sizes: CI by default, full with CHAOS_FULL=1 (lib/sizes.ts). Every wait is bounded; `down` and
 * a kill by pid of anything left run in after(), also when a test failed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, copyFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { IceFlix, IceStorm } from "../../src/slice/index.js";
import { startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { TestResources } from "../helpers/testResources.js";
import { requireTool } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { endpointOf, errorKind, login, mainPrx, newCommunicator, newTally, outcome, sha256hex, withOneRetry, type RetryTally } from "./lib/client.js";
import { cachedDemoMedia, Deployment } from "./lib/deployment.js";
import { EventInjector } from "./lib/events.js";
import { figure, maxOf } from "./lib/figures.js";
import { isAlive } from "./lib/procs.js";
import { SIZES } from "./lib/sizes.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Handout {
  kind: "auth" | "catalog" | "provider";
  endpoint: string;
  at: number;
}

/**
 * One client: each round asks Main for an Authenticator (checks the token), then for a catalog
 * (lists every title, getTile, the provider's isAvailable; every 4th round also getStream +
 * stop). Each of those two steps is one operation, retried once from Main on failure.
 */
async function clientLoop(proxy: string, token: string, running: () => boolean, tally: RetryTally, handouts: Handout[]): Promise<void> {
  const communicator = newCommunicator({ invocationTimeoutMs: 5000 });
  const main = mainPrx(communicator, proxy);
  try {
    for (let round = 0; running(); round++) {
      await withOneRetry(tally, "getAuthenticator+isAuthorized", async () => {
        const auth = await main.getAuthenticator();
        handouts.push({ kind: "auth", endpoint: endpointOf(auth), at: Date.now() });
        if (!(await auth.isAuthorized(token))) throw new Error("the token was refused");
      });
      let stage = "";
      await withOneRetry(tally, () => `catalog step, at ${stage}`, async () => {
        stage = "getCatalogService";
        const catalog = await main.getCatalogService();
        handouts.push({ kind: "catalog", endpoint: endpointOf(catalog), at: Date.now() });
        stage = `getTilesByName on ${endpointOf(catalog)}`;
        const ids = await catalog.getTilesByName("", false);
        const id = ids[round % ids.length]!;
        stage = `getTile on ${endpointOf(catalog)}`;
        const tile = await catalog.getTile(id);
        handouts.push({ kind: "provider", endpoint: endpointOf(tile.provider!), at: Date.now() });
        stage = `isAvailable on ${endpointOf(tile.provider!)}`;
        if (!(await tile.provider!.isAvailable(id))) throw new Error("a provider handed out does not have the media");
        if (round % 4 === 0) {
          stage = `getStream/stop on ${endpointOf(tile.provider!)}`;
          const controller = await tile.provider!.getStream(id, token);
          await controller!.stop();
        }
      });
    }
  } finally {
    await communicator.destroy();
  }
}

describe("chaos: faults", { timeout: 300_000 }, () => {
  let dep: Deployment;
  const res = new TestResources();
  const tokens: string[] = [];

  before(async () => {
    requireTool("ffmpeg");
    requireTool("icebox");
    dep = await Deployment.up({
      label: "faults",
      replicas: 2,
      props: ["--IceFlix.Announce.PeriodSeconds=1", "--IceFlix.Token.LifetimeSeconds=600"],
    });
  });

  after(async () => {
    await res.release();
    await dep?.down();
  });

  it("kill -9 of one of two replicas of each service (Main too) during load: no operation fails beyond one retry", async () => {
    const token = await login(dep.main(), "demo", "demo");
    tokens.push(token);
    const instances = await dep.instances();
    const secondOf = (kind: string, basePort: number) => {
      const i = instances.find((x) => x.kind === kind && endpointOf(x.proxy) !== `127.0.0.1:${basePort}`);
      assert.ok(i, `a second ${kind}`);
      return { id: i.id, endpoint: endpointOf(i.proxy) };
    };
    assert.equal(dep.mainProxy.match(/-p \d+/g)?.length, 2, `main.proxy lists both Mains: ${dep.mainProxy}`);
    // One victim at a time, STAGGER_MS apart, so that each fault is a fault of its own (an
    // operation that meets two replicas killed in the same instant may need two retries).
    const STAGGER_MS = 1500;
    const none = { id: "", endpoint: "" }; // Main is not registered anywhere, nor handed out
    const victims = ([
      { name: "main-2", kind: "main", ...none },
      { name: "auth-2", kind: "auth", ...secondOf("authenticator", dep.ports.auth) },
      { name: "catalog-2", kind: "catalog", ...secondOf("catalog", dep.ports.catalog) },
      { name: "streaming-2", kind: "provider", ...secondOf("streaming", dep.ports.streaming) },
    ] as Array<{ name: string; kind: Handout["kind"] | "main"; id: string; endpoint: string }>).map((v) => ({ ...v, pid: dep.component(v.name).pid, killedAt: 0, removedAt: 0 }));

    const tally = newTally();
    const handouts: Handout[] = [];
    let stopAt = Number.POSITIVE_INFINITY;
    const running = () => Date.now() < stopAt;
    const loops = Array.from({ length: SIZES.faultLoops }, () => clientLoop(dep.mainProxy, token, running, tally, handouts));
    try {
      // Steady load first (at least 2 s and 20 operations).
      await waitFor("steady load", () => tally.ops, (n) => n >= 20, 30_000);
      await sleep(2000);
      const opsBefore = tally.ops;
      const firstKill = Date.now();
      // How long the first Main keeps listing each dead instance: its registry drops an
      // Authenticator or catalog when a pick's ping fails, a provider (which Main never hands out)
      // after 3 silent announce periods.
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const list = await dep.instances().catch(() => undefined);
          const now = Date.now();
          for (const v of victims) if (list && v.killedAt && !v.removedAt && v.id && !list.some((i) => i.id === v.id)) v.removedAt = now;
          await sleep(50);
        }
      })();
      for (const [i, v] of victims.entries()) {
        if (i > 0) await sleep(STAGGER_MS);
        v.killedAt = Date.now();
        process.kill(v.pid, "SIGKILL");
      }
      const lastKill = Date.now();
      // The restarted replicas (new ids, new ports) register again.
      await waitFor(
        "the dead instances to leave Main's registry and the restarted ones to register",
        async () => {
          const list = await dep.instances();
          return victims.every((v) => !v.id || v.removedAt) && ["authenticator", "catalog", "streaming"].every((k) => list.filter((i) => i.kind === k).length === 2);
        },
        Boolean,
        40_000,
      );
      const recoveredAt = Date.now();
      watching = false;
      await watcher;
      stopAt = Math.max(lastKill + SIZES.faultAfterKillMs, recoveredAt + 1000);
      await Promise.all(loops);

      const report = victims.map((v) => {
        const after = v.id ? handouts.filter((h) => h.kind === v.kind && h.endpoint === v.endpoint && h.at > v.killedAt) : [];
        return {
          name: v.name,
          handedOutAfterKill: after.length,
          lastHandoutMs: Math.max(0, maxOf(after.map((h) => h.at - v.killedAt))),
          removedFromMainMs: v.removedAt ? v.removedAt - v.killedAt : undefined,
        };
      });
      figure(
        "faults.killReplicas",
        `${SIZES.faultLoops} client loops through Main, ${tally.ops} operations (${opsBefore} before the first kill); kill -9 of ` +
          `main-2, auth-2, catalog-2, streaming-2 ${STAGGER_MS} ms apart: ${tally.retried} operations needed the one retry, ` +
          `${tally.failed.length} failed; dead instances handed out after their kill: ` +
          report.filter((r) => r.name !== "main-2").map((r) => `${r.name} ${r.handedOutAfterKill}× (last +${r.lastHandoutMs} ms)`).join(", ") +
          `; gone from Main's registry after ` +
          report.filter((r) => r.removedFromMainMs !== undefined).map((r) => `${r.removedFromMainMs} ms (${r.name})`).join(", ") +
          ` (a provider: silence sweep); all restarted replicas registered ${recoveredAt - firstKill} ms after the first kill`,
        { ops: tally.ops, retried: tally.retried, failed: tally.failed.length, victims: report, recoveredMs: recoveredAt - firstKill },
      );
      assert.deepEqual(tally.failed.map((f) => ({ ...f, at: f.at - firstKill })), [], "every operation succeeded, at most after one retry");
      for (const v of victims) assert.equal(isAlive(v.pid), false, `${v.name} (pid ${v.pid}) is dead`);
      // Main and the catalogs ping before handing out: a dead instance may only be handed out by a
      // pick that pinged it just before the kill. Bound: one call timeout.
      for (const r of report) assert.ok(r.lastHandoutMs < 5000, `${r.name} handed out until +${r.lastHandoutMs} ms`);
      for (const r of report.filter((x) => x.name === "auth-2" || x.name === "catalog-2")) {
        assert.ok(r.removedFromMainMs! < 5000, `${r.name} left Main's registry after ${r.removedFromMainMs} ms`);
      }
      assert.ok(report[3]!.removedFromMainMs! < 3 * 1000 + 5000, `the silent provider was swept after ${report[3]!.removedFromMainMs} ms`);
    } finally {
      stopAt = 0;
      await Promise.allSettled(loops);
    }
  });

  it("first replicas restarted on their own ports answer only once they can serve: no spurious refusal", async () => {
    // A restarted instance gets calls at once (same endpoint), before it has heard the others'
    // announcements: it must not answer TemporaryUnavailable or Unauthorized meanwhile.
    const token = await login(dep.main(), "demo", "demo");
    tokens.push(token);
    const communicator = newCommunicator({ invocationTimeoutMs: 8000, connectTimeoutMs: 1000 });
    try {
      const main = mainPrx(communicator, `Main:tcp -h 127.0.0.1 -p ${dep.ports.main}`);
      const catalog = dep.catalogAt(dep.ports.catalog, communicator);
      const provider = dep.providerAt(dep.ports.streaming, communicator);
      const id = (await catalog.getTilesByName("", false))[0]!;
      const probes: Record<string, () => Promise<unknown>> = {
        "Main.getAuthenticator": () => main.getAuthenticator(),
        "Main.getCatalogService": () => main.getCatalogService(),
        "catalog.getTile": () => catalog.getTile(id),
        "catalog.addTags": () => catalog.addTags(id, ["restart-probe"], token),
        "provider.getStream": async () => (await provider.getStream(id, token))!.stop(),
      };
      const victims = ["main", "catalog", "streaming"].map((n) => dep.component(n));
      const killAt = Date.now();
      for (const v of victims) process.kill(v.pid, "SIGKILL");
      const report: string[] = [];
      const refusals: string[] = [];
      await Promise.all(
        Object.entries(probes).map(async ([what, call]) => {
          const seen = new Map<string, number>();
          for (;;) {
            const got = await outcome(call);
            seen.set(got, (seen.get(got) ?? 0) + 1);
            if (got === "ok") break;
            if (!got.startsWith("::Ice::")) refusals.push(`${what}: ${got} at +${Date.now() - killAt} ms`);
            if (Date.now() - killAt > 30_000) throw new Error(`${what} did not answer within 30 s: ${[...seen.keys()]}`);
            await sleep(50);
          }
          report.push(`${what} ok at +${Date.now() - killAt} ms (before: ${[...seen].filter(([k]) => k !== "ok").map(([k, n]) => `${k.replace("::Ice::", "")} ×${n}`).join(", ") || "nothing"})`);
        }),
      );
      figure("faults.restartWarmUp", `kill -9 of main, catalog, streaming (first replicas, fixed ports): ${report.join("; ")}`);
      assert.deepEqual(refusals, [], "only transport errors while down, then success");
    } finally {
      await communicator.destroy();
    }
  });

  it("IceStorm killed while everything runs: subscriptions and announcements are back within 15 s", async () => {
    await dep.waitReady(3); // the replicas restarted above are registered again
    const main = dep.firstMain();
    const tm = (await main.getTopicManager())! as IceStorm.TopicManagerPrx;
    /** Subscribers per system topic, in the key order of `expected` below. */
    const subscribers = async () => {
      const out: Record<string, number> = { ServiceAvailability: 0, AuthenticationStatus: 0, MediaAnnouncements: 0 };
      for (const [name, topic] of await tm.retrieveAll()) if (name in out) out[name] = (await topic!.getSubscribers()).length;
      return out;
    };
    // 2 × (Main, auth, catalog, provider) hear ServiceAvailability (auth only to welcome newcomers); 2 × (auth, provider) AuthenticationStatus; 2 catalogs MediaAnnouncements.
    // IceStorm drops the subscription of a dead subscriber (the replicas killed above) when events
    // fail to reach it (the first one may still go into the dead connection), so a few harmless
    // signed events go on the quiet topic before each count.
    const expected = { ServiceAvailability: 8, AuthenticationStatus: 4, MediaAnnouncements: 2 };
    const injector = new EventInjector(tm, dep.secret);
    const flushedSubscribers = async () => {
      for (let i = 0; i < 3; i++) await injector.publishSigned({ topic: "AuthenticationStatus", operation: "revoke", args: [`not-a-token-${i}`] });
      return subscribers();
    };
    await waitFor("the subscriptions before the restart", flushedSubscribers, (s) => JSON.stringify(s) === JSON.stringify(expected), 15_000);

    const token = await login(dep.main(), "demo", "demo");
    tokens.push(token);
    const auths = (await dep.instances()).filter((i) => i.kind === "authenticator").map((i) => IceFlix.AuthenticatorPrx.uncheckedCast(i.proxy));
    assert.equal(auths.length, 2);
    for (const a of auths) assert.equal(await a.isAuthorized(token), true);

    // A new media file for a provider that starts after the restart.
    const mediaDir = dep.tmp("late-provider-media");
    const title = `Late Provider ${randomBytes(4).toString("hex")}`;
    const file = join(mediaDir, `${title}.mp4`);
    copyFileSync(join(await cachedDemoMedia(), "Colour Bars.mp4"), file);
    appendFileSync(file, randomBytes(64)); // a distinct content, so a new media id

    const broker = dep.component("broker");
    const oldIcebox = dep.icebox();
    assert.ok(oldIcebox, "icebox runs");
    const killAt = Date.now();
    process.kill(broker.pid, "SIGKILL");

    // icebox dies with its component (up kills the component's process group); the broker is
    // back when a new one answers (up restarts the component after ~1 s).
    await waitFor("the old icebox to die with its component", () => isAlive(oldIcebox.pid), (alive) => !alive, 10_000);
    await waitFor("IceStorm to answer again", () => tm.ice_ping().then(() => true), Boolean, 30_000);
    const backAt = Date.now();
    assert.notEqual(dep.component("broker").pid, broker.pid);
    assert.notEqual(dep.icebox()?.pid, oldIcebox.pid);

    // Every service re-subscribed (and nothing is subscribed twice).
    await waitFor("the subscriptions after the restart", flushedSubscribers, (s) => JSON.stringify(s) === JSON.stringify(expected), 15_000);
    const resubscribedAt = Date.now();

    // Announcements flow again: every instance known to Main announced after the restart.
    await waitFor(
      "every instance to announce after the restart",
      async () => (await dep.instances()).filter((i) => i.kind !== "main").every((i) => i.lastSeen.toNumber() > backAt),
      Boolean,
      15_000,
    );
    const announcedAt = Date.now();

    // A provider started after the restart: both catalogs learn its media through the broker.
    const provider: ReadyProcess<{ proxy: string; pid: number }> = res.track(
      await startIceflix(
        [
          "streaming",
          "--data",
          dep.data,
          "--media",
          mediaDir,
          "--StreamingAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
          `--IceFlix.IceStorm/TopicManager=IceStorm/TopicManager:tcp -h 127.0.0.1 -p ${dep.ports.topicManager}`,
          "--IceFlix.Announce.PeriodSeconds=1",
        ],
        { logFile: join(dep.tmp("late-provider"), "streaming.log"), timeoutMs: 30_000 },
      ),
    );
    const providerReadyAt = Date.now();
    const catalogs = (await dep.instances()).filter((i) => i.kind === "catalog").map((i) => IceFlix.MediaCatalogPrx.uncheckedCast(i.proxy));
    await waitFor(
      "both catalogs to serve the late provider's media",
      async () => {
        for (const c of catalogs) {
          const ids = await c.getTilesByName(`${title}.mp4`, true);
          if (ids.length !== 1) return false;
          const tile = await c.getTile(ids[0]!);
          if (endpointOf(tile.provider!) !== endpointOf(dep.communicator.stringToProxy(provider.ready.proxy))) return false;
        }
        return true;
      },
      Boolean,
      15_000,
    );
    const learnedAt = Date.now();

    // A signed revocation published through the restarted broker reaches both Authenticators.
    const revokeAt = Date.now();
    await injector.publishSigned({ topic: "AuthenticationStatus", operation: "revoke", args: [token] });
    await waitFor("both Authenticators to obey the revocation", async () => (await Promise.all(auths.map((a) => a.isAuthorized(token)))).every((v) => !v), Boolean, 15_000);
    const revokedAt = Date.now();

    const s = (t: number) => `${((t - killAt) / 1000).toFixed(1)} s`;
    figure(
      "faults.brokerRestart",
      `IceStorm kill -9 → answering again after ${s(backAt)}; every subscription restored (no duplicates) after ${s(resubscribedAt)}; ` +
        `every instance announced again after ${s(announcedAt)}; a provider started at ${s(providerReadyAt)} had its media in both catalogs at ` +
        `${s(learnedAt)}; a signed revocation published at ${s(revokeAt)} was obeyed by both Authenticators at ${s(revokedAt)} ` +
        `(${revokedAt - revokeAt} ms)`,
      { backMs: backAt - killAt, resubscribedMs: resubscribedAt - killAt, announcedMs: announcedAt - killAt, learnedMs: learnedAt - killAt, revokedMs: revokedAt - killAt },
    );
    assert.ok(resubscribedAt - killAt <= 15_000, `subscriptions restored after ${resubscribedAt - killAt} ms`);
    assert.ok(announcedAt - killAt <= 15_000, `announcements restored after ${announcedAt - killAt} ms`);
    assert.ok(learnedAt - providerReadyAt <= 15_000, `the late provider's media learned ${learnedAt - providerReadyAt} ms after it was ready`);
    assert.ok(revokedAt - killAt <= 30_000);
    await provider.stop(5000);
  });

  it("kill -9 of a catalog while clients rename and tag in a loop: every acknowledged edit survives", async () => {
    const token = await login(dep.main(), "demo", "demo");
    tokens.push(token);
    const communicator = newCommunicator({ invocationTimeoutMs: 3000, connectTimeoutMs: 1000 });
    try {
      const catalog = dep.catalogAt(dep.ports.catalog, communicator);
      // Three titles with a live provider (the late provider's title of the test above has none now).
      const all = await catalog.getTilesByName("", false);
      const served = await Promise.all(all.map((id) => outcome(() => catalog.getTile(id))));
      const ids = all.filter((_, i) => served[i] === "ok").slice(0, 3);
      assert.equal(ids.length, 3, `titles with a provider: ${served}`);

      interface Edit {
        op: "rename" | "add" | "remove";
        id: string;
        value: string;
        /** applied: acknowledged; refused: a declared exception (certainly not applied); unknown: a transport failure. */
        result: "applied" | "refused" | "unknown" | "pending";
        at: number;
        error?: string;
      }
      const REFUSALS = new Set(["Unauthorized", "WrongMediaId", "InvalidArgument"]);
      const edits: Edit[] = [];
      let killAt = 0;
      let restartedAt = 0;
      let ackedBefore = 0;
      let ackedAfter = 0;
      let firstAckAfterRestart = 0;
      const deadline = Date.now() + 90_000;
      const done = () => (restartedAt > 0 && ackedAfter >= SIZES.editsAfterRestart) || Date.now() > deadline;
      const record = async (edit: Omit<Edit, "result" | "at">, call: () => Promise<void>): Promise<Edit> => {
        const e: Edit = { ...edit, result: "pending", at: Date.now() };
        edits.push(e);
        try {
          await call();
          e.result = "applied";
          if (!killAt) ackedBefore++;
          else if (restartedAt && e.at >= restartedAt) {
            ackedAfter++;
            firstAckAfterRestart ||= Date.now();
          }
        } catch (err) {
          e.error = errorKind(err);
          e.result = REFUSALS.has(e.error) ? "refused" : "unknown";
          await sleep(50); // the catalog is down or not ready: do not spin
        }
        return e;
      };
      const loops = [
        // Loop 0 renames one title, sequentially: the last acknowledged name (or a later attempt) must stay.
        (async () => {
          for (let j = 0; !done(); j++) {
            const name = `Chaos Rename ${j}`;
            await record({ op: "rename", id: ids[0]!, value: name }, () => catalog.renameTile(ids[0]!, name, token));
          }
        })(),
        // Loops 1–3 add unique tags to every title and remove some of their own acknowledged ones.
        ...[1, 2, 3].map(async (loop) => {
          const mine: Array<{ id: string; tag: string }> = [];
          for (let j = 0; !done(); j++) {
            if (j % 4 === 3 && mine.length) {
              const { id, tag } = mine.shift()!;
              await record({ op: "remove", id, value: tag }, () => catalog.removeTags(id, [tag], token));
            } else {
              const id = ids[(loop + j) % 3]!;
              const tag = `e${loop}-${j}`;
              const e = await record({ op: "add", id, value: tag }, () => catalog.addTags(id, [tag], token));
              if (e.result === "applied") mine.push({ id, tag });
            }
          }
        }),
      ];
      await waitFor("edits before the kill", () => ackedBefore, (n) => n >= SIZES.editsBeforeKill, 60_000);
      const victim = dep.component("catalog");
      killAt = Date.now();
      process.kill(victim.pid, "SIGKILL");
      // Restarted (by up) when a new catalog process answers on the same port.
      await waitFor(
        "the catalog to be restarted",
        async () => dep.components().some((c) => c.name === "catalog" && c.pid !== victim.pid) && (await catalog.ice_ping().then(() => true)),
        Boolean,
        30_000,
      );
      restartedAt = Date.now();
      await Promise.all(loops);
      assert.ok(ackedAfter >= SIZES.editsAfterRestart, `edits acknowledged after the restart: ${ackedAfter}`);

      // Every acknowledged edit is there and no refused one is, read through the restarted catalog
      // and through the other replica (same DB).
      const mustHave = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]));
      const mustNotHave = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]));
      for (const e of edits) {
        if (e.op === "add" && e.result === "applied") mustHave.get(e.id)!.add(e.value);
        if (e.op === "add" && e.result === "refused") mustNotHave.get(e.id)!.add(e.value);
        if (e.op === "remove" && e.result === "applied") {
          mustHave.get(e.id)!.delete(e.value);
          mustNotHave.get(e.id)!.add(e.value);
        }
        if (e.op === "remove" && e.result === "unknown") mustHave.get(e.id)!.delete(e.value);
      }
      const renames = edits.filter((e) => e.op === "rename");
      const lastAcked = renames.map((e) => e.result).lastIndexOf("applied");
      assert.ok(lastAcked >= 0, "some rename was acknowledged");
      const allowedNames = new Set(renames.slice(lastAcked).filter((e, i) => i === 0 || e.result === "unknown").map((e) => e.value));
      const readers = [
        dep.catalogAt(dep.ports.catalog, communicator),
        ...(await dep.instances())
          .filter((i) => i.kind === "catalog" && endpointOf(i.proxy) !== `127.0.0.1:${dep.ports.catalog}`)
          .map((i) => IceFlix.MediaCatalogPrx.uncheckedCast(i.proxy)),
      ];
      assert.equal(readers.length, 2);
      let lost = 0;
      for (const reader of readers) {
        for (const id of ids) {
          const tile = await reader.getTile(id);
          const tags = new Set(tile.info.tags);
          const missing = [...mustHave.get(id)!].filter((t) => !tags.has(t));
          const unwanted = [...mustNotHave.get(id)!].filter((t) => tags.has(t));
          lost += missing.length;
          assert.deepEqual(missing, [], `acknowledged tags missing on ${id.slice(0, 8)}`);
          assert.deepEqual(unwanted, [], `refused or removed tags present on ${id.slice(0, 8)}`);
          if (id === ids[0]) assert.ok(allowedNames.has(tile.info.name), `name ${tile.info.name} is the last acknowledged rename or a later attempt: ${[...allowedNames]}`);
        }
      }
      const count = (r: Edit["result"]) => edits.filter((e) => e.result === r).length;
      const errors = [...new Set(edits.filter((e) => e.error).map((e) => e.error))];
      const refusedAfterRestart = edits.filter((e) => e.result === "refused" && e.at >= restartedAt).length;
      figure(
        "faults.catalogKill",
        `${edits.length} edits by 4 loops: ${count("applied")} acknowledged (${ackedBefore} before the kill -9, ${ackedAfter} after ` +
          `the restart), ${count("unknown")} failed in transit, ${count("refused")} refused (${errors.join(", ")}); the catalog answered ` +
          `again ${restartedAt - killAt} ms after the kill, edits succeeded again after ${firstAckAfterRestart - killAt} ms ` +
          `(${refusedAfterRestart} refused as Unauthorized until it heard an Authenticator announce); acknowledged edits lost: ${lost}, ` +
          `refused edits applied: 0 (checked on both replicas)`,
        { edits: edits.length, applied: count("applied"), unknown: count("unknown"), refused: count("refused"), lost, restartMs: restartedAt - killAt, editsBackMs: firstAckAfterRestart - killAt },
      );
    } finally {
      await communicator.destroy();
    }
  });

  it("no log of the deployment contains the secret, a token or a password hash", () => {
    assert.ok(tokens.length >= 1);
    const hits = dep.logsContaining([dep.secretHex, ...tokens, sha256hex("demo")]);
    assert.deepEqual(hits, []);
  });
});

