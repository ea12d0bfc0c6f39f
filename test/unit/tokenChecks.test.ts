/**
 * The memory behind repeated token checks (issue 19): verified tokens are remembered until they
 * expire and within a bound; the SQLite users store keeps password-change stamps in memory but
 * sees another connection's commit in the next event-loop task.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTask } from "node:timers/promises";
import { VerifiedTokens } from "../../src/services/authenticator/verifiedTokens.js";
import { SqliteUserRecordStore } from "../../src/services/authenticator/sqliteUserRecordStore.js";
import { oncePerTurn } from "../../src/runtime/oncePerTurn.js";

const claims = (expiresAt: number) => ({ user: "u", issuedAt: 0, expiresAt, nonce: "0".repeat(32) });
const credential = { salt: Buffer.alloc(16), key: Buffer.alloc(32), kdf: "scrypt$test" };

describe("VerifiedTokens", () => {
  it("answers a remembered token until its expiry, then forgets it", () => {
    const v = new VerifiedTokens();
    v.add("t", claims(1000), 0);
    assert.equal(v.get("t", 999)?.expiresAt, 1000);
    assert.equal(v.get("t", 1000), undefined);
    assert.equal(v.size, 0);
  });

  it("never remembers an expired token, and sweep drops the expired ones", () => {
    const v = new VerifiedTokens();
    v.add("old", claims(10), 10);
    v.add("a", claims(20), 0);
    v.add("b", claims(40), 0);
    assert.equal(v.size, 2);
    v.sweep(20);
    assert.equal(v.size, 1);
    assert.equal(v.get("b", 20)?.expiresAt, 40);
  });

  it("holds at most its capacity, dropping the oldest first", () => {
    const v = new VerifiedTokens(3);
    for (const t of ["a", "b", "c", "d"]) v.add(t, claims(100), 0);
    assert.equal(v.size, 3);
    assert.equal(v.get("a", 0), undefined);
    assert.ok(v.get("d", 0));
  });
});

describe("oncePerTurn", () => {
  it("runs the check once per task and again in the next one", async () => {
    let runs = 0;
    const check = oncePerTurn(() => runs++);
    check();
    check();
    assert.equal(runs, 1);
    await nextTask();
    check();
    assert.equal(runs, 2);
  });
});

describe("SqliteUserRecordStore stamps in memory", () => {
  it("sees a password change and a removal by another connection in the next task", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iceflix-stamps-"));
    const file = join(dir, "users.db");
    const service = SqliteUserRecordStore.open(file);
    const cli = SqliteUserRecordStore.open(file); // as `iceflix user …` in another process
    try {
      assert.ok(await cli.insert("ann", credential, 1000));
      await nextTask();
      assert.equal(service.validSince("ann"), 1000);
      assert.equal(service.validSince("bob"), undefined);
      assert.ok(await cli.updateCredential("ann", credential, 2000));
      assert.ok(await cli.insert("bob", credential, 3000));
      await nextTask();
      assert.equal(service.validSince("ann"), 2000);
      assert.equal(service.validSince("bob"), 3000);
      assert.ok(await cli.delete("ann", 4000));
      await nextTask();
      assert.equal(service.validSince("ann"), undefined);
    } finally {
      await service.close();
      await cli.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sees its own writes at once (they do not move data_version)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "iceflix-stamps-"));
    const store = SqliteUserRecordStore.open(join(dir, "users.db"));
    try {
      assert.equal(store.validSince("ann"), undefined);
      assert.ok(await store.insert("ann", credential, 1000));
      assert.equal(store.validSince("ann"), 1000);
      assert.ok(await store.updateCredential("ann", credential, 2000));
      assert.equal(store.validSince("ann"), 2000);
      assert.ok(await store.delete("ann", 3000));
      assert.equal(store.validSince("ann"), undefined);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
