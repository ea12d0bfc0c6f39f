/**
 * Main's discovery through real IceStorm (spec §2), with Python peers on the original contract:
 * Python services announce themselves on ServiceAvailability, a Python client asks Main for them.
 * Every process is stopped in after() (also when a test fails); every wait is bounded and polls
 * a condition instead of sleeping.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlixExt } from "../../src/slice/index.js";
import { freeBasePort, startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { runPython, startPython } from "../helpers/python.js";
import { waitFor } from "../helpers/waitFor.js";

/** Main's announce period in these tests: sweeps every 1 s, "silent" after 3 s. */
const PERIOD_S = 1;

interface PeerReady {
  event: "ready";
  kind: string;
  name: string;
  id: string;
  proxy: string;
  pid: number;
}

interface ClientResult {
  proxy?: string;
  value?: string;
  error?: string;
  stage?: string;
}

interface Instance {
  kind: string;
  id: string;
  proxy: string;
  lastSeen: number;
  healthy: boolean;
}

const running = new Set<ReadyProcess<unknown>>();
const tmpDirs: string[] = [];
let broker: TestBroker | undefined;
let communicator: Ice.Communicator | undefined;

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

function track<T extends ReadyProcess<unknown>>(p: T): T {
  running.add(p);
  void p.child.exited.then(() => running.delete(p));
  return p;
}

/** The deployment secret shared by Main and the (signing) Python peers of these tests. */
let secretFile = "";

async function startMain(topicManager: string, extra: string[] = []): Promise<ReadyProcess<{ proxy: string; pid: number }>> {
  return track(
    await startIceflix([
      "main",
      "--data",
      tmp("iceflix-main-"),
      "--MainAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
      `--IceFlix.IceStorm/TopicManager=${topicManager}`,
      `--IceFlix.Announce.PeriodSeconds=${PERIOD_S}`,
      "--IceFlix.Call.TimeoutMs=3000",
      `--IceFlix.Secret.File=${secretFile}`,
      ...extra,
    ]),
  );
}

interface PeerOptions {
  kind?: "auth" | "catalog";
  id?: string;
  period?: number;
  burst?: number;
  /** Announce without signing (default: signed with the shared secret). */
  unsigned?: boolean;
}

async function startPeer(topicManager: string, name: string, o: PeerOptions = {}): Promise<ReadyProcess<PeerReady>> {
  const args = ["--topic-manager", topicManager, "--name", name, "--kind", o.kind ?? "auth"];
  if (o.id) args.push("--id", o.id);
  if (o.period) args.push("--period", String(o.period));
  if (o.burst) args.push("--burst", String(o.burst));
  if (!o.unsigned) args.push("--secret-file", secretFile);
  return track(await startPython<PeerReady>("auth_peer.py", args));
}

/** SIGKILL, and wait until the process is really gone. */
async function kill(p: ReadyProcess<unknown>): Promise<void> {
  await p.child.stop(0, "SIGKILL");
}

function callMain(main: string, getter: "auth" | "catalog", count: number): Promise<{ results: ClientResult[] }> {
  return runPython<{ results: ClientResult[] }>("main_client.py", ["--main", main, "--getter", getter, "--count", String(count)]);
}

/** MainExt.listInstances from this process. */
async function instances(main: string): Promise<Instance[]> {
  communicator ??= Ice.initialize();
  const prx = IceFlixExt.MainExtPrx.uncheckedCast(communicator.stringToProxy(main)).ice_invocationTimeout(3000);
  return (await prx.listInstances()).map((i) => ({
    kind: i.kind,
    id: i.id,
    proxy: i.proxy ? i.proxy.toString() : "",
    lastSeen: i.lastSeen.toNumber(),
    healthy: i.healthy,
  }));
}

const ids = (list: Instance[], kind: string) => list.filter((i) => i.kind === kind).map((i) => i.id).sort();

function waitForIds(main: string, kind: string, expected: string[], timeoutMs = 10_000) {
  const want = [...expected].sort();
  return waitFor(`Main to list ${kind} ${JSON.stringify(want)}`, () => instances(main), (l) => JSON.stringify(ids(l, kind)) === JSON.stringify(want), timeoutMs);
}

before(async () => {
  secretFile = join(tmp("iceflix-secret-"), "secret");
  writeFileSync(secretFile, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
  broker = await startTestBroker();
});

after(async () => {
  await Promise.allSettled([...running].map((p) => p.stop(2000)));
  await broker?.stop();
  await communicator?.destroy();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("Main discovery through IceStorm, with Python peers", () => {
  test("with nothing announced, both getters raise TemporaryUnavailable", async () => {
    const main = await startMain(broker!.proxy);
    try {
      const auth = await callMain(main.ready.proxy, "auth", 2);
      assert.deepEqual(auth.results, [{ error: "TemporaryUnavailable" }, { error: "TemporaryUnavailable" }]);
      const catalog = await callMain(main.ready.proxy, "catalog", 2);
      assert.deepEqual(catalog.results, [{ error: "TemporaryUnavailable" }, { error: "TemporaryUnavailable" }]);
    } finally {
      await main.stop();
    }
  });

  test("a Python announcement reaches Main and the Python client gets a working proxy", async () => {
    const main = await startMain(broker!.proxy);
    const auth = await startPeer(broker!.proxy, "alpha");
    const catalog = await startPeer(broker!.proxy, "shelf", { kind: "catalog" });
    try {
      // One announcement each (no re-announce): enough, as other implementations announce once.
      await waitForIds(main.ready.proxy, "authenticator", [auth.ready.id]);
      await waitForIds(main.ready.proxy, "catalog", [catalog.ready.id]);
      const a = await callMain(main.ready.proxy, "auth", 1);
      assert.equal(a.results.length, 1);
      assert.equal(a.results[0]!.value, "py-alpha", JSON.stringify(a));
      const c = await callMain(main.ready.proxy, "catalog", 1);
      assert.equal(c.results[0]!.value, "py-shelf", JSON.stringify(c));
      const listed = await instances(main.ready.proxy);
      const self = listed.filter((i) => i.kind === "main");
      assert.equal(self.length, 1, "Main lists itself once");
      assert.ok(listed.every((i) => i.healthy), JSON.stringify(listed));
    } finally {
      await Promise.allSettled([auth.stop(), catalog.stop(), main.stop()]);
    }
  });

  test("an unsigned announcement is ignored, unless Main runs with AllowUnsigned=1 (spec §7)", async () => {
    const strict = await startMain(broker!.proxy);
    const lax = await startMain(broker!.proxy, ["--IceFlix.Events.AllowUnsigned=1"]);
    const unsigned = await startPeer(broker!.proxy, "unsigned", { unsigned: true });
    try {
      await waitForIds(lax.ready.proxy, "authenticator", [unsigned.ready.id]);
      // A signed announcement published after it reaches the strict Main: by then the unsigned
      // one has been delivered to it too, and must not be listed.
      const signed = await startPeer(broker!.proxy, "signed");
      await waitForIds(strict.ready.proxy, "authenticator", [signed.ready.id]);
      assert.deepEqual(ids(await instances(strict.ready.proxy), "authenticator"), [signed.ready.id]);
      await signed.stop();
    } finally {
      await Promise.allSettled([unsigned.stop(), strict.stop(), lax.stop()]);
    }
  });

  test("two live Authenticators are handed out alternately (round-robin)", async () => {
    const main = await startMain(broker!.proxy);
    const a = await startPeer(broker!.proxy, "a");
    const b = await startPeer(broker!.proxy, "b");
    try {
      await waitForIds(main.ready.proxy, "authenticator", [a.ready.id, b.ready.id]);
      const { results } = await callMain(main.ready.proxy, "auth", 6);
      const values = results.map((r) => r.value ?? `error:${r.error}`);
      assert.ok(values.every((v) => v === "py-a" || v === "py-b"), JSON.stringify(results));
      for (let i = 1; i < values.length; i++) assert.notEqual(values[i], values[i - 1], `not alternating: ${values.join(",")}`);
      assert.equal(values.filter((v) => v === "py-a").length, 3);
    } finally {
      await Promise.allSettled([a.stop(), b.stop(), main.stop()]);
    }
  });

  test("a killed Authenticator is dropped; with both killed Main raises TemporaryUnavailable", async () => {
    const main = await startMain(broker!.proxy);
    const a = await startPeer(broker!.proxy, "a");
    const b = await startPeer(broker!.proxy, "b");
    try {
      await waitForIds(main.ready.proxy, "authenticator", [a.ready.id, b.ready.id]);
      await kill(a);
      const afterOne = await callMain(main.ready.proxy, "auth", 4);
      assert.deepEqual(
        afterOne.results.map((r) => r.value ?? `error:${r.error}`),
        ["py-b", "py-b", "py-b", "py-b"],
        JSON.stringify(afterOne),
      );
      assert.deepEqual(ids(await instances(main.ready.proxy), "authenticator"), [b.ready.id]);
      await kill(b);
      const afterBoth = await callMain(main.ready.proxy, "auth", 2);
      assert.deepEqual(afterBoth.results, [{ error: "TemporaryUnavailable" }, { error: "TemporaryUnavailable" }]);
      assert.deepEqual(ids(await instances(main.ready.proxy), "authenticator"), []);
    } finally {
      await Promise.allSettled([a.stop(), b.stop(), main.stop()]);
    }
  });

  test("an instance silent for 3 periods is pinged: removed if dead, kept if alive", async () => {
    const main = await startMain(broker!.proxy);
    // Both announce once only; `keeper` first, so it is silent at least as long as `goner`.
    const keeper = await startPeer(broker!.proxy, "keeper", { kind: "catalog" });
    const goner = await startPeer(broker!.proxy, "goner", { kind: "catalog" });
    try {
      await waitForIds(main.ready.proxy, "catalog", [keeper.ready.id, goner.ready.id]);
      await kill(goner);
      // No getter call: only the sweep can notice it (3 periods + a sweep period + slack).
      const list = await waitForIds(main.ready.proxy, "catalog", [keeper.ready.id], 12_000);
      const kept = list.find((i) => i.id === keeper.ready.id)!;
      assert.ok(Date.now() - kept.lastSeen >= 3 * PERIOD_S * 1000, "keeper was silent long enough to be pinged");
      assert.equal(kept.healthy, true);
      const c = await callMain(main.ready.proxy, "catalog", 2);
      assert.deepEqual(c.results.map((r) => r.value), ["py-keeper", "py-keeper"], JSON.stringify(c));
    } finally {
      await Promise.allSettled([keeper.stop(), goner.stop(), main.stop()]);
    }
  });

  test("duplicate announcements of one id keep one instance", async () => {
    const main = await startMain(broker!.proxy);
    const first = await startPeer(broker!.proxy, "dup", { burst: 5, period: 0.3 });
    try {
      const registered = await waitForIds(main.ready.proxy, "authenticator", [first.ready.id]);
      const seen0 = registered.find((i) => i.id === first.ready.id)!.lastSeen;
      // Re-announcements are processed (lastSeen moves) without a second entry.
      await waitFor(
        "re-announcements to refresh lastSeen",
        () => instances(main.ready.proxy),
        (l) => (l.find((i) => i.id === first.ready.id)?.lastSeen ?? 0) > seen0 + 500,
      );
      // Another process announcing the same id (burst of 3) does not add one either.
      const second = await startPeer(broker!.proxy, "dup2", { id: first.ready.id, burst: 3 });
      try {
        await waitFor(
          "the second announcer's proxy to be seen",
          () => instances(main.ready.proxy),
          (l) => l.some((i) => i.id === first.ready.id && i.proxy.startsWith(second.ready.proxy.split(" ")[0]!)),
        );
        // Through MainExt from Python (iceflix-ext.ice loaded with Ice's slice dir).
        const py = await runPython<{ results: ClientResult[]; instances: Instance[] }>("main_client.py", [
          "--main",
          main.ready.proxy,
          "--count",
          "4",
          "--list-instances",
        ]);
        const auths = py.instances.filter((i) => i.kind === "authenticator");
        assert.deepEqual(auths.map((i) => i.id), [first.ready.id], JSON.stringify(py.instances));
        assert.equal(py.instances.filter((i) => i.kind === "main").length, 1);
        assert.ok(py.results.every((r) => r.value === "py-dup" || r.value === "py-dup2"), JSON.stringify(py.results));
      } finally {
        await second.stop();
      }
    } finally {
      await Promise.allSettled([first.stop(), main.stop()]);
    }
  });

  test("Main re-subscribes after the broker restarts (same --data and --base-port)", async () => {
    const dataDir = tmp("iceflix-restart-");
    const basePort = await freeBasePort();
    const startBroker = () => startIceflix(["broker", "--data", dataDir, "--base-port", String(basePort)]).then(track);
    let b = await startBroker();
    const tm = b.ready.proxy;
    const main = await startMain(tm);
    const peers: ReadyProcess<PeerReady>[] = [];
    try {
      peers.push(await startPeer(tm, "before"));
      await waitForIds(main.ready.proxy, "authenticator", [peers[0]!.ready.id]);

      // 1. A plain restart: the broker keeps its database.
      await b.stop();
      b = await startBroker();
      assert.equal(b.ready.proxy, tm);
      peers.push(await startPeer(tm, "after-restart", { period: 0.5 }));
      await waitFor(
        "Main to learn an announcement made after the broker restart",
        () => instances(main.ready.proxy),
        (l) => ids(l, "authenticator").includes(peers[1]!.ready.id),
        15_000,
      );

      // 2. A restart that lost the broker's database: only a re-subscription by Main helps.
      await b.stop();
      rmSync(join(dataDir, "broker", "db"), { recursive: true, force: true });
      b = await startBroker();
      peers.push(await startPeer(tm, "after-wipe", { period: 0.5 }));
      await waitFor(
        "Main to re-subscribe and learn an announcement after the broker lost its state",
        () => instances(main.ready.proxy),
        (l) => ids(l, "authenticator").includes(peers[2]!.ready.id),
        15_000,
      );
      const { results } = await callMain(main.ready.proxy, "auth", 3);
      assert.ok(
        results.every((r) => ["py-before", "py-after-restart", "py-after-wipe"].includes(r.value ?? "")),
        JSON.stringify(results),
      );
    } finally {
      await Promise.allSettled([...peers.map((p) => p.stop()), main.stop()]);
      await b.stop();
    }
  });
});
