import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice } from "../../src/slice/index.js";
import { LOST_RECHECK_PERIODS, NO_ANSWER, ServiceRegistry } from "../../src/runtime/serviceRegistry.js";
import { createLogger } from "../../src/runtime/logger.js";

/** A stand-in proxy: ice_ping succeeds while `alive`. */
function fakeProxy(name: string, state: { alive: boolean; pings: number }): Ice.ObjectPrx {
  const prx = {
    name,
    toString: () => name,
    ice_invocationTimeout: () => prx,
    ice_getCachedConnection: () => null,
    ice_getConnection: async () => null, // no real connection to drop
    ice_ping: async () => {
      state.pings++;
      if (!state.alive) throw new Ice.ConnectionRefusedException();
    },
  };
  return prx as unknown as Ice.ObjectPrx;
}

const log = createLogger("test", "silent");
const options = { pingTimeoutMs: 100, silentAfterMs: 30_000, log };

describe("ServiceRegistry", () => {
  it("de-duplicates by id and reports whether an id is new", () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", options);
    const s = { alive: true, pings: 0 };
    assert.equal(r.announce("a", fakeProxy("A", s)), true);
    assert.equal(r.announce("a", fakeProxy("A2", s)), false);
    assert.equal(r.size, 1);
    assert.equal(String(r.get("a")!.proxy), "A2");
  });

  it("a new id announced on the same endpoint replaces the old id (a restarted instance)", () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", options);
    const s = { alive: true, pings: 0 };
    r.announce("old", fakeProxy("A", s));
    r.announce("other", fakeProxy("B", s));
    r.announce("new", fakeProxy("A", s));
    assert.deepEqual(r.list().map((i) => i.id).sort(), ["new", "other"]);
  });

  it("hands out live instances round-robin, pinging each first", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", options);
    const a = { alive: true, pings: 0 };
    const b = { alive: true, pings: 0 };
    r.announce("a", fakeProxy("A", a));
    r.announce("b", fakeProxy("B", b));
    const picked = [];
    for (let i = 0; i < 4; i++) picked.push(String(await r.pick()));
    assert.deepEqual(picked, ["A", "B", "A", "B"]);
    assert.equal(a.pings + b.pings, 4);
  });

  it("callOne: the call is the liveness check (no ping), a failing instance is removed and the next tried", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", options);
    const a = { alive: false, pings: 0 };
    const b = { alive: true, pings: 0 };
    r.announce("a", fakeProxy("A", a));
    r.announce("b", fakeProxy("B", b));
    const called: string[] = [];
    const call = async (p: Ice.ObjectPrx) => {
      called.push(String(p));
      if (String(p) === "A" && !a.alive) throw new Ice.ConnectionRefusedException();
      return `answer of ${String(p)}`;
    };
    assert.equal(await r.callOne(call), "answer of B");
    assert.deepEqual(called, ["A", "B"]);
    assert.equal(a.pings + b.pings, 0);
    assert.deepEqual(r.list().map((i) => i.id), ["b"]);
    b.alive = false;
    assert.equal(await r.callOne(async () => { throw new Ice.ConnectionRefusedException(); }), NO_ANSWER);
    assert.equal(r.size, 0);
    r.announce("c", fakeProxy("C", b));
    await assert.rejects(r.callOne(async () => { throw new TypeError("a bug, not an Ice failure"); }), TypeError);
    assert.equal(r.size, 1, "a non-Ice failure does not remove the instance");
  });

  it("removes a dead instance and tries every candidate before giving up", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", options);
    const a = { alive: false, pings: 0 };
    const b = { alive: true, pings: 0 };
    r.announce("a", fakeProxy("A", a));
    r.announce("b", fakeProxy("B", b));
    const removed: string[] = [];
    r.on("removed", (i) => removed.push(i.id));
    assert.equal(String(await r.pick()), "B");
    assert.deepEqual(removed, ["a"]);
    b.alive = false;
    assert.equal(await r.pick(), undefined);
    assert.equal(r.size, 0);
  });

  it("sweep pings only silent instances and removes only those that fail", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", { ...options, silentAfterMs: 1000 });
    const quietAlive = { alive: true, pings: 0 };
    const quietDead = { alive: false, pings: 0 };
    const recent = { alive: false, pings: 0 };
    r.announce("quiet-alive", fakeProxy("QA", quietAlive), 0);
    r.announce("quiet-dead", fakeProxy("QD", quietDead), 0);
    r.announce("recent", fakeProxy("R", recent), 5000);
    await r.sweep(5500);
    assert.deepEqual(r.list().map((i) => i.id).sort(), ["quiet-alive", "recent"]);
    assert.equal(recent.pings, 0);
    assert.equal(quietAlive.pings, 1);
  });

  it("an instance removed for not answering is re-pinged by sweep() for a while and comes back when it answers", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", { ...options, silentAfterMs: 1000 });
    const cut = { alive: true, pings: 0 };
    r.announce("cut", fakeProxy("C", cut), 0);
    const added: string[] = [];
    r.on("added", (i) => added.push(i.id));
    cut.alive = false; // the link goes down
    await r.sweep(1500); // silent and not answering: removed
    assert.equal(r.size, 0);
    await r.sweep(2000); // still down: stays out
    assert.equal(r.size, 0);
    cut.alive = true; // the link heals, its announcements have not come through yet
    await r.sweep(2500);
    assert.deepEqual(r.list().map((i) => i.id), ["cut"], "registered again by the sweep's ping");
    assert.deepEqual(added, ["cut"]);
  });

  it("a lost instance is forgotten after the recheck window, or when its endpoint serves another id", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", { ...options, silentAfterMs: 1000 });
    const old = { alive: true, pings: 0 };
    r.announce("old", fakeProxy("O", old), 0);
    old.alive = false;
    await r.sweep(1000);
    old.alive = true;
    await r.sweep(1000 + LOST_RECHECK_PERIODS * 1000 + 1); // too late
    assert.equal(r.size, 0);

    const slot = { alive: false, pings: 0 };
    r.announce("before-restart", fakeProxy("S", slot), 0);
    await r.sweep(1000);
    slot.alive = true;
    r.announce("after-restart", fakeProxy("S", slot), 1100); // the restarted process, new id, same endpoint
    await r.sweep(1200);
    assert.deepEqual(r.list().map((i) => i.id), ["after-restart"], "the old id does not come back on the new process");
  });
});

describe("ServiceRegistry warm-up", () => {
  it("pick() on an empty registry waits, during the warm-up, for the first instance announced", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", { ...options, warmUpMs: 5000 });
    const s = { alive: true, pings: 0 };
    const t0 = Date.now();
    setTimeout(() => r.announce("a", fakeProxy("A", s)), 100);
    assert.equal(String(await r.pick()), "A");
    assert.ok(Date.now() - t0 < 2000, "it returned when the instance was announced, not at the end of the warm-up");
  });

  it("pick() resolves undefined once the warm-up ends with no live instance", async () => {
    const r = new ServiceRegistry<Ice.ObjectPrx>("auth", { ...options, warmUpMs: 300 });
    r.announce("dead", fakeProxy("D", { alive: false, pings: 0 }));
    const t0 = Date.now();
    assert.equal(await r.pick(), undefined);
    assert.ok(Date.now() - t0 >= 250, "waited for the warm-up");
    const after = Date.now();
    assert.equal(await r.pick(), undefined);
    assert.ok(Date.now() - after < 100, "after the warm-up, no wait");
  });
});
