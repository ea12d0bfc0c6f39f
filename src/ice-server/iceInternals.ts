/**
 * Every touch of the npm `ice` runtime's internals lives in this module.
 *
 * The runtime (3.7.x) is client-only in Node, but its ConnectionI still holds the complete
 * server-side protocol logic (validation, request/batch parsing, dispatch through an adapter's
 * servant manager, ACM). We feed it sockets accepted by a Node `net.Server`. The internals used
 * here are checked once at load time against the version we tested, so an upgrade fails fast with
 * a clear message instead of misbehaving on the wire.
 */
import type { Socket } from "node:net";
import { Ice } from "../slice/index.js";

/** Ice.stringVersion() of the runtime releases this module was tested with (npm ice 3.7.110). */
export const TESTED_ICE_VERSIONS = ["3.7.11"] as const;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

const SocketOperationWrite = 2;

/** A ConnectionI playing the server role for one accepted socket. */
export interface IncomingConnection {
  /** The public Ice.Connection view (what servants see as current.con). */
  readonly connection: Ice.Connection;
  /** Starts validation and activation; resolves once the connection dispatches requests. */
  start(): Promise<void>;
  /** Graceful close: finish dispatches, send CloseConnection, wait for the peer (bounded by Ice). */
  closeGracefully(): void;
  /** Drops the connection at once. */
  closeForcefully(): void;
  /** Resolves when the connection is finished (socket closed, dispatches done). */
  finished(): Promise<void>;
  /** Bytes received from the socket but not yet consumed by the protocol reader. */
  queuedReadBytes(): number;
}

/** The server-side ACM monitor shared by the connections of one adapter. */
export interface ServerMonitor {
  /** Forgets finished connections (the runtime only collects them when asked). */
  reap(): void;
  destroy(): void;
}

interface Internals {
  ConnectionI: Any;
  TcpTransceiver: Any;
  FactoryACMMonitor: Any;
  ACMConfig: Any;
  Timer: Any;
  IncomingAsync: Any;
}

let cached: Internals | undefined;

/** Checks the runtime version and the internals this module relies on; throws a clear error. */
export function checkIceRuntime(): void {
  internals();
}

function internals(): Internals {
  if (cached) return cached;
  const version = Ice.stringVersion();
  if (!(TESTED_ICE_VERSIONS as readonly string[]).includes(version)) {
    throw new Error(
      `IceFlix's server transport was tested with the Ice runtime ${TESTED_ICE_VERSIONS.join(", ")} ` +
        `(npm "ice": "3.7.110"), but this process loaded Ice ${version}. ` +
        `Pin the exact version in package.json and run npm ci.`,
    );
  }
  const I = Ice as Any;
  const required: Array<[string, unknown]> = [
    ["Ice.ConnectionI", I.ConnectionI?.prototype?.message],
    ["Ice.ConnectionI.prototype.waitUntilFinished", I.ConnectionI?.prototype?.waitUntilFinished],
    ["Ice.ConnectionI.prototype.initiateShutdown", I.ConnectionI?.prototype?.initiateShutdown],
    ["Ice.TcpTransceiver.createIncoming", I.TcpTransceiver?.createIncoming],
    ["Ice.FactoryACMMonitor", I.FactoryACMMonitor?.prototype?.swapReapedConnections],
    ["Ice.ACMConfig", I.ACMConfig],
    ["Ice.Timer.setImmediate", I.Timer?.setImmediate],
    ["Ice.IncomingAsync.prototype.handleException", I.IncomingAsync?.prototype?.handleException],
  ];
  const missing = required.filter(([, v]) => typeof v !== "function").map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(`the Ice runtime ${version} lacks internals the server transport needs: ${missing.join(", ")}`);
  }
  cached = {
    ConnectionI: I.ConnectionI,
    TcpTransceiver: I.TcpTransceiver,
    FactoryACMMonitor: I.FactoryACMMonitor,
    ACMConfig: I.ACMConfig,
    Timer: I.Timer,
    IncomingAsync: I.IncomingAsync,
  };
  return cached;
}

function instanceOf(communicator: Ice.Communicator): Any {
  return (communicator as Any)._instance;
}

/** ACM settings for incoming connections: `Ice.ACM.Server.*`, then `Ice.ACM.*`, then `defaults`. */
export function createServerMonitor(
  communicator: Ice.Communicator,
  defaults: { timeoutSeconds: number; close: Ice.ACMClose; heartbeat: Ice.ACMHeartbeat },
): ServerMonitor & { native: unknown } {
  const { FactoryACMMonitor, ACMConfig } = internals();
  const instance = instanceOf(communicator);
  const props = communicator.getProperties();
  const logger = communicator.getLogger();
  const base = new ACMConfig();
  base.timeout = defaults.timeoutSeconds * 1000;
  base.close = defaults.close;
  base.heartbeat = defaults.heartbeat;
  const config = new ACMConfig(props, logger, "Ice.ACM.Server", new ACMConfig(props, logger, "Ice.ACM", base));
  const monitor = new FactoryACMMonitor(instance, config);
  return {
    native: monitor,
    reap: () => void monitor.swapReapedConnections(),
    destroy: () => monitor.destroy(),
  };
}

/** Per-connection limits of an incoming connection (see ServerAdapter for the properties). */
export interface IncomingLimits {
  /** Unparsed bytes above which the socket is no longer read. */
  readHighWaterBytes: number;
  /** Requests dispatching or with a reply waiting to be sent, above which no request is parsed. */
  maxPendingRequests: number;
  /** How long a peer gets to hang up after our CloseConnection before the socket is dropped. */
  closeTimeoutMs: number;
}

/** How often a connection held back by maxPendingRequests checks whether it may read again. */
const PENDING_POLL_MS = 10;

/**
 * Wraps an accepted socket in a server-role ConnectionI bound to `adapter`.
 * `endpoint` is the adapter's endpoint (its ProtocolInstance is the one the transceiver needs).
 */
export function createIncomingConnection(
  communicator: Ice.Communicator,
  adapter: Ice.ObjectAdapter,
  endpoint: Ice.Endpoint,
  monitor: { native: unknown },
  socket: Socket,
  limits: IncomingLimits,
): IncomingConnection {
  const { ConnectionI, TcpTransceiver, Timer } = internals();
  const { readHighWaterBytes, maxPendingRequests, closeTimeoutMs } = limits;
  const transceiver = TcpTransceiver.createIncoming((endpoint as Any)._instance, socket);
  const queuedReadBytes = (): number => {
    let total = -transceiver._readPosition;
    for (const b of transceiver._readBuffers as Buffer[]) total += b.length;
    return Math.max(0, total);
  };

  const connection = new ConnectionI(
    communicator,
    instanceOf(communicator),
    monitor.native,
    transceiver,
    endpoint,
    true,
    adapter,
  );
  if (
    typeof connection._dispatchCount !== "number" ||
    !Array.isArray(connection._sendStreams) ||
    typeof connection._readHeader !== "boolean"
  ) {
    throw new Error("the Ice runtime's ConnectionI lacks _dispatchCount/_sendStreams/_readHeader, which the server transport needs");
  }
  // Requests of this connection that are dispatching or whose reply is queued behind a blocked
  // socket (the runtime's _dispatchCount drops when a reply is queued, so both are counted).
  const pendingRequests = (): number => connection._dispatchCount + connection._sendStreams.length;

  // Flow control, which the runtime lacks. The socket is read only while both gates are open:
  // - read gate: more than readHighWaterBytes wait unparsed (closes above it, reopens below half);
  // - dispatch gate: more than maxPendingRequests requests are dispatching or have a reply queued.
  //   Without it a peer that sends requests but never reads replies makes the runtime queue one
  //   reply (~1 KB of heap each) per request without limit: 40 MB of small requests grew the
  //   server to 850 MB and stalled it. While this gate is closed the protocol reader also sees
  //   no data, so the requests already buffered are not parsed either; a short poll reopens it
  //   below half (dispatches can finish without any socket event, e.g. oneway ones). It only
  //   closes between messages (while the runtime wants a header): the runtime arms its read
  //   timeout (endpoint -t) for unfinished bodies only, so slow dispatches never trip it.
  // The socket is resumed only while the connection itself reads (not before activation/holding).
  let readGateClosed = false;
  let dispatchGateClosed = false;
  let dispatchPoll: NodeJS.Timeout | undefined;
  const updateSocketFlow = (): void => {
    if (readGateClosed || dispatchGateClosed) socket.pause();
    else if (transceiver._registered && transceiver._fd) socket.resume();
  };
  const closeDispatchGate = (): void => {
    dispatchGateClosed = true;
    updateSocketFlow();
    dispatchPoll ??= setInterval(() => {
      if (pendingRequests() > maxPendingRequests / 2) return;
      clearInterval(dispatchPoll);
      dispatchPoll = undefined;
      dispatchGateClosed = false;
      updateSocketFlow();
      // Let the connection parse what it already holds (it stopped on "no data").
      if (queuedReadBytes() > 0) transceiver._bytesAvailableCallback();
    }, PENDING_POLL_MS);
    dispatchPoll.unref();
  };
  const read = transceiver.read.bind(transceiver);
  transceiver.read = (buffer: unknown, moreData: { value: boolean }) => {
    // A socket error or close must still reach the runtime (the original read throws it).
    if (
      !transceiver._exception &&
      connection._readHeader === true &&
      (dispatchGateClosed || pendingRequests() >= maxPendingRequests)
    ) {
      if (!dispatchGateClosed) closeDispatchGate();
      moreData.value = false;
      return false; // "no data yet": the runtime stops parsing until we call it again
    }
    const done = read(buffer, moreData);
    if (readGateClosed && queuedReadBytes() < readHighWaterBytes / 2) {
      readGateClosed = false;
      updateSocketFlow();
    }
    return done;
  };

  // Close timeout, which the runtime takes from Ice.Override.CloseTimeout or else the endpoint
  // timeout (60 s): after our CloseConnection (idle close by ACM, adapter shutdown) a peer that
  // never hangs up would hold the socket that long. Drop it after closeTimeoutMs instead; a
  // well-behaved peer closes within a round trip.
  let closeTimer: NodeJS.Timeout | undefined;
  const initiateShutdown = connection.initiateShutdown.bind(connection);
  connection.initiateShutdown = () => {
    initiateShutdown();
    if (closeTimer === undefined && !socket.destroyed) {
      closeTimer = setTimeout(() => {
        if (!socket.destroyed) connection.close(Ice.ConnectionClose.Forcefully);
      }, closeTimeoutMs);
      closeTimer.unref();
    }
  };

  // Write coalescing: while more request bytes wait to be parsed (a pipelined burst), cork the
  // socket at the first reply and uncork on the next turn, so the burst's replies leave in one
  // writev instead of one syscall each (a profile under load showed ~half the server's time in
  // per-reply writes). A lone request is written at once: no latency added.
  const write = transceiver.write.bind(transceiver);
  transceiver.write = (byteBuffer: unknown) => {
    if (socket.writableCorked === 0 && transceiver._readBuffers.length > 0 && !socket.destroyed) {
      socket.cork();
      setImmediate(() => socket.uncork());
    }
    return write(byteBuffer);
  };

  // Same wiring as the runtime's outgoing sockets: close/error are deferred so they never run
  // inside a write() call (see the runtime's TcpTransceiver).
  socket.on("data", (buf: Buffer) => {
    transceiver.socketBytesAvailable(buf);
    if (!readGateClosed && queuedReadBytes() > readHighWaterBytes) {
      readGateClosed = true;
      updateSocketFlow();
    }
  });
  socket.on("close", (hadError: boolean) => {
    clearTimeout(closeTimer);
    clearInterval(dispatchPoll);
    Timer.setImmediate(() => transceiver.socketClosed(hadError));
  });
  socket.on("error", (err: Error) => Timer.setImmediate(() => transceiver.socketError(err)));

  return {
    connection: connection as Ice.Connection,
    async start() {
      const started = connection.start();
      // Nothing else sends ValidateConnection for an incoming connection: kick the writer.
      connection.message(SocketOperationWrite);
      await started;
      connection.activate();
    },
    closeGracefully: () => void connection.close(Ice.ConnectionClose.Gracefully),
    closeForcefully: () => void connection.close(Ice.ConnectionClose.Forcefully),
    finished: () => Promise.resolve(connection.waitUntilFinished()).then(() => undefined),
    queuedReadBytes,
  };
}

/** What a dispatch failure becomes on the wire; return the exception to marshal instead. */
export type DispatchErrorMapper = (error: unknown, current: Ice.Current) => Error;

let dispatchErrorMapper: DispatchErrorMapper | undefined;

/**
 * Routes every dispatch failure through `mapper` before the runtime marshals it. The runtime
 * would otherwise send non-Slice errors as Unknown(Local)Exception carrying the JS stack and file
 * paths. Installed once per process; later calls replace the mapper.
 */
export function setDispatchErrorMapper(mapper: DispatchErrorMapper): void {
  const { IncomingAsync } = internals();
  if (!dispatchErrorMapper) {
    const original = IncomingAsync.prototype.handleException;
    IncomingAsync.prototype.handleException = function (this: Any, ex: unknown, amd: boolean) {
      let mapped: unknown = ex;
      try {
        mapped = dispatchErrorMapper ? dispatchErrorMapper(ex, this._current) : ex;
      } catch {
        mapped = new Ice.UnknownException("internal error");
      }
      return original.call(this, mapped, amd);
    };
  }
  dispatchErrorMapper = mapper;
}
