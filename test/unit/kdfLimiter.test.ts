import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KdfBusyError, KdfLimiter } from "../../src/services/authenticator/kdfLimiter.js";

/** A derivation the test finishes by hand. */
function manual() {
  const pending: Array<{ resolve: (v: string) => void; reject: (e: Error) => void; label: string }> = [];
  const start = (label: string) => () => new Promise<string>((resolve, reject) => pending.push({ resolve, reject, label }));
  return { pending, start };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("KdfLimiter", () => {
  it("runs at most `concurrency` derivations at once, the rest in arrival order", async () => {
    const limiter = new KdfLimiter({ concurrency: 2 });
    const { pending, start } = manual();
    // Observed from the start (allSettled), so the planned failure is not an unhandled rejection.
    const results = Promise.allSettled(["a", "b", "c", "d"].map((l) => limiter.run(start(l))));
    await settle();
    assert.deepEqual(pending.map((p) => p.label), ["a", "b"]);
    assert.equal(limiter.running, 2);
    assert.equal(limiter.queued, 2);
    pending.shift()!.resolve("a");
    await settle();
    assert.deepEqual(pending.map((p) => p.label), ["b", "c"], "c starts when a finishes, d still waits");
    // A failing derivation frees its slot too.
    pending.shift()!.reject(new Error("boom"));
    await settle();
    assert.deepEqual(pending.map((p) => p.label), ["c", "d"]);
    for (const p of pending.splice(0)) p.resolve(p.label);
    const outcomes = await results;
    assert.deepEqual(
      outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message)),
      ["a", "boom", "c", "d"],
    );
    assert.equal(limiter.running, 0);
    assert.equal(limiter.refused, 0);
  });

  it("refuses at once when the queue is full, without running the derivation", async () => {
    const limiter = new KdfLimiter({ concurrency: 1, maxQueued: 1 });
    const { pending, start } = manual();
    const first = limiter.run(start("first"));
    const second = limiter.run(start("second"));
    let ran = false;
    await assert.rejects(
      limiter.run(async () => {
        ran = true;
        return "third";
      }),
      KdfBusyError,
    );
    assert.equal(ran, false);
    assert.equal(limiter.refused, 1);
    pending.shift()!.resolve("first");
    await settle();
    pending.shift()!.resolve("second");
    assert.deepEqual(await Promise.all([first, second]), ["first", "second"]);
  });

  it("refuses a waiter that waited longer than maxWaitMs and serves the next one", async () => {
    let now = 0;
    const limiter = new KdfLimiter({ concurrency: 1, maxWaitMs: 1000 }, () => now);
    const { pending, start } = manual();
    const first = limiter.run(start("first"));
    const stale = limiter.run(start("stale"));
    now = 500;
    const fresh = limiter.run(start("fresh"));
    now = 1200; // stale waited 1200 ms, fresh 700 ms
    pending.shift()!.resolve("first");
    await assert.rejects(stale, KdfBusyError);
    await settle();
    assert.deepEqual(pending.map((p) => p.label), ["fresh"], "the stale derivation never ran");
    pending.shift()!.resolve("fresh");
    assert.equal(await first, "first");
    assert.equal(await fresh, "fresh");
    assert.equal(limiter.running, 0);
  });
});
