/**
 * A small Ice 1.0 protocol frame builder and reader for transport tests: build requests byte by
 * byte, read the server's messages off a raw socket, and break frames on purpose with mutators
 * driven by a seeded PRNG (runs are reproducible from the seed).
 *
 * Wire format (all integers little-endian):
 *   header (14 bytes): 'I' 'c' 'e' 'P', protocol 1.0, encoding 1.0, message type, compression
 *                      status, int32 total size (header included)
 *   request body:      int32 requestId (0 = oneway), identity (name, category), facet (string
 *                      seq), operation, mode byte, context (dictionary<string,string>),
 *                      encapsulation (int32 size incl. its 6-byte header, encoding 1.1, params)
 *   reply body:        int32 requestId, status byte, then per status (0/1: encapsulation,
 *                      2-4: identity + facet + operation, 5-7: string)
 *   Ice sizes:         1 byte when < 255, else 255 followed by an int32
 */
import net from "node:net";

export const HEADER_SIZE = 14;
export const MAGIC = Buffer.from("IceP", "latin1");

export const MessageType = {
  Request: 0,
  BatchRequest: 1,
  Reply: 2,
  ValidateConnection: 3,
  CloseConnection: 4,
} as const;

export const ReplyStatus = {
  Ok: 0,
  UserException: 1,
  ObjectNotExist: 2,
  FacetNotExist: 3,
  OperationNotExist: 4,
  UnknownLocalException: 5,
  UnknownUserException: 6,
  UnknownException: 7,
} as const;

export const OperationMode = { Normal: 0, Nonmutating: 1, Idempotent: 2 } as const;

// ---------------------------------------------------------------------------------------------
// Encoding primitives

export function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  return b;
}

/** An Ice size: one byte below 255, else 255 and an int32 (which may be negative on purpose). */
export function size(n: number): Buffer {
  return n >= 0 && n < 255 ? Buffer.from([n]) : Buffer.concat([Buffer.from([255]), int32(n)]);
}

export function iceString(s: string): Buffer {
  const utf8 = Buffer.from(s, "utf8");
  return Buffer.concat([size(utf8.length), utf8]);
}

export function stringSeq(items: readonly string[]): Buffer {
  return Buffer.concat([size(items.length), ...items.map(iceString)]);
}

/** An encapsulation: int32 size (6-byte header included), encoding 1.1, then `params`. */
export function encapsulation(params: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([int32(6 + params.length), Buffer.from([1, 1]), params]);
}

/** A 14-byte header; `totalSize` defaults to header + body. */
export function header(type: number, bodyLength: number, options: { compress?: number; totalSize?: number } = {}): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(h, 0);
  h[4] = 1; // protocol 1.0
  h[5] = 0;
  h[6] = 1; // encoding 1.0
  h[7] = 0;
  h[8] = type;
  h[9] = options.compress ?? 0;
  h.writeInt32LE(options.totalSize ?? HEADER_SIZE + bodyLength, 10);
  return h;
}

// ---------------------------------------------------------------------------------------------
// Frames

export interface Identity {
  name: string;
  category?: string;
}

export interface RequestOptions {
  facet?: string;
  mode?: number;
  context?: Record<string, string>;
  /** Compression status byte in the header (2 = "compressed", which the runtime refuses). */
  compress?: number;
}

/** The body of one request after its requestId (shared by requests and batch requests). */
export function requestBody(identity: Identity | string, operation: string, params: Buffer, options: RequestOptions = {}): Buffer {
  const id = typeof identity === "string" ? { name: identity } : identity;
  const ctx = Object.entries(options.context ?? {});
  return Buffer.concat([
    iceString(id.name),
    iceString(id.category ?? ""),
    stringSeq(options.facet ? [options.facet] : []),
    iceString(operation),
    Buffer.from([options.mode ?? OperationMode.Normal]),
    size(ctx.length),
    ...ctx.flatMap(([k, v]) => [iceString(k), iceString(v)]),
    encapsulation(params),
  ]);
}

/** A complete request message; requestId 0 makes it oneway. */
export function requestFrame(
  requestId: number,
  identity: Identity | string,
  operation: string,
  params: Buffer = Buffer.alloc(0),
  options: RequestOptions = {},
): Buffer {
  const body = Buffer.concat([int32(requestId), requestBody(identity, operation, params, options)]);
  return Buffer.concat([header(MessageType.Request, body.length, { compress: options.compress }), body]);
}

/** A batch request message carrying `requests` (each dispatched oneway). */
export function batchRequestFrame(requests: Array<{ identity: Identity | string; operation: string; params?: Buffer }>): Buffer {
  const body = Buffer.concat([
    int32(requests.length),
    ...requests.map((r) => requestBody(r.identity, r.operation, r.params ?? Buffer.alloc(0))),
  ]);
  return Buffer.concat([header(MessageType.BatchRequest, body.length), body]);
}

export function validateConnectionFrame(): Buffer {
  return header(MessageType.ValidateConnection, 0);
}

export function closeConnectionFrame(): Buffer {
  return header(MessageType.CloseConnection, 0);
}

/** ice_ping on `identity` (idempotent, no parameters). */
export function pingFrame(requestId: number, identity: Identity | string): Buffer {
  return requestFrame(requestId, identity, "ice_ping", Buffer.alloc(0), { mode: OperationMode.Idempotent });
}

/** Authenticator::isAuthorized(string) on `identity`. */
export function isAuthorizedFrame(requestId: number, identity: Identity | string, token: string): Buffer {
  return requestFrame(requestId, identity, "isAuthorized", iceString(token));
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface Message {
  type: number;
  compress: number;
  /** The bytes after the 14-byte header. */
  body: Buffer;
}

export interface Reply {
  requestId: number;
  status: number;
  /** Status 0/1: the encapsulation's parameter bytes; otherwise the rest of the body. */
  payload: Buffer;
}

/** Splits a byte stream into Ice messages; throws on a header that is not Ice 1.0. */
export class MessageSplitter {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Message[] {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const out: Message[] = [];
    while (this.#pending.length >= HEADER_SIZE) {
      const h = this.#pending;
      if (!h.subarray(0, 4).equals(MAGIC)) throw new Error(`not an Ice message: ${h.subarray(0, 14).toString("hex")}`);
      if (h[4] !== 1 || h[5] !== 0) throw new Error(`unexpected protocol ${h[4]}.${h[5]}`);
      const total = h.readInt32LE(10);
      if (total < HEADER_SIZE) throw new Error(`bad message size ${total}`);
      if (h.length < total) break;
      out.push({ type: h[8]!, compress: h[9]!, body: Buffer.from(h.subarray(HEADER_SIZE, total)) });
      this.#pending = h.subarray(total);
    }
    return out;
  }
}

/** Parses a reply body (the bytes after the header). */
export function parseReply(body: Buffer): Reply {
  if (body.length < 5) throw new Error(`reply body too short (${body.length} bytes)`);
  const requestId = body.readInt32LE(0);
  const status = body[4]!;
  let payload = body.subarray(5);
  if ((status === ReplyStatus.Ok || status === ReplyStatus.UserException) && payload.length >= 6) {
    const encapsSize = payload.readInt32LE(0);
    payload = payload.subarray(6, Math.max(6, encapsSize));
  }
  return { requestId, status, payload };
}

/** Reads a bool result from an Ok reply's payload. */
export function replyBool(reply: Reply): boolean {
  if (reply.status !== ReplyStatus.Ok || reply.payload.length < 1) {
    throw new Error(`expected an Ok reply with a bool, got status ${reply.status} (${reply.payload.length} bytes)`);
  }
  return reply.payload[0] === 1;
}

/**
 * Reads what the server sends on `socket`: the first message must be its 14-byte
 * ValidateConnection (`validated` resolves then, rejects otherwise); replies are matched to
 * request ids; `closed` resolves when the socket closes (never rejects).
 */
export class ValidConnectionReader {
  readonly socket: net.Socket;
  readonly validated: Promise<void>;
  readonly closed: Promise<{ hadError: boolean; at: number }>;
  /** Every message after validation, in order. */
  readonly messages: Message[] = [];
  #isValidated = false;
  #isClosed = false;
  #replies = new Map<number, Reply>();
  #waiters = new Map<number, Array<(r: Reply) => void>>();
  #closeWaiters: Array<() => void> = [];
  #protocolError: Error | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    const splitter = new MessageSplitter();
    let resolveValidated!: () => void;
    let rejectValidated!: (e: Error) => void;
    this.validated = new Promise<void>((res, rej) => {
      resolveValidated = res;
      rejectValidated = rej;
    });
    this.validated.catch(() => undefined); // observed by whoever awaits it
    this.closed = new Promise((resolve) => {
      socket.once("close", (hadError) => {
        this.#isClosed = true;
        rejectValidated(new Error("connection closed before ValidateConnection"));
        for (const w of this.#closeWaiters) w();
        this.#closeWaiters = [];
        resolve({ hadError, at: Date.now() });
      });
    });
    socket.on("error", () => undefined); // ECONNRESET/EPIPE from a server hanging up are expected
    socket.on("data", (chunk: Buffer) => {
      let messages: Message[];
      try {
        messages = splitter.push(chunk);
      } catch (e) {
        this.#protocolError = e as Error;
        rejectValidated(e as Error);
        socket.destroy();
        return;
      }
      for (const m of messages) {
        if (!this.#isValidated) {
          if (m.type !== MessageType.ValidateConnection || m.body.length !== 0) {
            const err = new Error(`first server message was type ${m.type} (${m.body.length} body bytes), not ValidateConnection`);
            this.#protocolError = err;
            rejectValidated(err);
            socket.destroy();
            return;
          }
          this.#isValidated = true;
          resolveValidated();
          continue;
        }
        this.messages.push(m);
        if (m.type === MessageType.Reply) {
          const reply = parseReply(m.body);
          const waiters = this.#waiters.get(reply.requestId);
          if (waiters) {
            this.#waiters.delete(reply.requestId);
            for (const w of waiters) w(reply);
          } else {
            this.#replies.set(reply.requestId, reply);
          }
        }
      }
    });
  }

  get isValidated(): boolean {
    return this.#isValidated;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  get protocolError(): Error | undefined {
    return this.#protocolError;
  }

  /** True once the server sent CloseConnection. */
  get sawCloseConnection(): boolean {
    return this.messages.some((m) => m.type === MessageType.CloseConnection);
  }

  /** Resolves with the reply to `requestId`; rejects on close or after timeoutMs. */
  reply(requestId: number, timeoutMs = 5000): Promise<Reply> {
    const ready = this.#replies.get(requestId);
    if (ready) {
      this.#replies.delete(requestId);
      return Promise.resolve(ready);
    }
    return new Promise<Reply>((resolve, reject) => {
      if (this.#isClosed) return reject(new Error(`connection closed before reply ${requestId}`));
      const timer = setTimeout(() => reject(new Error(`no reply to request ${requestId} within ${timeoutMs} ms`)), timeoutMs);
      const list = this.#waiters.get(requestId) ?? [];
      list.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.#waiters.set(requestId, list);
      this.#closeWaiters.push(() => {
        clearTimeout(timer);
        reject(new Error(`connection closed before reply ${requestId}`));
      });
    });
  }

  /** Sends `frame` and waits for the reply to `requestId`. */
  async call(requestId: number, frame: Buffer, timeoutMs = 5000): Promise<Reply> {
    const reply = this.reply(requestId, timeoutMs);
    this.socket.write(frame);
    return reply;
  }

  /** Waits for close at most timeoutMs; resolves true when closed. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return result;
  }
}

/** Wraps `socket` in a ValidConnectionReader (reads the server's ValidateConnection first). */
export function validConnectionReader(socket: net.Socket): ValidConnectionReader {
  return new ValidConnectionReader(socket);
}

/** Connects to host:port; resolves once connected (not yet validated). */
export function connectRaw(host: string, port: number, timeoutMs = 5000): Promise<ValidConnectionReader> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ host, port, noDelay: true });
    const reader = validConnectionReader(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(reader);
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Connects and waits for the server's ValidateConnection. */
export async function connectValidated(host: string, port: number, timeoutMs = 5000): Promise<ValidConnectionReader> {
  const reader = await connectRaw(host, port, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      reader.validated,
      new Promise((_, rej) => (timer = setTimeout(() => rej(new Error("no ValidateConnection in time")), timeoutMs))),
    ]);
  } catch (e) {
    reader.socket.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return reader;
}

/** host and port of the first `tcp -h H -p P` endpoint in `endpoints`. */
export function tcpAddress(endpoints: string): { host: string; port: number } {
  const m = /tcp\s+-h\s+("?)([^"\s]+)\1\s+-p\s+(\d+)/.exec(endpoints);
  if (!m) throw new Error(`no tcp endpoint in ${endpoints}`);
  return { host: m[2]!, port: Number(m[3]) };
}

// ---------------------------------------------------------------------------------------------
// Seeded randomness and mutators

/** mulberry32: a tiny, fast, seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;

export function randInt(rng: Rng, min: number, maxInclusive: number): number {
  return min + Math.floor(rng() * (maxInclusive - min + 1));
}

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)]!;
}

export function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rng() * 256);
  return b;
}

/** A mutator turns a well-formed frame into a malformed one. */
export type Mutator = (frame: Buffer, rng: Rng) => Buffer;

function withHeaderSize(frame: Buffer, total: number): Buffer {
  const f = Buffer.from(frame);
  f.writeInt32LE(total, 10);
  return f;
}

/** Where a request's identity name size sits: right after the header and the int32 requestId. */
const NAME_SIZE_AT = HEADER_SIZE + 4;

/**
 * Offset of the parameters' encapsulation in a well-formed request frame (walks identity, facet,
 * operation, mode and context), or -1 if the frame is too short.
 */
export function encapsulationOffset(frame: Buffer): number {
  let pos = NAME_SIZE_AT;
  const readSize = (): number => {
    if (pos >= frame.length) throw new RangeError("short");
    const b = frame[pos++]!;
    if (b < 255) return b;
    const n = frame.readInt32LE(pos);
    pos += 4;
    return n;
  };
  const skipString = (): void => {
    const n = readSize();
    pos += n;
  };
  try {
    skipString(); // identity name
    skipString(); // identity category
    for (let n = readSize(); n > 0; n--) skipString(); // facet
    skipString(); // operation
    pos += 1; // mode
    for (let n = readSize(); n > 0; n--) {
      skipString(); // context key
      skipString(); // context value
    }
  } catch {
    return -1;
  }
  return pos + 4 <= frame.length ? pos : -1;
}

export const MUTATORS = {
  /** Pure noise, sometimes with a plausible Ice header in front. */
  randomBytes: (_frame, rng) => {
    const noise = randomBytes(rng, randInt(rng, 1, 200));
    return rng() < 0.3 ? Buffer.concat([header(randInt(rng, 0, 4), noise.length), noise]) : noise;
  },
  /** The frame cut short (the server waits for bytes that never come, or reads the next frame as body). */
  truncation: (frame, rng) => frame.subarray(0, randInt(rng, 1, frame.length - 1)),
  /** Magic bytes that are not 'IceP'. */
  badMagic: (frame, rng) => {
    const f = Buffer.from(frame);
    f[randInt(rng, 0, 3)] ^= 1 + randInt(rng, 0, 254);
    return f;
  },
  /** A size field far above Ice.MessageSizeMax (up to 2 GiB). */
  hugeSize: (frame, rng) => withHeaderSize(frame, pick(rng, [0x7fffffff, 0x40000000, 0x10000000, 1_048_577 + randInt(rng, 0, 1 << 24)])),
  /** Compression status 2 ("compressed, bzip2"), which the Node runtime cannot handle. */
  compressed: (frame) => {
    const f = Buffer.from(frame);
    f[9] = 2;
    return f;
  },
  /** A message type that is unknown (5…255) or makes no sense from a client (reply). */
  wrongMessageType: (frame, rng) => {
    const f = Buffer.from(frame);
    f[8] = rng() < 0.5 ? MessageType.Reply : randInt(rng, 5, 255);
    return f;
  },
  /** Negative or too-small sizes: the header's total size, or an inner size (string, seq, encapsulation, batch count). */
  negativeSizes: (frame, rng) => {
    // Frames without a body (ValidateConnection, CloseConnection) only have the header's size.
    const choice = frame.length >= NAME_SIZE_AT + 1 ? randInt(rng, 0, 4) : 0;
    if (choice === 0) return withHeaderSize(frame, pick(rng, [-1, -14, -0x80000000, 0, 13]));
    const negative = pick(rng, [-1, -2, -0x80000000, 0x7fffffff]);
    const f = Buffer.from(frame);
    if (choice === 1) {
      // identity name: size 255 + negative int32, body size kept consistent
      const tail = f.subarray(NAME_SIZE_AT + 1);
      const out = Buffer.concat([f.subarray(0, NAME_SIZE_AT), Buffer.from([255]), int32(negative), tail]);
      return withHeaderSize(out, out.length);
    }
    if (choice === 2) {
      // the parameters' encapsulation size
      const encapsAt = f[8] === MessageType.Request ? encapsulationOffset(f) : -1;
      if (encapsAt >= 0) f.writeInt32LE(negative, encapsAt);
      else f.writeInt32LE(negative, f.length - 4);
      return f;
    }
    if (choice === 3) {
      // a batch request with a negative/huge request count
      const b = Buffer.from(f);
      b[8] = MessageType.BatchRequest;
      b.writeInt32LE(negative, HEADER_SIZE);
      return b;
    }
    // a request id that is negative
    f.writeInt32LE(negative, HEADER_SIZE);
    return f;
  },
  /** Valid header, body bytes overwritten at random (exercises request unmarshalling). */
  corruptBody: (frame, rng) => {
    const f = Buffer.from(frame);
    const flips = randInt(rng, 1, 8);
    for (let i = 0; i < flips && f.length > HEADER_SIZE; i++) f[randInt(rng, HEADER_SIZE, f.length - 1)] = randInt(rng, 0, 255);
    return f;
  },
  /** An unsupported protocol or encoding version in the header. */
  badVersion: (frame, rng) => {
    const f = Buffer.from(frame);
    f[randInt(rng, 4, 7)] = randInt(rng, 2, 255);
    return f;
  },
  /** A declared size larger than the bytes that follow: the server waits for a body that never completes. */
  sizeBeyondBody: (frame, rng) => withHeaderSize(frame, frame.length + randInt(rng, 1, 64)),
} satisfies Record<string, Mutator>;

export type MutatorName = keyof typeof MUTATORS;
export const MUTATOR_NAMES = Object.keys(MUTATORS) as MutatorName[];

/** Applies one mutator chosen by `rng` (or the one named) and says which. */
export function mutate(frame: Buffer, rng: Rng, name: MutatorName = pick(rng, MUTATOR_NAMES)): { name: MutatorName; bytes: Buffer } {
  return { name, bytes: MUTATORS[name](frame, rng) };
}

// ---------------------------------------------------------------------------------------------
// Fuzzing one listening port

export interface FuzzStats {
  frames: number;
  connections: number;
  closedByServer: number;
  probeAnswered: number;
  idle: number;
  connectFailures: number;
  perMutator: Partial<Record<MutatorName, number>>;
}

export interface FuzzTarget {
  host: string;
  port: number;
  /** The identity the probe pings (a servant that exists there). */
  identity: Identity | string;
  /** Well-formed requests of that service, the raw material of the mutators. */
  frames: Array<(rng: Rng) => Buffer>;
  /** The valid request some connections send before the malformed frames (default: ice_ping on `identity`). */
  validFirst?: Buffer;
}

const FUZZ_PROBE_ID = 0x7ffffff0;

/**
 * Sends `total` malformed frames over many short connections, `concurrency` at a time. Each
 * connection's content comes from its own PRNG seeded from (seed, connection index), so a run is
 * reproducible whatever the interleaving. Per connection: maybe wait for ValidateConnection, maybe
 * a valid request first, 1–5 mutated frames, then a valid ice_ping probe; it ends when the server
 * closes it, answers the probe, or after 150 ms.
 */
export async function fuzzPort(target: FuzzTarget, seed: number, total: number, concurrency: number): Promise<FuzzStats> {
  const stats: FuzzStats = { frames: 0, connections: 0, closedByServer: 0, probeAnswered: 0, idle: 0, connectFailures: 0, perMutator: {} };
  const validFirst = target.validFirst ?? pingFrame(1, target.identity);
  let nextConnection = 0;
  const open = new Set<ValidConnectionReader>();
  const worker = async () => {
    while (stats.frames < total) {
      const index = nextConnection++;
      const rng = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      const count = Math.min(randInt(rng, 1, 5), total - stats.frames);
      stats.frames += count;
      stats.connections++;
      let reader: ValidConnectionReader;
      try {
        reader = await connectRaw(target.host, target.port, 5000);
      } catch {
        stats.connectFailures++;
        continue;
      }
      open.add(reader);
      try {
        if (rng() < 0.5) await Promise.race([reader.validated.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
        const parts: Buffer[] = [];
        if (rng() < 0.4) parts.push(validFirst);
        for (let i = 0; i < count; i++) {
          const { name, bytes } = mutate(pick(rng, target.frames)(rng), rng);
          stats.perMutator[name] = (stats.perMutator[name] ?? 0) + 1;
          parts.push(bytes);
        }
        const probe = pingFrame(FUZZ_PROBE_ID, target.identity);
        if (rng() < 0.5) {
          reader.socket.write(Buffer.concat([...parts, probe]));
        } else {
          for (const p of parts) reader.socket.write(p);
          reader.socket.write(probe);
        }
        const outcome = await Promise.race([
          reader.closed.then(() => "closed" as const),
          reader.reply(FUZZ_PROBE_ID, 150).then(
            () => "answered" as const,
            () => "idle" as const,
          ),
        ]);
        if (outcome === "closed" || reader.isClosed) stats.closedByServer++;
        else if (outcome === "answered") stats.probeAnswered++;
        else stats.idle++;
      } finally {
        reader.socket.destroy();
        open.delete(reader);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    for (const r of open) r.socket.destroy();
  }
  return stats;
}
