/**
 * Bounds the password KDF work of one Authenticator. Every well-formed login costs a 16 MiB scrypt
 * (unknown users too, so timing does not reveal names), so a flood of logins would otherwise take
 * every libuv pool thread (file work of the service waits behind it) and queue without bound, making
 * every login wait behind work whose callers have long given up. Here at most `concurrency`
 * derivations run at once (one per core: more only adds contention), at most `maxQueued` wait
 * (FIFO), and a waiter older than `maxWaitMs` is refused without running the KDF.
 */
import { availableParallelism } from "node:os";

/** The limiter refused the work: too many waiting, or waited too long. Reported as IceFlixExt.Busy. */
export class KdfBusyError extends Error {
  override name = "KdfBusyError";
}

export interface KdfLimits {
  /** Derivations running at once. @default the number of cores, at most 4 (libuv's pool size) */
  concurrency: number;
  /** Waiting derivations beyond which new ones are refused at once. @default 1024 */
  maxQueued: number;
  /** A derivation that waited longer is refused (its caller has most likely timed out). @default 30000 */
  maxWaitMs: number;
}

export const DEFAULT_KDF_LIMITS: Readonly<KdfLimits> = {
  concurrency: Math.max(1, Math.min(4, availableParallelism())),
  maxQueued: 1024,
  maxWaitMs: 30_000,
};

interface Waiter {
  enqueuedAt: number;
  start: () => void;
  refuse: (e: KdfBusyError) => void;
}

export class KdfLimiter {
  readonly #limits: KdfLimits;
  readonly #now: () => number;
  readonly #queue: Waiter[] = [];
  #running = 0;
  /** Derivations refused since start (for logs and tests). */
  refused = 0;

  constructor(limits: Partial<KdfLimits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_KDF_LIMITS, ...limits };
    if (!(this.#limits.concurrency >= 1)) throw new RangeError("concurrency must be ≥ 1");
    this.#now = now;
  }

  get running(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Runs `derive` when a slot is free; KdfBusyError when the queue is full or the wait too long. */
  async run<T>(derive: () => Promise<T>): Promise<T> {
    if (this.#running < this.#limits.concurrency) {
      this.#running++;
    } else {
      if (this.#queue.length >= this.#limits.maxQueued) throw this.#refuse(`${this.#queue.length} logins already waiting`);
      // Resolved by #release, which hands its slot over: #running already counts this caller.
      await new Promise<void>((start, refuse) => this.#queue.push({ enqueuedAt: this.#now(), start, refuse }));
    }
    try {
      return await derive();
    } finally {
      this.#release();
    }
  }

  /** Hands the slot to the oldest waiter still worth serving, else frees it. */
  #release(): void {
    while (this.#queue.length) {
      const waiter = this.#queue.shift()!;
      const waited = this.#now() - waiter.enqueuedAt;
      if (waited > this.#limits.maxWaitMs) {
        waiter.refuse(this.#refuse(`waited ${waited} ms for a free slot`));
        continue;
      }
      waiter.start();
      return;
    }
    this.#running--;
  }

  #refuse(why: string): KdfBusyError {
    this.refused++;
    return new KdfBusyError(`too many logins at once (${why}); try again shortly`);
  }
}
