/**
 * The Node server transport (src/ice-server) against hostile and heavy peers, over real sockets,
 * with the contract echo server (test/helpers/contractServer.ts) in its own process.
 *
 * Raw peers speak Ice 1.0 through test/helpers/iceFrames.ts; "a normal call" is made with the npm
 * `ice` client so a real Ice runtime vouches for the server after each ordeal. Every server
 * process is stopped in a finally (and, as a net, in after()).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { rssBytes, startContractServer, type ReadyProcess } from "../helpers/processes.js";
import {
  connectRaw,
  connectValidated,
  fuzzPort,
  header,
  isAuthorizedFrame,
  MessageType,
  pick,
  pingFrame,
  randInt,
  replyBool,
  ReplyStatus,
  requestFrame,
  iceString,
  tcpAddress,
  type ValidConnectionReader,
} from "../helpers/iceFrames.js";

type Server = ReadyProcess<{ endpoints: string; pid: number }> & { host: string; port: number; pid: number };

const started = new Set<Server>();
const openReaders = new Set<ValidConnectionReader>();

async function startServer(args: string[] = []): Promise<Server> {
  const proc = await startContractServer(args);
  const server = Object.assign(proc, { ...tcpAddress(proc.ready.endpoints), pid: proc.ready.pid });
  started.add(server);
  return server;
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  started.delete(server);
  await server.stop(3000);
}

/**
 * fuzzPort on the contract server: mutated isAuthorized / ice_ping / getTile requests, a valid
 * isAuthorized first on some connections, the probe on "catalog".
 */
function fuzz(server: Server, seed: number, total: number, concurrency: number) {
  return fuzzPort(
    {
      host: server.host,
      port: server.port,
      identity: "catalog",
      validFirst: isAuthorizedFrame(1, "auth", "ok"),
      frames: [
        (rng) => isAuthorizedFrame(randInt(rng, 1, 1000), pick(rng, ["auth", "slow", "catalog", "nobody"]), pick(rng, ["ok", "1", ""])),
        (rng) => pingFrame(randInt(rng, 0, 1000), pick(rng, ["catalog", "auth", ""])),
        (rng) => requestFrame(randInt(rng, 1, 1000), "catalog", "getTile", iceString("x".repeat(randInt(rng, 0, 300)))),
      ],
    },
    seed,
    total,
    concurrency,
  );
}

function isAlive(server: Server): boolean {
  const p = server.child.process;
  if (p.exitCode !== null || p.signalCode !== null) return false;
  try {
    process.kill(server.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Tracks a raw connection so after() can destroy it if a test fails midway. */
function track(reader: ValidConnectionReader): ValidConnectionReader {
  openReaders.add(reader);
  void reader.closed.then(() => openReaders.delete(reader));
  return reader;
}

async function validated(server: Server, timeoutMs = 5000): Promise<ValidConnectionReader> {
  return track(await connectValidated(server.host, server.port, timeoutMs));
}

/** isAuthorized("ok") on `auth` through a raw connection; asserts an Ok reply carrying true. */
async function rawAuthCall(reader: ValidConnectionReader, requestId: number, timeoutMs = 5000): Promise<void> {
  const reply = await reader.call(requestId, isAuthorizedFrame(requestId, "auth", "ok"), timeoutMs);
  assert.equal(reply.requestId, requestId);
  assert.equal(reply.status, ReplyStatus.Ok);
  assert.equal(replyBool(reply), true);
}

/** A normal call with the npm `ice` client: a fresh communicator, isAuthorized + ice_ping. */
async function normalCall(server: Server): Promise<void> {
  const init = new Ice.InitializationData();
  init.properties = Ice.createProperties();
  init.properties.setProperty("Ice.Default.InvocationTimeout", "5000");
  init.properties.setProperty("Ice.Override.ConnectTimeout", "3000");
  const communicator = Ice.initialize(init);
  try {
    const auth = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(`auth:${server.ready.endpoints}`));
    assert.equal(await auth.isAuthorized("ok"), true);
    await communicator.stringToProxy(`catalog:${server.ready.endpoints}`).ice_ping();
  } finally {
    await communicator.destroy();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

after(async () => {
  for (const r of openReaders) r.socket.destroy();
  await Promise.all([...started].map((s) => stopServer(s)));
});

describe("server transport robustness", () => {
  let shared: Server | undefined;

  before(async () => {
    shared = await startServer();
  });

  after(async () => {
    await stopServer(shared);
  });

  it("serves 200 concurrent raw connections, each with isAuthorized and ice_ping", async () => {
    const server = shared!;
    const t0 = Date.now();
    const readers = await Promise.all(Array.from({ length: 200 }, () => validated(server, 10_000)));
    const connectedMs = Date.now() - t0;
    try {
      const results = await Promise.allSettled(
        readers.map(async (r, i) => {
          const [auth, ping] = await Promise.all([
            r.call(1, isAuthorizedFrame(1, "auth", i % 2 ? "ok" : "nope"), 10_000),
            r.call(2, pingFrame(2, "catalog"), 10_000),
          ]);
          assert.equal(auth.status, ReplyStatus.Ok);
          assert.equal(replyBool(auth), i % 2 === 1);
          assert.equal(ping.status, ReplyStatus.Ok);
          assert.equal(ping.requestId, 2);
        }),
      );
      const failed = results.filter((r) => r.status === "rejected");
      assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((f) => (f as PromiseRejectedResult).reason).join("; ")}`);
      assert.ok(readers.every((r) => !r.isClosed), "no connection was closed by the server");
      console.log(`# 200 raw connections: validated in ${connectedMs} ms, 400 calls done at ${Date.now() - t0} ms`);
    } finally {
      for (const r of readers) r.socket.destroy();
    }
  });

  it("serves 200 concurrent npm Ice clients (one communicator each)", async () => {
    const server = shared!;
    const t0 = Date.now();
    const communicators = Array.from({ length: 200 }, () => {
      const init = new Ice.InitializationData();
      init.properties = Ice.createProperties();
      init.properties.setProperty("Ice.Default.InvocationTimeout", "15000");
      return Ice.initialize(init);
    });
    try {
      const results = await Promise.allSettled(
        communicators.map(async (c) => {
          const auth = IceFlix.AuthenticatorPrx.uncheckedCast(c.stringToProxy(`auth:${server.ready.endpoints}`));
          return auth.isAuthorized("ok");
        }),
      );
      const failed = results.filter((r) => r.status === "rejected");
      assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((f) => String((f as PromiseRejectedResult).reason)).join("; ")}`);
      assert.ok(results.every((r) => r.status === "fulfilled" && r.value === true));
      console.log(`# 200 Ice communicators: all answered in ${Date.now() - t0} ms`);
    } finally {
      await Promise.all(communicators.map((c) => c.destroy()));
    }
  });

  it("answers an exception it cannot marshal (lone surrogate) with an error, and stays up", async () => {
    const server = shared!;
    const communicator = Ice.initialize();
    try {
      const catalog = IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(`catalog:${server.ready.endpoints}`));
      const error = await catalog.getTile("unmarshallable").then(
        () => undefined,
        (e: unknown) => e,
      );
      // The mapped failure (InternalError, not declared by getTile) reaches an Ice client this way.
      assert.ok(error instanceof Ice.UnknownUserException, `got ${String(error)}`);
      assert.match(error.unknown, /InternalError/);
      assert.equal((await catalog.getTile("m1")).id, "m1");
    } finally {
      await communicator.destroy();
    }
  });

  it("survives clients that disconnect in the middle of a call", async () => {
    const server = shared!;
    // 30 peers each send slow isAuthorized("1000") and leave at once, three ways.
    const peers = await Promise.all(Array.from({ length: 30 }, () => validated(server)));
    peers.forEach((p, i) => {
      p.socket.write(isAuthorizedFrame(7, "slow", "1000"));
      if (i % 3 === 0) p.socket.destroy(); // RST-ish: gone with the request in flight
      else if (i % 3 === 1) p.socket.end(); // FIN after the request: half-closed
      else setTimeout(() => p.socket.destroy(), 300); // gone while the servant sleeps
    });
    // The servants finish after ~1 s and try to reply to sockets that are gone.
    await sleep(1500);
    assert.ok(isAlive(server), "server process is alive");
    const fresh = await validated(server);
    try {
      await rawAuthCall(fresh, 1);
      const slow = await fresh.call(2, isAuthorizedFrame(2, "slow", "50"));
      assert.equal(slow.status, ReplyStatus.Ok);
    } finally {
      fresh.socket.destroy();
    }
    await normalCall(server);
    assert.ok(isAlive(server), "server process is still alive");
  });

  it("closes only the offending connection on a compressed frame, a huge or negative size field", async () => {
    const server = shared!;
    const good = await Promise.all(Array.from({ length: 5 }, () => validated(server)));
    try {
      const offenders: Array<[string, Buffer]> = [
        ["compressed (flag 2)", requestFrame(9, "auth", "isAuthorized", iceString("ok"), { compress: 2 })],
        ["size 0x7fffffff", header(MessageType.Request, 0, { totalSize: 0x7fffffff })],
        ["size 64 MiB", Buffer.concat([header(MessageType.Request, 0, { totalSize: 64 << 20 }), Buffer.alloc(1024)])],
        ["size -1", header(MessageType.Request, 0, { totalSize: -1 })],
      ];
      let requestId = 100;
      for (const [what, frame] of offenders) {
        const bad = await validated(server);
        const t0 = Date.now();
        bad.socket.write(frame);
        assert.equal(await bad.closedWithin(3000), true, `${what}: the offending connection is closed`);
        assert.equal(bad.messages.filter((m) => m.type === MessageType.Reply).length, 0, `${what}: no reply`);
        const closedMs = Date.now() - t0;
        for (const g of good) await rawAuthCall(g, requestId++);
        assert.ok(good.every((g) => !g.isClosed), `${what}: the other connections stay open`);
        console.log(`# ${what}: closed after ${closedMs} ms, 5 other connections unaffected`);
      }
      await normalCall(server);
    } finally {
      for (const g of good) g.socket.destroy();
    }
  });

  it("answers every call of a peer that pipelines 5,000 slow calls and 3,000 slow oneways on one connection", async () => {
    // More requests pending than a connection may hold (MaxPendingRequests, 1000 by default):
    // reading pauses and must resume by itself, also when only oneway dispatches drain.
    const server = shared!;
    const peer = await validated(server);
    try {
      const t0 = Date.now();
      const frames: Buffer[] = [];
      for (let i = 0; i < 3000; i++) frames.push(isAuthorizedFrame(0, "slow", "300")); // oneway
      const replies: Array<Promise<unknown>> = [];
      for (let id = 1; id <= 5000; id++) {
        frames.push(isAuthorizedFrame(id, "slow", "200"));
        replies.push(peer.reply(id, 30_000));
      }
      peer.socket.write(Buffer.concat(frames));
      const results = await Promise.allSettled(replies);
      const failed = results.filter((r) => r.status === "rejected").length;
      assert.equal(failed, 0, `${failed} of 5000 pipelined calls got no reply`);
      assert.ok(!peer.isClosed);
      await rawAuthCall(peer, 9999);
      console.log(`# 3,000 slow oneways + 5,000 pipelined slow calls on one connection: all answered in ${Date.now() - t0} ms`);
    } finally {
      peer.socket.destroy();
    }
  });

  it("survives 10,000 random and malformed frames with bounded memory", async () => {
    const server = await startServer();
    try {
      // Warm-up with the same kinds of traffic so the heap has reached its working size.
      await fuzz(server, 0x5eed_0001, 2000, 64);
      const warm = await validated(server);
      for (let i = 1; i <= 2000; i++) warm.socket.write(isAuthorizedFrame(i, "auth", "ok"));
      await warm.reply(2000, 10_000);
      warm.socket.destroy();
      await sleep(500);
      const rssBefore = await rssBytes(server.pid);

      const t0 = Date.now();
      const stats = await fuzz(server, 0x1ce_f11c, 10_000, 64);
      const elapsed = Date.now() - t0;
      await sleep(500);
      const rssAfter = await rssBytes(server.pid);

      assert.ok(isAlive(server), "server process is alive");
      assert.equal(stats.frames, 10_000);
      assert.equal(stats.connectFailures, 0, "every connection was accepted (server never stopped listening)");
      assert.ok(elapsed < 60_000, `fuzzing took ${elapsed} ms`);
      const probe = await validated(server);
      try {
        await rawAuthCall(probe, 1);
      } finally {
        probe.socket.destroy();
      }
      await normalCall(server);
      const growth = rssAfter - rssBefore;
      console.log(
        `# fuzz: ${stats.frames} malformed frames over ${stats.connections} connections in ${elapsed} ms; ` +
          `server closed ${stats.closedByServer}, probe answered on ${stats.probeAnswered}, idle ${stats.idle}; ` +
          `RSS ${mb(rssBefore)} -> ${mb(rssAfter)} MB; per mutator ${JSON.stringify(stats.perMutator)}`,
      );
      assert.ok(growth < 50 * 1024 * 1024, `RSS grew by ${mb(growth)} MB (${mb(rssBefore)} -> ${mb(rssAfter)} MB)`);
    } finally {
      await stopServer(server);
    }
  });

  it("closes a silent or half-header peer when Ice.ACM.Server.Timeout=2, and keeps an active one", async () => {
    const server = await startServer(["--Ice.ACM.Server.Timeout=2"]);
    try {
      const silent = track(await connectRaw(server.host, server.port));
      const halfHeader = track(await connectRaw(server.host, server.port));
      halfHeader.socket.write(pingFrame(1, "catalog").subarray(0, 7));
      const active = await validated(server);
      const t0 = Date.now();
      let calls = 0;
      const ticker = setInterval(() => void rawAuthCall(active, ++calls).catch(() => undefined), 400);
      try {
        const [silentClosed, halfClosed] = await Promise.all([silent.closedWithin(10_000), halfHeader.closedWithin(10_000)]);
        const silentMs = silent.isClosed ? (await silent.closed).at - t0 : -1;
        const halfMs = halfHeader.isClosed ? (await halfHeader.closed).at - t0 : -1;
        assert.equal(silentClosed, true, "the silent peer is closed within 10 s");
        assert.equal(halfClosed, true, "the half-header peer is closed within 10 s");
        assert.ok(silent.sawCloseConnection, "the server said CloseConnection first");
        assert.equal(active.isClosed, false, "a peer that keeps calling stays connected");
        await rawAuthCall(active, 10_000);
        console.log(`# ACM 2 s: silent peer closed after ${silentMs} ms, half-header peer after ${halfMs} ms; active peer made ${calls} calls`);
      } finally {
        clearInterval(ticker);
        active.socket.destroy();
        silent.socket.destroy();
        halfHeader.socket.destroy();
      }
    } finally {
      await stopServer(server);
    }
  });

  it("closes a peer that stalls in the middle of a message after the endpoint timeout (-t 2000)", async () => {
    const server = await startServer(["--TestAdapter.Endpoints=tcp -h 127.0.0.1 -p 0 -t 2000"]);
    try {
      const stalled = await validated(server);
      const frame = isAuthorizedFrame(1, "auth", "ok");
      const t0 = Date.now();
      stalled.socket.write(frame.subarray(0, frame.length - 3)); // header and most of the body
      assert.equal(await stalled.closedWithin(10_000), true, "the stalled peer is closed within 10 s");
      console.log(`# body stall with -t 2000: closed after ${(await stalled.closed).at - t0} ms`);
      await normalCall(server);
    } finally {
      await stopServer(server);
    }
  });

  it("enforces MaxConnections=20: later connections are closed at once, the first 20 keep working", async () => {
    const server = await startServer(["--TestAdapter.MaxConnections=20"]);
    const first: ValidConnectionReader[] = [];
    const extra: ValidConnectionReader[] = [];
    try {
      for (let i = 0; i < 20; i++) first.push(await validated(server));
      for (let i = 0; i < 10; i++) extra.push(track(await connectRaw(server.host, server.port)));
      const t0 = Date.now();
      const closed = await Promise.all(extra.map((r) => r.closedWithin(2000)));
      assert.ok(closed.every(Boolean), `connections 21-30 closed: ${closed.filter(Boolean).length}/10`);
      assert.ok(extra.every((r) => !r.isValidated), "connections over the cap never got ValidateConnection");
      const rejectMs = Date.now() - t0;
      await Promise.all(first.map((r, i) => rawAuthCall(r, i + 1)));
      assert.ok(first.every((r) => !r.isClosed), "the first 20 stay open");

      // A freed slot can be used again.
      first.pop()!.socket.destroy();
      let replacement: ValidConnectionReader | undefined;
      for (let attempt = 0; attempt < 20 && !replacement; attempt++) {
        await sleep(100);
        replacement = await validated(server, 1000).catch(() => undefined);
      }
      assert.ok(replacement, "a slot freed by a closed connection is reused");
      await rawAuthCall(replacement, 1);
      replacement.socket.destroy();
      console.log(`# cap 20: 10 extra connections closed within ${rejectMs} ms; 20 kept working; freed slot reused`);
    } finally {
      for (const r of [...first, ...extra]) r.socket.destroy();
      await stopServer(server);
    }
  });

  it("applies backpressure to a peer that floods requests and never reads replies", async () => {
    const server = await startServer();
    const readers: ValidConnectionReader[] = [];
    try {
      const other = await validated(server);
      readers.push(other);
      // Warm-up: the same requests, replies read, so the heap reaches its working size.
      for (let round = 0; round < 5; round++) {
        for (let i = 1; i <= 5000; i++) other.socket.write(isAuthorizedFrame(round * 5000 + i, "auth", "ok"));
        await other.reply(round * 5000 + 5000, 15_000);
      }
      await sleep(300);
      const rssBefore = await rssBytes(server.pid);

      const flood = await validated(server);
      readers.push(flood);
      flood.socket.pause(); // never read: the server's replies pile up on its side
      const frames: Buffer[] = [];
      let id = 1;
      for (let len = 0; len < 1 << 20; id++) {
        const f = isAuthorizedFrame(id, "auth", "ok");
        frames.push(f);
        len += f.length;
      }
      const chunk = Buffer.concat(frames); // ~1 MiB, ~21,000 requests
      const accepted = () => flood.socket.bytesWritten - flood.socket.writableLength;

      // Flood for at least 8 s and until the server has taken no bytes from the peer for 3 s
      // (backpressure engaged), at most 20 s; meanwhile another client calls every 500 ms. The
      // minimum matters: without flow control the server also stops reading for seconds while it
      // chews through its 4 MiB read buffer, queueing replies all the while.
      const MIN_FLOOD_MS = 8000;
      const MAX_FLOOD_MS = 20_000;
      const STEADY_SAMPLES = 7; // 7 samples 500 ms apart = 3 s
      const t0 = Date.now();
      let offered = 0;
      let flooding = true;
      const writer = (async () => {
        while (flooding && !flood.isClosed) {
          if (flood.socket.writableLength < 4 << 20) {
            flood.socket.write(chunk);
            offered += chunk.length;
          } else {
            await sleep(20);
          }
        }
      })();
      let otherId = 1_000_000;
      let maxLatency = 0;
      let otherCalls = 0;
      const samples: Array<{ t: number; rss: number; accepted: number }> = [];
      let steadyFrom: (typeof samples)[number] | undefined;
      try {
        while (Date.now() - t0 < MAX_FLOOD_MS && (Date.now() - t0 < MIN_FLOOD_MS || !steadyFrom)) {
          await sleep(500);
          const start = Date.now();
          await rawAuthCall(other, otherId++, 5000);
          otherCalls++;
          maxLatency = Math.max(maxLatency, Date.now() - start);
          samples.push({ t: Date.now() - t0, rss: await rssBytes(server.pid), accepted: accepted() });
          const window = samples.slice(-STEADY_SAMPLES);
          const steady = window.length === STEADY_SAMPLES && window[STEADY_SAMPLES - 1]!.accepted - window[0]!.accepted < 256 * 1024;
          steadyFrom = steady ? (steadyFrom ?? window[0]) : undefined;
        }
      } finally {
        flooding = false;
        await writer;
      }
      const maxRss = Math.max(...samples.map((s) => s.rss));
      const last = samples[samples.length - 1]!;
      console.log(
        `# backpressure: offered ${mb(offered)} MB, server took ${mb(last.accepted)} MB and then nothing more ` +
          `from ${steadyFrom?.t ?? "never"} ms; RSS before ${mb(rssBefore)} MB, max ${mb(maxRss)} MB, last ${mb(last.rss)} MB; ` +
          `other client: ${otherCalls} calls, max latency ${maxLatency} ms`,
      );
      assert.ok(steadyFrom, `the server kept reading the flooding peer for ${MAX_FLOOD_MS} ms (took ${mb(last.accepted)} MB)`);
      assert.equal(flood.isClosed, false, "the flooding peer is throttled, not dropped");
      assert.ok(otherCalls >= STEADY_SAMPLES, `the other client kept being served (${otherCalls} calls)`);
      assert.ok(maxLatency < 2000, `other client's max latency ${maxLatency} ms`);
      assert.ok(maxRss - rssBefore < 50 * 1024 * 1024, `RSS grew by ${mb(maxRss - rssBefore)} MB`);
      assert.ok(last.rss - steadyFrom.rss < 5 * 1024 * 1024, `RSS still growing while throttled: ${mb(steadyFrom.rss)} -> ${mb(last.rss)} MB`);

      flood.socket.destroy();
      await sleep(300);
      await rawAuthCall(other, 42, 5000);
      await normalCall(server);
      assert.ok(isAlive(server));
    } finally {
      for (const r of readers) r.socket.destroy();
      await stopServer(server);
    }
  });
});
