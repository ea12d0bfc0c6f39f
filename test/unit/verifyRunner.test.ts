/** verify's runner: check order, the slow checks run side by side after the others, results in group order. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runChecks } from "../../src/verify/runner.js";
import { CheckFailed, type Check, type CheckGroup, type VerifyContext } from "../../src/verify/types.js";

const context = (fast: boolean) => ({ fast }) as unknown as VerifyContext;

/** Resolves once `count` callers have arrived: a slow check that waits here passes only beside the others. */
function rendezvous(count: number, timeoutMs = 2000): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const all = new Promise<void>((r) => (open = r));
  return async () => {
    if (++arrived === count) open();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CheckFailed(`only ${arrived} of ${count} slow checks ran at once`)), timeoutMs)));
    try {
      await Promise.race([all, late]);
    } finally {
      clearTimeout(timer);
    }
  };
}

describe("verify runner", () => {
  it("runs the slow checks together after every other check, and reports in group order", async () => {
    const log: string[] = [];
    const meet = rendezvous(2);
    const quick = (name: string): Check => ({ name, run: async () => (log.push(name), { reason: "ok" }) });
    const slow = (name: string): Check => ({ name, slow: true, run: async () => (log.push(`${name} starts`), await meet(), log.push(`${name} ends`), { reason: "ok" }) });
    const groups: CheckGroup[] = [
      { name: "auth", checks: [quick("a1"), slow("a-slow"), quick("a2")] },
      { name: "events", checks: [slow("e-slow"), quick("e1")] },
    ];
    const seen: string[] = [];
    const { checks, summary } = await runChecks(groups, context(false), (r) => seen.push(r.name));
    assert.deepEqual(checks.map((c) => `${c.name}:${c.status}`), ["a1:pass", "a-slow:pass", "a2:pass", "e-slow:pass", "e1:pass"]);
    assert.deepEqual(log.slice(0, 3), ["a1", "a2", "e1"], "every quick check before any slow one");
    assert.deepEqual(log.slice(3, 5).sort(), ["a-slow starts", "e-slow starts"]);
    assert.deepEqual(seen.slice(0, 3), ["a1", "a2", "e1"], "results reported as they come");
    assert.deepEqual(summary, { pass: 5, fail: 0, skip: 0, total: 5, ms: summary.ms });
  });

  it("skips the slow checks with --fast, in place, and a throwing check is a failure, not an escape", async () => {
    const groups: CheckGroup[] = [
      {
        name: "auth",
        checks: [
          { name: "s", slow: true, run: async () => ({ reason: "ran" }) },
          { name: "boom", run: async () => { throw new Error("kaput"); } },
          { name: "f", run: async () => { throw new CheckFailed("wrong", "evidence"); } },
        ],
      },
    ];
    const { checks, summary } = await runChecks(groups, context(true));
    assert.deepEqual(checks.map((c) => [c.name, c.status]), [["s", "skip"], ["boom", "fail"], ["f", "fail"]]);
    assert.match(checks[1]!.reason, /unexpected error: .*kaput/);
    assert.equal(checks[2]!.evidence, "evidence");
    assert.equal(summary.fail, 2);
  });
});
