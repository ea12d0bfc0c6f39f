import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ice } from "../../src/slice/index.js";
import { callDroppingStuckConnection, isStuckTimeout } from "../../src/runtime/staleConnection.js";

/** A proxy stand-in whose connection records how it was closed. */
function fakeProxy() {
  const closed: unknown[] = [];
  const connection = { close: (mode: unknown) => (closed.push(mode), Promise.resolve()) };
  const proxy = { ice_getCachedConnection: () => null, ice_getConnection: () => Promise.resolve(connection) } as unknown as Ice.ObjectPrx;
  return { proxy, closed };
}

describe("callDroppingStuckConnection", () => {
  it("closes the connection of a call that timed out, forcefully, and rethrows", async () => {
    for (const e of [new Ice.InvocationTimeoutException(), new Ice.TimeoutException(), new Ice.ConnectionTimeoutException()]) {
      const { proxy, closed } = fakeProxy();
      assert.equal(isStuckTimeout(e), true);
      await assert.rejects(callDroppingStuckConnection(proxy, () => Promise.reject(e)), (x) => x === e);
      assert.deepEqual(closed, [Ice.ConnectionClose.Forcefully], e.ice_id());
    }
  });

  it("leaves the connection alone after other failures and after success", async () => {
    for (const e of [new Ice.ConnectTimeoutException(), new Ice.ConnectionRefusedException(), new Ice.ConnectionLostException(), new Error("x")]) {
      const { proxy, closed } = fakeProxy();
      await assert.rejects(callDroppingStuckConnection(proxy, () => Promise.reject(e)));
      assert.deepEqual(closed, [], String(e));
    }
    const { proxy, closed } = fakeProxy();
    assert.equal(await callDroppingStuckConnection(proxy, () => Promise.resolve(42)), 42);
    assert.deepEqual(closed, []);
  });

  it("uses the proxy's cached connection when it has one", async () => {
    const closed: unknown[] = [];
    const cached = { close: (mode: unknown) => (closed.push(mode), Promise.resolve()) };
    const proxy = {
      ice_getCachedConnection: () => cached,
      ice_getConnection: () => Promise.reject(new Error("not called when a connection is cached")),
    } as unknown as Ice.ObjectPrx;
    await assert.rejects(callDroppingStuckConnection(proxy, () => Promise.reject(new Ice.InvocationTimeoutException())));
    assert.deepEqual(closed, [Ice.ConnectionClose.Forcefully]);
  });
});
