/**
 * Event signature v1 (spec §7.1, byte-exact so any language can sign and verify) and the gate
 * that subscribers pass every event through: unsigned, forged, stale and replayed events are
 * dropped and counted per topic and reason.
 *
 * Context entries: iceflix-sig-v=1, iceflix-sig-ts=<ms>, iceflix-sig-nonce=<32 hex>,
 * iceflix-sig-mac=<hex HMAC-SHA256(key, M)>, key = HKDF-SHA256(secret, "", "iceflix events v1").
 * M = lines "v1", topic, operation, ts, nonce, then one line per argument, joined by "\n":
 * string → "<utf8 byte length>:<string>", bool → true/false, int → decimal,
 * proxy → "proxy:" + identity (Ice.identityToString) or "proxy:" for null,
 * sequence → count, then each element on its own line.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { Ice } from "../slice/index.js";
import { deriveKey } from "./secret.js";

export const EVENT_KEY_INFO = "iceflix events v1";
export const CTX = {
  version: "iceflix-sig-v",
  ts: "iceflix-sig-ts",
  nonce: "iceflix-sig-nonce",
  mac: "iceflix-sig-mac",
} as const;

/** An argument as the contract types it. */
export type EventArg = string | boolean | number | Ice.ObjectPrx | null | readonly EventArg[];

function argLines(arg: EventArg, out: string[]): void {
  if (typeof arg === "string") out.push(`${Buffer.byteLength(arg, "utf8")}:${arg}`);
  else if (typeof arg === "boolean") out.push(arg ? "true" : "false");
  else if (typeof arg === "number") out.push(String(Math.trunc(arg)));
  else if (arg === null) out.push("proxy:");
  else if (Array.isArray(arg)) {
    out.push(String(arg.length));
    for (const a of arg) argLines(a as EventArg, out);
  } else out.push(`proxy:${Ice.identityToString((arg as Ice.ObjectPrx).ice_getIdentity())}`);
}

/** The signed message M of §7.1. */
export function signedMessage(topic: string, operation: string, ts: string, nonce: string, args: readonly EventArg[]): Buffer {
  const lines = ["v1", topic, operation, ts, nonce];
  for (const a of args) argLines(a, lines);
  return Buffer.from(lines.join("\n"), "utf8");
}

export class EventSigner {
  readonly #key: Buffer;
  constructor(secret: Buffer) {
    this.#key = deriveKey(secret, EVENT_KEY_INFO);
  }

  /** The request context that carries the signature of this event. */
  sign(topic: string, operation: string, args: readonly EventArg[], now = Date.now()): Map<string, string> {
    const ts = String(now);
    const nonce = randomBytes(16).toString("hex");
    const mac = createHmac("sha256", this.#key).update(signedMessage(topic, operation, ts, nonce, args)).digest("hex");
    return new Map([
      [CTX.version, "1"],
      [CTX.ts, ts],
      [CTX.nonce, nonce],
      [CTX.mac, mac],
    ]);
  }

  /** Checks the MAC only (freshness and replay are the gate's job). */
  macMatches(topic: string, operation: string, args: readonly EventArg[], ctx: Map<string, string>): boolean {
    const ts = ctx.get(CTX.ts) ?? "";
    const nonce = ctx.get(CTX.nonce) ?? "";
    const mac = ctx.get(CTX.mac) ?? "";
    if (!/^[0-9a-f]{64}$/.test(mac)) return false;
    const expected = createHmac("sha256", this.#key).update(signedMessage(topic, operation, ts, nonce, args)).digest();
    return timingSafeEqual(expected, Buffer.from(mac, "hex"));
  }
}

export type DropReason = "unsigned" | "forged" | "stale" | "replayed";

export interface EventGateOptions {
  /** IceFlix.Events.AllowUnsigned: admit events with no signature at all. */
  allowUnsigned: boolean;
  /** IceFlix.Events.MaxSkewSeconds. */
  maxSkewSeconds: number;
  /** Called for each dropped event (for logging). */
  onDrop?: (topic: string, operation: string, reason: DropReason) => void;
  /** Called for each accepted event. */
  onAccept?: (topic: string, operation: string) => void;
}

/**
 * Decides whether a received event is obeyed. Nonces are remembered for 2 × MaxSkew (anything
 * older is stale anyway), so memory is bounded by the event rate.
 */
export class EventGate {
  readonly #signer: EventSigner;
  readonly #options: EventGateOptions;
  readonly #seen = new Map<string, number>(); // nonce → ts
  readonly #dropped = new Map<string, number>(); // "topic|reason" → count
  #accepted = 0;
  #lastPrune = 0;

  constructor(signer: EventSigner, options: EventGateOptions) {
    this.#signer = signer;
    this.#options = options;
  }

  accept(topic: string, operation: string, args: readonly EventArg[], ctx: Map<string, string> | undefined, now = Date.now()): boolean {
    const reason = this.#check(topic, operation, args, ctx ?? new Map(), now);
    if (reason === undefined) {
      this.#accepted++;
      this.#options.onAccept?.(topic, operation);
      return true;
    }
    const key = `${topic}|${reason}`;
    this.#dropped.set(key, (this.#dropped.get(key) ?? 0) + 1);
    this.#options.onDrop?.(topic, operation, reason);
    return false;
  }

  #check(topic: string, operation: string, args: readonly EventArg[], ctx: Map<string, string>, now: number): DropReason | undefined {
    const hasSignature = ctx.has(CTX.mac) || ctx.has(CTX.version);
    if (!hasSignature) return this.#options.allowUnsigned ? undefined : "unsigned";
    if (ctx.get(CTX.version) !== "1") return "forged";
    const tsText = ctx.get(CTX.ts) ?? "";
    const nonce = ctx.get(CTX.nonce) ?? "";
    if (!/^\d{1,16}$/.test(tsText) || !/^[0-9a-f]{32}$/.test(nonce)) return "forged";
    if (!this.#signer.macMatches(topic, operation, args, ctx)) return "forged";
    const skewMs = this.#options.maxSkewSeconds * 1000;
    const ts = Number(tsText);
    if (Math.abs(now - ts) > skewMs) return "stale";
    this.#prune(now, skewMs);
    if (this.#seen.has(nonce)) return "replayed";
    this.#seen.set(nonce, ts);
    return undefined;
  }

  #prune(now: number, skewMs: number): void {
    if (now - this.#lastPrune < 1000 && this.#seen.size < 100_000) return;
    this.#lastPrune = now;
    for (const [nonce, ts] of this.#seen) if (now - ts > 2 * skewMs) this.#seen.delete(nonce);
  }

  /** Dropped events per topic and reason, and the accepted count. */
  counters(): { accepted: number; dropped: Record<string, Record<string, number>> } {
    const dropped: Record<string, Record<string, number>> = {};
    for (const [key, n] of this.#dropped) {
      const [topic, reason] = key.split("|") as [string, string];
      (dropped[topic] ??= {})[reason] = n;
    }
    return { accepted: this.#accepted, dropped };
  }
}
