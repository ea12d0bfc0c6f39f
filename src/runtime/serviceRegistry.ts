/**
 * The registry of one kind of service instance (spec §2), shared by Main, Catalog and
 * StreamProvider: de-duplicated by announced id, handed out round-robin, each candidate pinged
 * (bounded by the call timeout) before it is handed out and removed if the ping fails. Instances
 * silent for `silentAfterMs` are pinged by sweep() and removed only if that fails (other
 * implementations announce once). An instance removed because it stopped answering is pinged
 * again by sweep() for a while (LOST_RECHECK_PERIODS × silentAfterMs) and re-registered when it
 * answers: after a network partition heals, its announcements may stay stuck behind the broker's
 * own connection to us for seconds, its ping through a fresh connection is not.
 */
import { EventEmitter } from "node:events";
import { Ice } from "../slice/index.js";
import { callDroppingStuckConnection } from "./staleConnection.js";
import type { Logger } from "./logger.js";
import { metrics } from "./metrics.js";

/** Why an instance left a registry (the iceflix_registry_removals_total cause label). */
export type RemovalCause = "replaced" | "not_answering" | "removed";

export interface RegisteredInstance<P> {
  readonly id: string;
  readonly proxy: P;
  /**
   * The proxy bounded by the liveness-check timeout, made once per instance: for checks other
   * than ice_ping (the catalog's isAvailable before a getTile hand-out).
   */
  readonly boundedProxy: P;
  /** ms since the epoch of the last announcement. */
  readonly lastSeen: number;
  /** Result of the last liveness check (true until one fails). */
  readonly healthy: boolean;
}

/**
 * Added to the announce period for a registry's warm-up: the announcement, and what it sets
 * off (a catalog's reannounceMedia and the newMedia that follow), take a moment to arrive.
 */
export const WARM_UP_MARGIN_MS = 1000;

/** How long (in silentAfterMs) an instance that stopped answering is still re-pinged by sweep(). */
export const LOST_RECHECK_PERIODS = 2;

export interface ServiceRegistryOptions {
  /** Bound of each liveness ping. */
  pingTimeoutMs: number;
  /** Silence after which sweep() pings an instance. */
  silentAfterMs: number;
  /**
   * Warm-up: for this long after the registry is created its instances are still being learned
   * (each announces once per period), so pick() with no live instance waits for one to be
   * announced instead of answering "none" at once; a just-started service must not refuse calls
   * (TemporaryUnavailable, Unauthorized) that it can serve a moment later. Default 0: no wait.
   */
  warmUpMs?: number;
  log: Logger;
}

export type RegistryEvents<P> = {
  added: [RegisteredInstance<P>];
  removed: [RegisteredInstance<P>, string];
};

interface Entry<P> {
  id: string;
  proxy: P;
  /** `proxy` bounded by the ping timeout, made once: a new proxy per ping would also start without a cached connection. */
  boundedProxy: P;
  lastSeen: number;
  healthy: boolean;
  /** The ping in flight for pick(), which concurrent picks share (see #check). */
  check?: Promise<boolean>;
}

/** What callOne() resolves when no instance answered. */
export const NO_ANSWER: unique symbol = Symbol("no instance answered");

export class ServiceRegistry<P extends Ice.ObjectPrx> extends EventEmitter<RegistryEvents<P>> {
  readonly kind: string;
  readonly #instances = new Map<string, Entry<P>>();
  /** #instances' values as an array, until the next change (see #entries). */
  #inOrder: Entry<P>[] | undefined;
  readonly #options: ServiceRegistryOptions;
  readonly #warmUntil: number;
  /** Instances removed for not answering, by id: re-pinged by sweep() until lostAt + the recheck window. */
  readonly #lost = new Map<string, { proxy: P; boundedProxy: P; lostAt: number }>();
  #cursor = 0;

  constructor(kind: string, options: ServiceRegistryOptions) {
    super();
    this.kind = kind;
    this.#options = options;
    this.#warmUntil = Date.now() + (options.warmUpMs ?? 0);
    this.setMaxListeners(0); // every pick waiting out the warm-up listens for "added"
  }

  /** When the warm-up ends (ms since the epoch). */
  get warmUntil(): number {
    return this.#warmUntil;
  }

  /** Records an announcement; returns true when the id was not known. */
  announce(id: string, proxy: P, now = Date.now()): boolean {
    this.#lost.delete(id);
    const known = this.#instances.get(id);
    if (known) {
      // Kept when equal, so the proxies made from it (and their cached connections) stay in use.
      if (known.proxy !== proxy && known.proxy.toString() !== proxy.toString()) {
        known.proxy = proxy;
        known.boundedProxy = this.#bounded(proxy);
      }
      known.lastSeen = now;
      return false;
    }
    // An instance restarted on the same endpoint announces a new id: the old id is that same
    // process slot, and pings to it would wrongly succeed.
    const text = proxy.toString();
    for (const other of [...this.#instances.values()]) {
      if (other.proxy.toString() === text) this.remove(other.id, `replaced by ${id} on the same endpoint`, "replaced");
    }
    for (const [lostId, lost] of this.#lost) if (lost.proxy.toString() === text) this.#lost.delete(lostId);
    const entry: Entry<P> = { id, proxy, boundedProxy: this.#bounded(proxy), lastSeen: now, healthy: true };
    this.#instances.set(id, entry);
    this.#inOrder = undefined;
    this.#options.log.info({ kind: this.kind, id, proxy: proxy.toString() }, "instance registered");
    this.emit("added", this.#public(entry));
    return true;
  }

  remove(id: string, reason = "removed", cause: RemovalCause = "removed"): void {
    const entry = this.#instances.get(id);
    if (!entry) return;
    this.#instances.delete(id);
    this.#inOrder = undefined;
    metrics.registryRemovals.inc({ kind: this.kind, cause });
    this.#options.log.warn({ kind: this.kind, id, reason }, "instance removed");
    this.emit("removed", this.#public(entry), reason);
  }

  /** Removes an instance that did not answer; sweep() keeps pinging it for a while (see above). */
  removeUnanswering(id: string, reason: string, now = Date.now()): void {
    const entry = this.#instances.get(id);
    if (!entry) return;
    this.remove(id, reason, "not_answering");
    this.#lost.set(id, { proxy: entry.proxy, boundedProxy: entry.boundedProxy, lostAt: now });
  }

  get size(): number {
    return this.#instances.size;
  }

  has(id: string): boolean {
    return this.#instances.has(id);
  }

  get(id: string): RegisteredInstance<P> | undefined {
    const e = this.#instances.get(id);
    return e ? this.#public(e) : undefined;
  }

  list(): RegisteredInstance<P>[] {
    return [...this.#instances.values()].map((e) => this.#public(e));
  }

  /** The registered entries in registration order, kept between changes (not a copy per pick). */
  #entries(): readonly Entry<P>[] {
    return (this.#inOrder ??= [...this.#instances.values()]);
  }

  /** A copy of what callers may see of an entry. */
  #public(e: Entry<P>): RegisteredInstance<P> {
    return { id: e.id, proxy: e.proxy, boundedProxy: e.boundedProxy, lastSeen: e.lastSeen, healthy: e.healthy };
  }

  /**
   * The next live instance, round-robin. Every candidate is tried (pinged) before giving up;
   * dead ones are removed. Resolves undefined when none is alive (during the warm-up, only once
   * it has ended with none announced).
   */
  pick(): Promise<P | undefined> {
    // Fast path, one promise per hand-out (this runs on every Main hand-out):
    // the next candidate's check; anything else (a failed check, none registered) goes the long way.
    const candidates = this.#instances.size;
    if (candidates === 0) return this.#pickTryingAll();
    const entry = this.#entries()[this.#cursor++ % candidates]!;
    return this.#check(entry).then((alive) => {
      if (alive) {
        entry.healthy = true;
        return entry.proxy;
      }
      this.#checkFailed(entry);
      return this.#pickTryingAll();
    });
  }

  /** pick() the long way: every candidate tried; during the warm-up, waits for announcements. */
  async #pickTryingAll(): Promise<P | undefined> {
    for (;;) {
      const found = await this.#pickOnce();
      const remaining = this.#warmUntil - Date.now();
      if (found || remaining <= 0) return found;
      await this.#nextAnnounced(remaining);
    }
  }

  /**
   * For callers that use an instance themselves instead of handing it out (token checks): runs
   * `call` on the instances round-robin until one answers. The call is the liveness check, so
   * there is no ping before it; an instance whose call fails with an Ice local exception is
   * removed as if its ping had failed, and the next is tried. Resolves `NO_ANSWER` when none
   * answered (during the warm-up, only once it has ended with none announced).
   */
  async callOne<T>(call: (proxy: P) => PromiseLike<T>): Promise<T | typeof NO_ANSWER> {
    for (;;) {
      const candidates = this.#entries();
      const start = this.#cursor++;
      for (let i = 0; i < candidates.length; i++) {
        const entry = candidates[(start + i) % candidates.length]!;
        if (!this.#instances.has(entry.id)) continue;
        try {
          const value = await call(entry.proxy);
          entry.healthy = true;
          return value;
        } catch (e) {
          if (!(e instanceof Ice.LocalException)) throw e;
          this.#options.log?.debug({ kind: this.kind, error: e.ice_id() }, "call failed");
          this.#checkFailed(entry);
        }
      }
      const remaining = this.#warmUntil - Date.now();
      if (remaining <= 0 || this.#instances.size > 0) return NO_ANSWER;
      await this.#nextAnnounced(remaining);
    }
  }

  /** Resolves when an instance is added, or after timeoutMs. */
  #nextAnnounced(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off("added", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.once("added", done);
    });
  }

  async #pickOnce(): Promise<P | undefined> {
    const candidates = this.#entries();
    if (candidates.length === 0) return undefined;
    const start = this.#cursor++ % candidates.length;
    for (let i = 0; i < candidates.length; i++) {
      const entry = candidates[(start + i) % candidates.length]!;
      if (!this.#instances.has(entry.id)) continue;
      if (await this.#check(entry)) {
        entry.healthy = true;
        return entry.proxy;
      }
      this.#checkFailed(entry);
    }
    return undefined;
  }

  #checkFailed(entry: Entry<P>): void {
    entry.healthy = false;
    if (this.#instances.get(entry.id) === entry) this.removeUnanswering(entry.id, "liveness ping failed");
  }

  /**
   * The liveness ping of a pick. Picks that start while one is in flight share it: its answer
   * arrives after each of them started, so every hand-out is still checked after it was asked
   * for; under load that is one ping per round trip instead of one per call. A finished ping is
   * never reused.
   */
  #check(entry: Entry<P>): Promise<boolean> {
    if (entry.check) return entry.check;
    const check = this.#isAlive(entry.boundedProxy).finally(() => {
      if (entry.check === check) entry.check = undefined;
    });
    entry.check = check;
    return check;
  }

  /** Pings instances silent for silentAfterMs; removes those that do not answer. */
  async sweep(now = Date.now()): Promise<void> {
    const silent = [...this.#instances.values()].filter((e) => now - e.lastSeen >= this.#options.silentAfterMs);
    await Promise.all(
      silent.map(async (entry) => {
        const alive = await this.#isAlive(entry.boundedProxy);
        entry.healthy = alive;
        if (!alive) this.removeUnanswering(entry.id, `silent for ${Math.round((now - entry.lastSeen) / 1000)} s and not answering`, now);
      }),
    );
    await this.#recheckLost(now);
  }

  /** Pings the instances lost recently; one that answers again is registered again. */
  async #recheckLost(now: number): Promise<void> {
    const windowMs = LOST_RECHECK_PERIODS * this.#options.silentAfterMs;
    const registered = new Set([...this.#instances.values()].map((e) => e.proxy.toString()));
    const candidates = [...this.#lost].filter(([id, lost]) => {
      // Forgotten when too old, or when its endpoint now serves another id (a restarted process).
      const keep = now - lost.lostAt <= windowMs && !registered.has(lost.proxy.toString());
      if (!keep) this.#lost.delete(id);
      return keep;
    });
    await Promise.all(
      candidates.map(async ([id, lost]) => {
        if (!(await this.#isAlive(lost.boundedProxy)) || this.#lost.get(id) !== lost) return;
        this.#lost.delete(id);
        this.#options.log.info({ kind: this.kind, id }, "instance answers again");
        this.announce(id, lost.proxy);
      }),
    );
  }

  #bounded(proxy: P): P {
    return proxy.ice_invocationTimeout(this.#options.pingTimeoutMs) as P;
  }

  /** Pings `boundedProxy` (a proxy already bounded by the ping timeout). */
  async #isAlive(boundedProxy: P): Promise<boolean> {
    try {
      await callDroppingStuckConnection(boundedProxy, (p) => p.ice_ping());
      return true;
    } catch (e) {
      if (!(e instanceof Ice.LocalException)) throw e;
      this.#options.log?.debug({ kind: this.kind, error: e.ice_id() }, "liveness ping failed");
      return false;
    }
  }
}
