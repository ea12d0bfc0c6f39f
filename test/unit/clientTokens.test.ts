/**
 * The client's token (spec §3, §8): renewed before MainExt.tokenLifetimeSeconds runs out, after
 * Unauthorized, when a stream asks; logout forgets the hash. A fake clock drives the schedule.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CredentialsRefused, NotLoggedIn, renewalDelayMs, retryDelayMs, TokenKeeper, type Clock } from "../../src/mainlink/tokenKeeper.js";
import { withRetries } from "../../src/mainlink/retry.js";
import { Ice, IceFlix } from "../../src/slice/index.js";

class FakeClock implements Clock {
  t = 1_000_000;
  #next = 1;
  timers = new Map<number, { at: number; fn: () => void }>();
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = this.#next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(id: unknown) {
    this.timers.delete(id as number);
  }
  /** Moves time forward, firing due timers in order and letting their promises settle. */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

/** An Authenticator stand-in: numbered tokens; can refuse or fail. */
function issuer() {
  const calls: Array<{ user: string; hash: string; at?: number }> = [];
  const state = { mode: "ok" as "ok" | "refuse" | "down", n: 0 };
  const issue = async (user: string, hash: string) => {
    calls.push({ user, hash });
    if (state.mode === "refuse") throw new IceFlix.Unauthorized();
    if (state.mode === "down") throw new Ice.ConnectionRefusedException();
    return `token-${++state.n}`;
  };
  return { calls, state, issue };
}

describe("token renewal schedule", () => {
  test("renewalDelayMs: a quarter early, at most 5 s early, never below 250 ms", () => {
    assert.equal(renewalDelayMs(30), 25_000);
    assert.equal(renewalDelayMs(4), 3_000);
    assert.equal(renewalDelayMs(1), 750);
    assert.equal(renewalDelayMs(3600), 3_595_000);
    assert.equal(renewalDelayMs(0.1), 250);
    assert.equal(retryDelayMs(30), 3750);
    assert.equal(retryDelayMs(3600), 5000);
    assert.equal(retryDelayMs(1), 250);
  });

  test("renews before the lifetime runs out, again and again, with the held hash", async () => {
    const clock = new FakeClock();
    const auth = issuer();
    const renewed: string[] = [];
    const keeper = new TokenKeeper(auth.issue, clock, { renewed: (t, reason) => renewed.push(`${t}/${reason}`) });
    keeper.setLifetime(30);
    assert.equal(await keeper.login("demo", "h"), "token-1");
    assert.equal(keeper.nextRenewalAt, clock.t + 25_000);
    await clock.advance(24_999);
    assert.equal(keeper.token, "token-1");
    await clock.advance(1);
    assert.equal(keeper.token, "token-2");
    await clock.advance(25_000);
    assert.equal(keeper.token, "token-3");
    assert.deepEqual(renewed, ["token-2/schedule", "token-3/schedule"]);
    assert.equal(keeper.renewals, 2);
    assert.ok(auth.calls.every((c) => c.user === "demo" && c.hash === "h"));
  });

  test("no lifetime known (a Main that is not a MainExt): no schedule; a lifetime learned later starts one", async () => {
    const clock = new FakeClock();
    const auth = issuer();
    const keeper = new TokenKeeper(auth.issue, clock);
    await keeper.login("demo", "h");
    assert.equal(clock.timers.size, 0);
    await clock.advance(3_600_000);
    assert.equal(keeper.token, "token-1");
    keeper.setLifetime(10);
    assert.equal(keeper.nextRenewalAt, keeper.issuedAt! + 7_500);
    await clock.advance(0); // the schedule counts from issue time, which is long past
    assert.equal(keeper.token, "token-2");
  });

  test("renewal after Unauthorized or on a stream's request, one request for concurrent callers", async () => {
    const clock = new FakeClock();
    const auth = issuer();
    const reasons: string[] = [];
    const keeper = new TokenKeeper(auth.issue, clock, { renewed: (_t, r) => reasons.push(r) });
    await keeper.login("demo", "h");
    const [a, b] = await Promise.all([keeper.renew("unauthorized"), keeper.renew("unauthorized")]);
    assert.equal(a, "token-2");
    assert.equal(b, "token-2");
    assert.equal(await keeper.renew("stream"), "token-3");
    assert.deepEqual(reasons, ["unauthorized", "stream"]);
    assert.equal(auth.calls.length, 3);
  });

  test("an unreachable Authenticator: renewal retried soon, reported, token kept meanwhile", async () => {
    const clock = new FakeClock();
    const auth = issuer();
    const failures: unknown[] = [];
    const keeper = new TokenKeeper(auth.issue, clock, { renewalFailed: (e) => failures.push(e) });
    keeper.setLifetime(8);
    await keeper.login("demo", "h");
    auth.state.mode = "down";
    await clock.advance(6_000); // renewal due at 6 s
    assert.equal(failures.length, 1);
    assert.equal(keeper.token, "token-1");
    assert.equal(keeper.nextRenewalAt, clock.t + retryDelayMs(8));
    auth.state.mode = "ok";
    await clock.advance(retryDelayMs(8));
    assert.equal(keeper.token, "token-2");
    assert.equal(keeper.nextRenewalAt, clock.t + renewalDelayMs(8));
  });

  test("credentials refused on renewal (password changed): logged out, no more renewals", async () => {
    const clock = new FakeClock();
    const auth = issuer();
    const refused: string[] = [];
    const keeper = new TokenKeeper(auth.issue, clock, { credentialsRefused: (u) => refused.push(u) });
    keeper.setLifetime(4);
    await keeper.login("demo", "h");
    auth.state.mode = "refuse";
    await clock.advance(3_000);
    assert.deepEqual(refused, ["demo"]);
    assert.equal(keeper.loggedIn, false);
    assert.equal(keeper.user, undefined);
    assert.equal(clock.timers.size, 0);
    await assert.rejects(keeper.renew("unauthorized"), /not logged in/);
    auth.state.mode = "refuse";
    const k2 = new TokenKeeper(auth.issue, clock);
    await assert.rejects(k2.login("demo", "bad"), IceFlix.Unauthorized);
    assert.equal(k2.loggedIn, false);
  });

  test("an explicit renewal refused says so", async () => {
    const auth = issuer();
    const keeper = new TokenKeeper(auth.issue, new FakeClock());
    await keeper.login("demo", "h");
    auth.state.mode = "refuse";
    await assert.rejects(keeper.renew("unauthorized"), CredentialsRefused);
  });

  test("logout forgets the hash and stops the schedule; a late renewal does not bring it back", async () => {
    const clock = new FakeClock();
    let release: (t: string) => void = () => {};
    const calls: string[] = [];
    const keeper = new TokenKeeper(
      (user, hash) => {
        calls.push(`${user}:${hash}`);
        return calls.length === 1 ? Promise.resolve("token-1") : new Promise((r) => (release = r));
      },
      clock,
    );
    keeper.setLifetime(4);
    await keeper.login("demo", "h");
    await clock.advance(3_000); // renewal in flight
    keeper.logout();
    release("token-late");
    await clock.advance(60_000);
    assert.equal(keeper.token, undefined);
    assert.equal(keeper.user, undefined);
    assert.equal(clock.timers.size, 0);
    assert.deepEqual(calls, ["demo:h", "demo:h"]);
  });
});

describe("calls with the token", () => {
  test("an Unauthorized call gets a fresh token from the held hash and runs once more", async () => {
    const auth = issuer();
    const keeper = new TokenKeeper(auth.issue, new FakeClock());
    await keeper.login("demo", "h");
    const seen: string[] = [];
    const result = await keeper.withToken(async (token) => {
      seen.push(token);
      if (token === "token-1") throw new IceFlix.Unauthorized(); // e.g. revoked after a passwd
      return "done";
    });
    assert.equal(result, "done");
    assert.deepEqual(seen, ["token-1", "token-2"]);
    assert.deepEqual(auth.calls.map((c) => c.hash), ["h", "h"]);
  });

  test("a second Unauthorized is the caller's; other errors pass through without a renewal", async () => {
    const auth = issuer();
    const keeper = new TokenKeeper(auth.issue, new FakeClock());
    await keeper.login("demo", "h");
    let calls = 0;
    await assert.rejects(keeper.withToken(async () => {
      calls++;
      throw new IceFlix.Unauthorized();
    }), IceFlix.Unauthorized);
    assert.equal(calls, 2);
    await assert.rejects(keeper.withToken(async () => {
      throw new IceFlix.WrongMediaId("x");
    }), IceFlix.WrongMediaId);
    assert.equal(auth.calls.length, 2, "no renewal for other errors");
  });

  test("not logged in; credentials no longer accepted", async () => {
    const auth = issuer();
    const keeper = new TokenKeeper(auth.issue, new FakeClock());
    await assert.rejects(keeper.withToken(async () => "x"), NotLoggedIn);
    await keeper.login("demo", "h");
    auth.state.mode = "refuse";
    await assert.rejects(keeper.withToken(async () => {
      throw new IceFlix.Unauthorized();
    }), CredentialsRefused);
    assert.equal(keeper.loggedIn, false);
  });
});

describe("connection retries", () => {
  test("attempts with a pause between, then the last error", async () => {
    const pauses: number[] = [];
    const retries: number[] = [];
    let n = 0;
    await assert.rejects(
      withRetries({ attempts: 3, delayMs: 10_000 }, async () => {
        n++;
        throw new Ice.ConnectionRefusedException();
      }, { sleep: async (ms) => void pauses.push(ms), onRetry: (a) => retries.push(a) }),
      Ice.ConnectionRefusedException,
    );
    assert.equal(n, 3);
    assert.deepEqual(pauses, [10_000, 10_000]);
    assert.deepEqual(retries, [1, 2]);
  });

  test("success on a later attempt; non-transport errors are not retried", async () => {
    let n = 0;
    const v = await withRetries({ attempts: 3, delayMs: 1 }, async () => {
      if (++n < 2) throw new Ice.ConnectTimeoutException();
      return "ok";
    }, { sleep: async () => {} });
    assert.equal(v, "ok");
    assert.equal(n, 2);
    let m = 0;
    await assert.rejects(withRetries({ attempts: 3, delayMs: 1 }, async () => {
      m++;
      throw new Error("not a Main");
    }, { sleep: async () => {} }), /not a Main/);
    assert.equal(m, 1);
  });
});
