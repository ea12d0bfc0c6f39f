/**
 * The provider's memory of tokens confirmed moments ago (issue 15: getStream then getSDP ask the
 * Authenticator once): it lasts at most the window and the token's expiry, a revoke drops it,
 * and a revoke that overlaps a check keeps the answer from being remembered.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfirmedTokens } from "../../src/services/streaming/confirmedTokens.js";
import { StreamAuth } from "../../src/services/streaming/streamAuth.js";
import type { TokenValidator } from "../../src/runtime/tokenValidator.js";
import type { TokenCodec } from "../../src/services/authenticator/tokens.js";

describe("ConfirmedTokens", () => {
  it("holds a confirmation for the window only, never past the token's expiry", () => {
    const c = new ConfirmedTokens(1000, 8);
    c.confirm("t", undefined, 0);
    assert.equal(c.has("t", 999), true);
    assert.equal(c.has("t", 1000), false);
    c.confirm("u", 500, 0);
    assert.equal(c.has("u", 499), true);
    assert.equal(c.has("u", 500), false);
  });

  it("forgets a revoked token and stays within its capacity (oldest first)", () => {
    const c = new ConfirmedTokens(1000, 2);
    c.confirm("a", undefined, 0);
    c.forget("a");
    assert.equal(c.has("a", 1), false);
    for (const t of ["a", "b", "c"]) c.confirm(t, undefined, 0);
    assert.equal(c.size, 2);
    assert.equal(c.has("a", 1), false);
    assert.equal(c.has("c", 1), true);
  });
});

describe("StreamAuth confirmations", () => {
  const codec = { decode: () => undefined } as unknown as TokenCodec;

  function counting(answer: () => Promise<boolean>) {
    const v = { calls: 0, isValid: (_t: string) => (v.calls++, answer()) };
    return v;
  }

  it("asks once for two checks in a row, again after a revoke", async () => {
    const v = counting(async () => true);
    const auth = new StreamAuth(v as unknown as TokenValidator, codec);
    await auth.authorize("tok");
    await auth.authorize("tok");
    assert.equal(v.calls, 1);
    auth.tokenRevoked("tok");
    await auth.authorize("tok");
    assert.equal(v.calls, 2);
    await auth.isValid("tok");
    assert.equal(v.calls, 3, "isValid (the running streams' checks) always asks");
  });

  it("does not remember an answer when a revoke arrived while it was asked", async () => {
    let release!: (ok: boolean) => void;
    const v = counting(() => new Promise<boolean>((r) => (release = r)));
    const auth = new StreamAuth(v as unknown as TokenValidator, codec);
    const first = auth.authorize("tok");
    auth.tokenRevoked("tok");
    release(true);
    await first;
    const second = auth.authorize("tok");
    assert.equal(v.calls, 2);
    release(false);
    await assert.rejects(second);
  });
});
