import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { describe, it } from "node:test";
import { Ice } from "../../src/slice/index.js";
import { callDroppingStuckConnection, isStuckTimeout } from "../../src/runtime/staleConnection.js";

/** A proxy stand-in whose connection records how it was closed. */
function fakeProxy() {
  const closed: unknown[] = [];
  const connection = { close: (mode: unknown) => (closed.push(mode), Promise.resolve()) };
  const proxy = { ice_getCachedConnection: () => null, ice_getConnection: () => Promise.resolve(connection), ice_getEndpoints: () => [] } as unknown as Ice.ObjectPrx;
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
      ice_getEndpoints: () => [],
    } as unknown as Ice.ObjectPrx;
    await assert.rejects(callDroppingStuckConnection(proxy, () => Promise.reject(new Ice.InvocationTimeoutException())));
    assert.deepEqual(closed, [Ice.ConnectionClose.Forcefully]);
  });

  it("after a stuck call on one of several endpoints, the next calls try the others first", async () => {
    // Three TCP listeners that greet like an Ice server (a validate-connection message), so a
    // connection to each opens; which one a call gets shows in the accepts.
    const validate = Buffer.from([0x49, 0x63, 0x65, 0x50, 1, 0, 1, 0, 3, 0, 14, 0, 0, 0]);
    const accepted: number[] = [];
    const servers: Server[] = [];
    const sockets: Socket[] = [];
    for (let k = 0; k < 3; k++) {
      const server = createServer((socket) => {
        accepted.push(k);
        sockets.push(socket);
        socket.on("error", () => undefined);
        socket.write(validate);
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      servers.push(server);
    }
    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    const communicator = Ice.initialize();
    try {
      const endpoints = ports.map((p) => `tcp -h 127.0.0.1 -p ${p}`).join(":");
      const proxy = communicator.stringToProxy(`Main:${endpoints}`).ice_endpointSelection(Ice.EndpointSelectionType.Ordered);
      await assert.rejects(callDroppingStuckConnection(proxy, () => Promise.reject(new Ice.InvocationTimeoutException())));
      assert.deepEqual(accepted, [0]);
      const order = await callDroppingStuckConnection(proxy, (p) => Promise.resolve(p.ice_getEndpoints().map((e) => (e.getInfo() as Ice.IPEndpointInfo).port)));
      assert.deepEqual(order, [ports[1], ports[2], ports[0]], "the stuck endpoint last");
      assert.deepEqual(accepted, [0, 1], "the next connection went to the next endpoint");
    } finally {
      // Our listeners never answer Ice's graceful close: end their side first.
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
      await communicator.destroy();
    }
  });
});
