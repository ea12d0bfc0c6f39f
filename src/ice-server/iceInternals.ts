/**
 * Every touch of the npm `ice` runtime's internals lives in this module.
 *
 * The runtime (3.7.x) is client-only in Node, but its ConnectionI still holds the complete
 * server-side protocol logic (validation, request/batch parsing, dispatch through an adapter's
 * servant manager, ACM). We feed it sockets accepted by a Node `net.Server`. The internals used
 * here are checked once at load time against the version we tested, so an upgrade fails fast with
 * a clear message instead of misbehaving on the wire.
 */
import { Buffer as NodeBuffer, isAscii, isUtf8 } from "node:buffer";
import type { Socket } from "node:net";
import { Ice } from "../slice/index.js";

/** Ice.stringVersion() of the runtime releases this module was tested with (npm ice 3.7.110). */
export const TESTED_ICE_VERSIONS = ["3.7.11"] as const;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

const SocketOperationRead = 1;
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
  Buffer: Any;
  EncodingVersion: Any;
  OutgoingAsync: Any;
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
    ["Ice.Buffer.prototype.getString", I.Buffer?.prototype?.getString],
    ["Ice.Buffer.prototype.writeString", I.Buffer?.prototype?.writeString],
    ["Ice.Buffer.prototype.reserve", I.Buffer?.prototype?.reserve],
    ["Ice.ConnectionI.prototype.invokeAll", I.ConnectionI?.prototype?.invokeAll],
    ["Ice.ConnectionI.prototype.sendResponse", I.ConnectionI?.prototype?.sendResponse],
    ["Ice.EncodingVersion.prototype.equals", I.EncodingVersion?.prototype?.equals],
    ["Ice.ObjectAdapterI.prototype.getServantManager", I.ObjectAdapterI?.prototype?.getServantManager],
    ["Ice.OutgoingAsync.prototype.markFinished", I.OutgoingAsync?.prototype?.markFinished],
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
    Buffer: I.Buffer,
    EncodingVersion: I.EncodingVersion,
    OutgoingAsync: I.OutgoingAsync,
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
  if (fastPaths) installProcessFastPaths();
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
  const read = fastPaths ? copyingRead(transceiver) : transceiver.read.bind(transceiver);
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
  // per-reply writes). Otherwise the socket is uncorked by process.nextTick, which runs once
  // the current task and all its promise jobs are done: the replies of async dispatches that
  // one event released (getTiles waiting on one shared isAvailable) leave together, and a lone
  // reply leaves at the end of the same task.
  const write = fastPaths ? pooledWrite(transceiver) : transceiver.write.bind(transceiver);
  const uncork = () => socket.uncork();
  transceiver.write = (byteBuffer: unknown) => {
    if (socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork();
      if (transceiver._readBuffers.length > 0) setImmediate(uncork);
      else process.nextTick(uncork);
    }
    return write(byteBuffer);
  };
  // The runtime closes with socket.destroy(), which would drop corked bytes: flush them first.
  const close = transceiver.close.bind(transceiver);
  transceiver.close = () => {
    if (socket.writableCorked > 0 && !socket.destroyed) socket.uncork();
    return close();
  };

  if (fastPaths) {
    drainBufferedRequests(connection);
    recycleMessageBuffers(connection);
    cacheServantLookups((adapter as Any).getServantManager());
  }

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

/*
 * Per-call fast paths. A profile of the bench server under load (bench/README.md, Findings) put
 * most of the CPU per call in the runtime's generic machinery rather than in the protocol: one
 * event-loop turn and one write syscall per request, a fresh ArrayBuffer per reply write,
 * Identity hashing for every servant lookup, UTF-8 round trips through escape/decodeURIComponent
 * for every string. Each helper below replaces one of those with a cheaper equivalent that keeps
 * the runtime's observable behaviour (bytes on the wire, errors raised, ordering).
 */

/** ICEFLIX_SERVER_FAST_PATHS=0 turns them off for a whole process (a field escape hatch, and for comparisons). */
let fastPaths = process.env.ICEFLIX_SERVER_FAST_PATHS !== "0";

/**
 * Turns the per-call fast paths off for connections created from now on (the bench's "before"
 * figures). Process-wide patches already installed stay; call this before the first adapter.
 */
export function setServerFastPaths(enabled: boolean): void {
  fastPaths = enabled;
}

/**
 * Messages one read turn may parse and dispatch before yielding to other connections: a typical
 * pipelined burst (the bench client keeps 16 in flight per connection). A longer turn keeps
 * more garbage alive at once; under the backpressure flood test the drain already raises peak
 * RSS (~100 vs ~88 MB, V8 growing its young generation).
 */
const MAX_MESSAGES_PER_TURN = 16;

/**
 * The runtime parses one message per message() call and schedules the next with setImmediate
 * ("don't tie up the thread"), so a burst of 16 pipelined requests costs 16 event-loop turns and
 * its replies leave in separate writes. Here the same calls run back to back in one turn, up to
 * MAX_MESSAGES_PER_TURN, then the runtime's own rescheduling takes over. The runtime decides
 * to reschedule by reading `_hasMoreData.value` at the end of message(); while we drain, that read
 * answers false and records the request, and we make the call it would have scheduled.
 * Synchronous dispatches still reply in request order; flow control still applies per message
 * (the gates live in transceiver.read).
 */
function drainBufferedRequests(connection: Any): void {
  const { Timer } = internals();
  const message = connection.message.bind(connection);
  let draining = false;
  let wantsMore = false;
  let more = false;
  connection._hasMoreData = {
    get value(): boolean {
      if (draining && more) {
        wantsMore = true;
        return false;
      }
      return more;
    },
    set value(v: boolean) {
      more = v;
    },
  };
  connection.message = (operation: number): void => {
    if (draining) return void message(operation); // re-entered from a dispatch: the outer loop continues
    draining = true;
    try {
      for (let n = 1; ; n++) {
        wantsMore = false;
        message(operation);
        if (!wantsMore) return;
        if (n >= MAX_MESSAGES_PER_TURN) {
          Timer.setImmediate(() => connection.message(SocketOperationRead));
          return;
        }
        operation = SocketOperationRead;
      }
    } finally {
      draining = false;
    }
  };
}

/**
 * The runtime's TcpTransceiver.read wraps the target ArrayBuffer in a new Node Buffer on every
 * call (twice per message: header, then body). Same copy, with the view reused while the
 * target stays the same.
 */
function copyingRead(transceiver: Any): (byteBuffer: Any, moreData: { value: boolean }) => boolean {
  let target: ArrayBuffer | null = null;
  let view = new Uint8Array(0);
  return (byteBuffer, moreData) => {
    if (transceiver._exception) throw transceiver._exception;
    moreData.value = false;
    const buffers: Buffer[] = transceiver._readBuffers;
    if (buffers.length === 0) return false; // no data available
    if (byteBuffer.b !== target) {
      target = byteBuffer.b as ArrayBuffer;
      view = new Uint8Array(target);
    }
    while (byteBuffer.remaining > 0) {
      const source = buffers[0]!;
      const start: number = transceiver._readPosition;
      const n = Math.min(source.length - start, byteBuffer.remaining);
      source.copy(view, byteBuffer.position, start, start + n);
      byteBuffer.position += n;
      if (start + n === source.length) {
        transceiver._readPosition = 0;
        buffers.shift();
        if (buffers.length === 0) break;
      } else {
        transceiver._readPosition = start + n;
      }
    }
    moreData.value = buffers.length > 0;
    return byteBuffer.remaining === 0;
  };
}

/**
 * The runtime's TcpTransceiver.write copies every outgoing message with ArrayBuffer.slice (a new
 * backing store per reply, then GC'd). Copy into Buffer.allocUnsafe instead: Node carves small
 * buffers out of a shared 8 KiB slab. Same packet splitting and completion callback.
 */
function pooledWrite(transceiver: Any): (byteBuffer: Any) => boolean {
  return (byteBuffer) => {
    if (transceiver._exception) throw transceiver._exception;
    const maxPacket: number = transceiver._maxSendPacketSize;
    while (byteBuffer.remaining > 0) {
      const size: number = maxPacket > 0 ? Math.min(maxPacket, byteBuffer.remaining) : byteBuffer.remaining;
      const chunk = Buffer.allocUnsafe(size);
      chunk.set(new Uint8Array(byteBuffer.b as ArrayBuffer, byteBuffer.position, size));
      byteBuffer.position += size;
      let sync = true;
      sync = transceiver._fd.write(chunk, () => {
        if (!sync) transceiver._bytesWrittenCallback();
      });
      if (!sync) return false; // the callback resumes the runtime's writer
    }
    return true;
  };
}

/** The runtime's smallest stream buffer: every request and reply that fits gets one. */
const SMALL_BUFFER_BYTES = 1024;
/** Small stream buffers given back by server connections, zero-filled, ready for reuse. */
const smallBufferPool: DataView[] = [];
const SMALL_BUFFER_POOL_MAX = 256;

/** Gives a dead small stream buffer to the pool; `buffer` (an Ice.Buffer) no longer holds it. */
function recycleSmallBuffer(buffer: Any, view: DataView): void {
  buffer.clear(); // a late access would now fail loudly instead of reading another message's bytes
  if (smallBufferPool.length >= SMALL_BUFFER_POOL_MAX) return;
  new Uint8Array(view.buffer).fill(0); // as good as new: the runtime's buffers start zeroed
  smallBufferPool.push(view);
}

/**
 * Every request and every reply gets a fresh 1 KiB ArrayBuffer (plus a DataView) from the
 * runtime, which V8 allocates and frees slowly (~12 % of the server's time under load). A server
 * connection knows two points where such a buffer is provably dead, and gives it back there:
 * - a request message, once invokeAll() returns: the runtime unmarshals every argument
 *   synchronously (copying bytes out) before the servant runs, and never reads it again;
 * - a reply, once sendResponse() has written it whole: our write copied it into a Node buffer.
 *   A reply queued behind a blocked socket is moved to another stream first; not recycled.
 * Buffer.reserve (patched process-wide in installProcessFastPaths) takes from this pool.
 */
function recycleMessageBuffers(connection: Any): void {
  const invokeAll = connection.invokeAll.bind(connection);
  connection.invokeAll = (stream: Any, ...rest: unknown[]): void => {
    const buffer = stream._buf;
    const view: DataView | null = buffer.v;
    invokeAll(stream, ...rest);
    if (view !== null && buffer.v === view && view.byteLength === SMALL_BUFFER_BYTES) recycleSmallBuffer(buffer, view);
  };
  const sendResponse = connection.sendResponse.bind(connection);
  connection.sendResponse = (stream: Any): void => {
    const buffer = stream._buf;
    const view: DataView | null = buffer.v;
    sendResponse(stream);
    if (
      view !== null &&
      stream._buf === buffer &&
      buffer.v === view &&
      buffer.remaining === 0 &&
      view.byteLength === SMALL_BUFFER_BYTES
    ) {
      recycleSmallBuffer(buffer, view);
    }
  };
}

const cachedServantManagers = new WeakSet<object>();

/**
 * Servants are found in a map keyed by Ice.Identity, which hashes and compares the struct
 * generically (for..in over its fields) on every request. Cache the identity's facet map in
 * plain Maps keyed by category and name; any add or remove on the servant manager clears the
 * cache, so lookups answer exactly as the runtime's. Only hits are cached (unknown identities,
 * default servants and locators take the runtime's path every time).
 */
function cacheServantLookups(servantManager: Any): void {
  if (cachedServantManagers.has(servantManager)) return;
  cachedServantManagers.add(servantManager);
  const byCategory = new Map<string, Map<string, Map<string, unknown>>>();
  const findServant = servantManager.findServant.bind(servantManager);
  servantManager.findServant = (ident: Ice.Identity, facet: string | null): unknown => {
    const facets = byCategory.get(ident.category)?.get(ident.name);
    if (facets !== undefined) return facets.get(facet ?? "") ?? null;
    const found = servantManager._servantMapMap.get(ident) as Map<string, unknown> | undefined;
    if (found !== undefined) {
      let names = byCategory.get(ident.category);
      if (names === undefined) byCategory.set(ident.category, (names = new Map()));
      names.set(ident.name, found);
    }
    return findServant(ident, facet);
  };
  for (const method of ["addServant", "removeServant", "removeAllFacets", "destroy"]) {
    const original = servantManager[method];
    servantManager[method] = function (this: Any, ...args: unknown[]) {
      byCategory.clear();
      return original.apply(this, args);
    };
  }
}

let processFastPathsInstalled = false;
/** From this length on a string is decoded in one step rather than char by char (break-even measured at 24-32 chars). */
const FLAT_DECODE_MIN_CHARS = 32;

/**
 * Process-wide replacements on runtime prototypes (they serve client calls too), each answering
 * exactly as the original:
 * - strings are decoded with escape/decodeURIComponent and encoded with
 *   unescape/encodeURIComponent; for pure ASCII (identities, operation names, most arguments)
 *   bytes and characters are the same, so copy them directly; anything else, and any error, stays
 *   on the original path;
 * - EncodingVersion.equals (twice per request) is the generic struct comparison (for..in);
 *   compare its two fields;
 * - Buffer.reserve takes a new small buffer from the pool fed by recycleMessageBuffers (zeroed,
 *   same size) before allocating one;
 * - a twoway call with an invocation timeout cancels its timer when the reply arrives (the
 *   runtime cancels it only when a call fails or a oneway is sent: each answered call left a
 *   timer that fired later and built an InvocationTimeoutException, stack trace included, for a
 *   call long finished; ~15% of Main's busy time under getAuthenticator load).
 */
function installProcessFastPaths(): void {
  if (processFastPathsInstalled) return;
  processFastPathsInstalled = true;
  const { Buffer: IceBuffer, EncodingVersion } = internals();
  const proto = IceBuffer.prototype;
  const getString = proto.getString;
  proto.getString = function (this: Any, length: number): string {
    const start: number = this._position;
    if (start + length <= this._limit) {
      if (length >= FLAT_DECODE_MIN_CHARS) {
        // Long strings (tokens, names) in one step: ASCII as latin1, valid UTF-8 as utf8, the
        // same characters decodeURIComponent(escape(…)) gives; anything else (invalid UTF-8,
        // which it refuses with URIError) stays on the original path.
        const bytes = NodeBuffer.from(this.b as ArrayBuffer, start, length);
        const text = isAscii(bytes) ? bytes.toString("latin1") : isUtf8(bytes) ? bytes.toString("utf8") : undefined;
        if (text !== undefined) {
          this._position = start + length;
          return text;
        }
        return getString.call(this, length);
      }
      const data: DataView = this.v;
      let s = "";
      let i = 0;
      for (; i < length; i++) {
        const c = data.getUint8(start + i);
        if (c > 0x7f) break;
        s += String.fromCharCode(c);
      }
      if (i === length) {
        this._position = start + length;
        return s;
      }
    }
    return getString.call(this, length);
  };
  const writeString = proto.writeString;
  proto.writeString = function (this: Any, stream: Any, v: string): void {
    const n = v.length;
    for (let i = 0; i < n; i++) if (v.charCodeAt(i) > 0x7f) return writeString.call(this, stream, v);
    stream.writeSize(n);
    stream.expand(n);
    this.putString(v, n);
  };
  const reserve = proto.reserve;
  proto.reserve = function (this: Any, n: number): void {
    // A new small buffer (what reserve would allocate: max(1024, n) bytes) from the pool, if any.
    if (this.b === null && n > 0 && n <= SMALL_BUFFER_BYTES && smallBufferPool.length > 0) {
      const view = smallBufferPool.pop()!;
      this.b = view.buffer;
      this.v = view;
      return;
    }
    reserve.call(this, n);
  };
  const outgoing = internals().OutgoingAsync.prototype;
  const markFinished = outgoing.markFinished;
  outgoing.markFinished = function (this: Any, ok: boolean, completed: unknown): void {
    if (this._timeoutToken !== undefined) this._instance.timer().cancel(this._timeoutToken);
    markFinished.call(this, ok, completed);
  };
  EncodingVersion.prototype.equals = function (this: Ice.EncodingVersion, other: unknown): boolean {
    if (this === other) return true;
    if (other === null || other === undefined) return false;
    const o = other as Ice.EncodingVersion;
    return this.major === o.major && this.minor === o.minor;
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
      try {
        return original.call(this, mapped, amd);
      } catch (marshalError) {
        // The exception itself could not be marshalled (e.g. a string member holding a lone
        // surrogate throws URIError): thrown on, it would end the process from a promise
        // callback. Nothing was sent yet (each reply starts a new stream), so send that failure.
        if (marshalError instanceof Ice.LocalException) throw marshalError;
        let fallback: unknown;
        try {
          fallback = dispatchErrorMapper ? dispatchErrorMapper(marshalError, this._current) : marshalError;
        } catch {
          fallback = new Ice.UnknownException("internal error");
        }
        return original.call(this, fallback, amd);
      }
    };
  }
  dispatchErrorMapper = mapper;
}
