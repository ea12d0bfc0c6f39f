/**
 * Follows the token a stream runs on (spec §6) and reports, once per token, that it lapsed:
 * revoked (a signed AuthenticationStatus event, fanned out by the provider), expired (at the
 * expiry decoded from the token), or no longer valid to an Authenticator (asked every period, so
 * a lost revoke event cannot keep a stream alive; with no Authenticator reachable the answer is
 * "invalid", spec §0).
 */
import type { Logger } from "../../runtime/logger.js";

export type LapseReason = "revoked" | "expired" | "invalid";

export interface TokenWatchOptions {
  isValid(token: string): Promise<boolean>;
  /** How often validity is asked (the announce period). */
  checkEveryMs: number;
  onLapse(reason: LapseReason): void;
  log: Logger;
}

/** setTimeout's limit; a later expiry is left to the periodic check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class TokenWatch {
  #token: string | undefined;
  #lapsed = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly options: TokenWatchOptions) {}

  /** Follows `token` from now on (a new token clears a lapse). */
  follow(token: string, expiresAt: number | undefined, now = Date.now()): void {
    if (this.#stopped) return;
    this.#token = token;
    this.#lapsed = false;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (expiresAt !== undefined) {
      const ms = expiresAt - now;
      if (ms <= 0) this.#lapse(token, "expired");
      else if (ms <= MAX_TIMER_MS) this.#expiryTimer = setTimeout(() => this.#lapse(token, "expired"), ms).unref();
    }
    this.#checkTimer ??= setTimeout(() => void this.#check(), this.options.checkEveryMs).unref();
  }

  /** A revoke event that passed the gate. */
  revoked(token: string): void {
    this.#lapse(token, "revoked");
  }

  /** True while following `token`. */
  follows(token: string): boolean {
    return this.#token === token;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#checkTimer);
  }

  #lapse(token: string, reason: LapseReason): void {
    // An answer about a token that was replaced meanwhile says nothing about the current one.
    if (this.#stopped || this.#lapsed || token !== this.#token) return;
    this.#lapsed = true;
    this.options.onLapse(reason);
  }

  async #check(): Promise<void> {
    const token = this.#token;
    if (token !== undefined && !this.#lapsed) {
      try {
        if (!(await this.options.isValid(token))) this.#lapse(token, "invalid");
      } catch (e) {
        this.options.log.warn({ error: String(e) }, "cannot check a stream's token; will check again");
      }
    }
    if (!this.#stopped) this.#checkTimer = setTimeout(() => void this.#check(), this.options.checkEveryMs).unref();
  }
}
