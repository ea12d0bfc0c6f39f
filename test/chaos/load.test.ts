/**
 * Load (spec §11): concurrent Node clients (npm `ice` runtime, one communicator each) use a
 * deployment from `iceflix up` through Main: one login per client, then a seeded mix of searches,
 * getTile, edits (rename, addTags/removeTags), getStream/stop (a few with getSDP, so real
 * pipelines start and stop), isAuthorized and Main hand-outs. Asserted: zero errors; afterwards
 * no gst-launch left, no controller, sync topic, subscription, process or descriptor leaked, and
 * each service's RSS within a bound of its size after a warm-up round. Reported: throughput,
 * p50/p99 latency, RSS before/after.
 * Sizes: 20 clients × 100 operations (CI), 200 × 1,000 with CHAOS_FULL=1.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice, IceStorm } from "../../src/slice/index.js";
import { mulberry32, pick, randInt, type Rng } from "../helpers/iceFrames.js";
import { UdpCounter } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { errorKind, login, mainPrx, newCommunicator, sha256hex } from "./lib/client.js";
import { Deployment } from "./lib/deployment.js";
import { figure, maxOf, mib, percentile } from "./lib/figures.js";
import { fdCount, rssOf } from "./lib/procs.js";
import { SIZES } from "./lib/sizes.js";

const SERVICES = ["main", "auth", "catalog", "streaming"] as const;
/** getSDP calls in a whole run (each starts a real gst-launch pipeline): enough to exercise it, bounded for 2 cores. */
const STREAMS_PER_RUN = 40;

interface Stats {
  ops: number;
  latencies: number[];
  byOp: Map<string, number[]>;
  errors: Array<{ op: string; error: string }>;
  getStreams: number;
  sdps: number;
  sdpMs: number[];
  tokens: string[];
}

const newStats = (): Stats => ({ ops: 0, latencies: [], byOp: new Map(), errors: [], getStreams: 0, sdps: 0, sdpMs: [], tokens: [] });

interface ClientPlan {
  index: number;
  ops: number;
  /** Operation numbers (global, over all clients) that do a getSDP. */
  sdpEvery: number;
}

/** One client: its own communicator, one login, then `ops` operations drawn from its own PRNG. */
async function runClient(dep: Deployment, plan: ClientPlan, stats: Stats, rtp: UdpCounter, seed: number): Promise<void> {
  const rng: Rng = mulberry32((seed ^ Math.imul(plan.index + 1, 0x9e3779b1)) >>> 0);
  const communicator = newCommunicator({ invocationTimeoutMs: 30_000, connectTimeoutMs: 5000 });
  const timed = async <T>(op: string, call: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now();
    try {
      const v = await call();
      const ms = performance.now() - t0;
      stats.latencies.push(ms);
      let list = stats.byOp.get(op);
      if (!list) stats.byOp.set(op, (list = []));
      list.push(ms);
      return v;
    } catch (e) {
      stats.errors.push({ op, error: errorKind(e) });
      return undefined;
    } finally {
      stats.ops++;
    }
  };
  try {
    const main = mainPrx(communicator, dep.mainProxy);
    const token = await timed("login", () => login(main, "demo", "demo"));
    if (!token) return;
    stats.tokens.push(token);
    let auth = (await timed("getAuthenticator", () => main.getAuthenticator()))!;
    let catalog = (await timed("getCatalogService", () => main.getCatalogService()))!;
    if (!auth || !catalog) return;
    const ids = (await timed("getTilesByName", () => catalog.getTilesByName("", false))) ?? [];
    const myTag = `load-c${plan.index}`;
    const tagged = new Set<string>();
    for (let k = 0; k < plan.ops; k++) {
      const id = pick(rng, ids);
      const global = plan.index * plan.ops + k;
      if (global % plan.sdpEvery === plan.sdpEvery - 1) {
        // A real stream: getStream, getSDP to our UDP counter, stop.
        await timed("getStream+getSDP+stop", async () => {
          const tile = await catalog.getTile(id);
          const controller = (await tile.provider!.getStream(id, token))!;
          stats.getStreams++;
          const t0 = performance.now();
          const sdp = await controller.getSDP(token, rtp.port);
          stats.sdpMs.push(performance.now() - t0);
          stats.sdps++;
          if (!sdp.includes(`m=video ${rtp.port} RTP/AVP 96`)) throw new Error(`unexpected SDP: ${sdp}`);
          await controller.stop();
        });
        continue;
      }
      const r = rng();
      if (r < 0.2) {
        const text = pick(rng, ["", "a", "col", "TEST", "mandelbrot (vp8).webm", "nothing like it", "e"]);
        await timed("getTilesByName", () => catalog.getTilesByName(text, rng() < 0.3));
      } else if (r < 0.3) {
        const tags = pick(rng, [[myTag], [myTag, "other"], ["nope"], []]);
        await timed("getTilesByTags", () => catalog.getTilesByTags(tags, rng() < 0.5));
      } else if (r < 0.45) {
        await timed("getTile", async () => {
          const tile = await catalog.getTile(id);
          if (!tile.provider || tile.id !== id) throw new Error("getTile without a provider");
        });
      } else if (r < 0.6) {
        await timed("isAuthorized", async () => {
          if (!(await auth.isAuthorized(token))) throw new Error("a valid token was refused");
        });
      } else if (r < 0.7) {
        // Edits: one tag of our own per title (so titles stay far below 256 tags), and renames.
        if (rng() < 0.3) {
          await timed("renameTile", () => catalog.renameTile(id, `Load title ${randInt(rng, 0, 9)}`, token));
        } else if (tagged.has(id)) {
          await timed("removeTags", () => catalog.removeTags(id, [myTag], token));
          tagged.delete(id);
        } else {
          await timed("addTags", () => catalog.addTags(id, [myTag], token));
          tagged.add(id);
        }
      } else if (r < 0.85) {
        await timed("getStream+stop", async () => {
          const tile = await catalog.getTile(id);
          const controller = (await tile.provider!.getStream(id, token))!;
          stats.getStreams++;
          if (rng() < 0.3) await controller.getSyncTopic(); // creates the controller's topic: it must go with it
          await controller.stop();
          // Gone for good: a later call finds no servant.
          try {
            await controller.getSyncTopic();
            throw new Error("a stopped controller still answers");
          } catch (e) {
            if (!(e instanceof Ice.ObjectNotExistException)) throw e;
          }
        });
      } else if (r < 0.92) {
        await timed("provider.isAvailable", async () => {
          const tile = await catalog.getTile(id);
          if (!(await tile.provider!.isAvailable(id))) throw new Error("a provider handed out does not have the media");
        });
      } else if (r < 0.96) {
        auth = (await timed("getAuthenticator", () => main.getAuthenticator())) ?? auth;
      } else {
        catalog = (await timed("getCatalogService", () => main.getCatalogService())) ?? catalog;
      }
    }
  } finally {
    await communicator.destroy();
  }
}

async function runRound(dep: Deployment, clients: number, opsEach: number, seed: number, rtp: UdpCounter, streams: number): Promise<{ stats: Stats; ms: number }> {
  const stats = newStats();
  const sdpEvery = Math.max(1, Math.floor((clients * opsEach) / Math.max(1, streams)));
  const t0 = Date.now();
  await Promise.all(Array.from({ length: clients }, (_, index) => runClient(dep, { index, ops: opsEach, sdpEvery }, stats, rtp, seed)));
  return { stats, ms: Date.now() - t0 };
}

interface Snapshot {
  rss: Record<string, number>;
  fds: Record<string, number>;
  processes: number;
  topics: string[];
  subscribers: Record<string, number>;
}

describe("chaos: load", { timeout: SIZES.tier === "full" ? 1_800_000 : 240_000 }, () => {
  let dep: Deployment;
  let rtp: UdpCounter;
  const tokens: string[] = [];

  before(async () => {
    requireTool("gst-launch-1.0");
    dep = await Deployment.up({
      label: "load",
      props: [
        "--IceFlix.Announce.PeriodSeconds=1",
        "--IceFlix.Token.LifetimeSeconds=3600",
        // Many clients may hold a controller at once; the default 64 is a capacity choice, not under test.
        "--IceFlix.Stream.MaxConcurrent=1000",
      ],
    });
    rtp = await UdpCounter.open();
  });

  after(async () => {
    await rtp?.close();
    await dep?.down();
  });

  const snapshot = async (): Promise<Snapshot> => {
    const tm = (await dep.firstMain().getTopicManager())! as IceStorm.TopicManagerPrx;
    const topics = await tm.retrieveAll();
    const subscribers: Record<string, number> = {};
    for (const [name, t] of topics) subscribers[name] = (await t!.getSubscribers()).length;
    return {
      rss: Object.fromEntries(SERVICES.map((s) => [s, rssOf(dep.component(s).pid)])),
      fds: Object.fromEntries(SERVICES.map((s) => [s, fdCount(dep.component(s).pid)])),
      processes: dep.processes().length,
      topics: [...topics.keys()].sort(),
      subscribers,
    };
  };

  /** Streams stopped, controllers and their topics gone, pipelines ended. */
  const quiescent = () =>
    waitFor(
      "no pipeline and no sync topic left",
      async () => {
        const s = await snapshot();
        return { gst: dep.gstProcesses().length, syncTopics: s.topics.filter((t) => t.startsWith("StreamSync-")).length };
      },
      (v) => v.gst === 0 && v.syncTopics === 0,
      30_000,
    );

  it(`${SIZES.loadClients} clients × ${SIZES.loadOps} mixed operations through Main: zero errors, no leaks`, async () => {
    const seed = 0x10ad_5eed;
    // Warm-up with the same clients: connections, JIT and heaps reach their working size.
    const warm = await runRound(dep, SIZES.loadClients, Math.max(10, Math.floor(SIZES.loadOps / 10)), seed ^ 1, rtp, 4);
    assert.deepEqual(warm.stats.errors.slice(0, 10), [], "warm-up errors");
    await quiescent();
    const before = await snapshot();
    const destroyedBefore = dep.log("streaming").filter((l) => l.msg === "stream controller destroyed").length;

    const { stats, ms } = await runRound(dep, SIZES.loadClients, SIZES.loadOps, seed, rtp, STREAMS_PER_RUN);
    tokens.push(...warm.stats.tokens, ...stats.tokens);
    await quiescent();
    const afterLoad = await snapshot();
    const destroyed = dep.log("streaming").filter((l) => l.msg === "stream controller destroyed");
    const destroyedNow = destroyed.length - destroyedBefore;

    const errorsByKind: Record<string, number> = {};
    for (const e of stats.errors) errorsByKind[`${e.op}: ${e.error}`] = (errorsByKind[`${e.op}: ${e.error}`] ?? 0) + 1;
    // Logins are reported apart: scrypt makes them slow on purpose, and they all come at once.
    const logins = stats.byOp.get("login") ?? [];
    const others = [...stats.byOp].filter(([op]) => op !== "login").flatMap(([, l]) => l);
    const p = (q: number) => percentile(others, q).toFixed(1);
    const perOp = Object.fromEntries([...stats.byOp].map(([op, l]) => [op, { n: l.length, p50: +percentile(l, 50).toFixed(1), p99: +percentile(l, 99).toFixed(1) }]));
    const perOpLine = Object.entries(perOp)
      .filter(([op]) => op !== "login")
      .map(([op, v]) => `${op} ${v.p99}`)
      .join(", ");
    const rssLine = SERVICES.map((s) => `${s} ${mib(before.rss[s]!)}→${mib(afterLoad.rss[s]!)}`).join(", ");
    figure(
      "load",
      `${SIZES.loadClients} clients × ${SIZES.loadOps} ops (+ 1 login each): ${stats.ops} operations in ${(ms / 1000).toFixed(1)} s = ` +
        `${Math.round((stats.ops / ms) * 1000)} ops/s; latency (logins apart) p50 ${p(50)} ms, p99 ${p(99)} ms, max ${maxOf(others).toFixed(0)} ms; ` +
        `p99 by operation (ms): ${perOpLine}; ${logins.length} concurrent logins (scrypt): p50 ${percentile(logins, 50).toFixed(0)} ms, max ${maxOf(logins).toFixed(0)} ms; ` +
        `${stats.errors.length} errors; ${stats.getStreams} getStream (${stats.sdps} with getSDP: a real pipeline, p50 ${percentile(stats.sdpMs, 50).toFixed(0)} ms ` +
        `to the SDP), ${destroyedNow} controllers destroyed; RSS MiB ${rssLine}; fds ${JSON.stringify(before.fds)}→${JSON.stringify(afterLoad.fds)}; ` +
        `processes ${before.processes}→${afterLoad.processes}; RTP packets received ${rtp.packets}`,
      { ops: stats.ops, ms, opsPerSecond: (stats.ops / ms) * 1000, p50: +p(50), p99: +p(99), errors: stats.errors.length, perOp, before, after: afterLoad },
    );

    assert.deepEqual(errorsByKind, {}, "no operation failed");
    assert.equal(stats.ops, SIZES.loadClients * (SIZES.loadOps + 4), "every operation ran (login, 2 hand-outs, 1 listing, then the mix)");
    assert.ok(stats.sdps >= 1 && rtp.packets > 0, "real streams ran");
    // No servant leak: every controller was destroyed (stop), and its topic with it.
    assert.equal(destroyedNow, stats.getStreams, "one 'stream controller destroyed' per getStream");
    assert.deepEqual(afterLoad.topics, before.topics, "no topic left behind");
    assert.deepEqual(afterLoad.subscribers, before.subscribers, "no subscription added or lost");
    assert.equal(afterLoad.processes, before.processes, "no process left behind (gst-launch, setpriv)");
    assert.equal(dep.gstProcesses().length, 0, "no gst-launch left");
    for (const s of SERVICES) {
      assert.ok(afterLoad.fds[s]! <= before.fds[s]! + 16, `${s}: descriptors ${before.fds[s]} → ${afterLoad.fds[s]}`);
      // RSS: a leak of servants, connections or topics grows without bound; a GC'd heap does not.
      const bound = SIZES.tier === "full" ? 192 : 96;
      assert.ok(afterLoad.rss[s]! - before.rss[s]! < bound * 1024 * 1024, `${s}: RSS ${mib(before.rss[s]!)} → ${mib(afterLoad.rss[s]!)} MiB (bound +${bound})`);
    }
  });

  it("no log of the deployment contains the secret, a token or a password hash", async () => {
    tokens.push(await login(dep.main(), "demo", "demo"));
    assert.deepEqual(dep.logsContaining([dep.secretHex, ...tokens, sha256hex("demo")]), []);
  });
});
