/** Trying to reach a peer a few times, with a pause between attempts (spec §8: 3 × 10 s). */
import { isTransportFailure } from "./linkErrors.js";

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  delayMs: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = { attempts: 3, delayMs: 10_000 };

export type Sleep = (ms: number) => Promise<void>;
export const sleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryHooks {
  /** Called before each pause: the attempt that failed (1-based) and why. */
  onRetry?(attempt: number, error: unknown, delayMs: number): void;
  /** Which failures are worth another attempt [transport failures]. */
  retryable?(error: unknown): boolean;
  sleep?: Sleep;
}

/**
 * Runs `attempt` until it succeeds or `policy.attempts` have failed; a non-retryable failure ends
 * it at once. Throws the last failure.
 */
export async function withRetries<T>(policy: RetryPolicy, attempt: (n: number) => Promise<T>, hooks: RetryHooks = {}): Promise<T> {
  const retryable = hooks.retryable ?? isTransportFailure;
  const pause = hooks.sleep ?? sleep;
  const attempts = Math.max(1, policy.attempts);
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      if (n >= attempts || !retryable(e)) throw e;
      hooks.onRetry?.(n, e, policy.delayMs);
      await pause(policy.delayMs);
    }
  }
}
