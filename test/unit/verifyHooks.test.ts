/** verify's operator commands (exit status, masked output, time limit with the process group) and its event log waits. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runHook } from "../../src/verify/hooks.js";
import { EventLog } from "../../src/verify/events.js";
import { CheckFailed } from "../../src/verify/types.js";
import { readFileSync } from "node:fs";

/** Running (a killed process whose new parent has not reaped it yet is a zombie: not running). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("verify operator commands", () => {
  it("runs with the parameters in its environment and resolves on exit 0", async () => {
    const r = await runHook("add-user", 'echo "adding $ICEFLIX_VERIFY_USER"', { ICEFLIX_VERIFY_USER: "u1" });
    assert.equal(r.tail, "adding u1");
    assert.ok(r.ms >= 0);
  });

  it("a failing command fails the check with its status and last line, credentials masked", async () => {
    const err = await runHook("add-user", 'echo "bad hash $H" >&2; exit 3', { H: "s3cr3t" }, ["s3cr3t"]).then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CheckFailed);
    assert.equal(err.message, "the add-user command exited 3");
    assert.match(err.evidence, /-> bad hash <masked>$/);
    assert.doesNotMatch(err.evidence, /s3cr3t/);
  });

  it("a command over its time limit is killed with what it started", async () => {
    const t0 = Date.now();
    const err = await runHook("stop-services", "sleep 30 & echo $! ; wait", {}, [], 500).then(
      () => assert.fail("resolved"),
      (e: unknown) => e as CheckFailed,
    );
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    assert.match(err.message, /the stop-services command was killed \(SIGKILL, after 0.5 s\)/);
    const sleeper = Number(/-> (\d+)$/.exec(err.evidence)?.[1]);
    assert.ok(sleeper > 0, err.evidence);
    for (let i = 0; i < 50 && running(sleeper); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(running(sleeper), false, "the command's child was killed too");
  });
});

describe("verify event log", () => {
  it("waitFor finds an event already there or one arriving later, and gives up at the timeout", async () => {
    const log = new EventLog<string>();
    log.push("a");
    assert.equal((await log.waitFor((e) => e === "a", 0))?.event, "a");
    const later = log.waitFor((e) => e === "b", 2000);
    setTimeout(() => log.push("b"), 20);
    assert.equal((await later)?.event, "b");
    const t0 = Date.now();
    assert.equal(await log.waitFor((e) => e === "never", 100), undefined);
    assert.ok(Date.now() - t0 >= 90);
  });
});
