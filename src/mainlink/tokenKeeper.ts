/**
 * The session's credentials and token (spec §3, §8). The password hash stays in memory only, to
 * get new tokens without asking again: before the token's lifetime runs out, after an
 * Unauthorized, and when a stream asks; logout forgets it. The clock is injected so the renewal
 * schedule can be tested without waiting.
 */
import { IceFlix } from "../slice/index.js";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * When to renew a token of `lifetimeSeconds`, in ms after it was issued: a quarter of the
 * lifetime early, at most 5 s early, never sooner than 250 ms.
 */
export function renewalDelayMs(lifetimeSeconds: number): number {
  const lifetimeMs = lifetimeSeconds * 1000;
  const margin = Math.min(5000, lifetimeMs / 4);
  return Math.max(250, Math.round(lifetimeMs - margin));
}

/** After a failed renewal (Authenticator away), the next try comes this much later. */
export function retryDelayMs(lifetimeSeconds: number): number {
  return Math.max(250, Math.min(5000, Math.round((lifetimeSeconds * 1000) / 8)));
}

export type RenewReason = "schedule" | "unauthorized" | "stream";

export interface TokenKeeperEvents {
  /** A new token (e.g. to hand it to a running stream). */
  renewed?(token: string, reason: RenewReason): void;
  /** A scheduled renewal failed for a reason other than the credentials (it is retried). */
  renewalFailed?(error: unknown): void;
  /** A scheduled renewal found the held credentials refused: the session is logged out. */
  credentialsRefused?(user: string): void;
}

/** Thrown when the held credentials no longer work (password changed, user removed). */
export class CredentialsRefused extends Error {
  override name = "CredentialsRefused";
  constructor(readonly user: string) {
    super(`the login of ${user} is no longer accepted (password changed or user removed); log in again`);
  }
}

/** Thrown by withToken when nobody is logged in. */
export class NotLoggedIn extends Error {
  override name = "NotLoggedIn";
  constructor() {
    super("log in first (login <user>)");
  }
}

export class TokenKeeper {
  #user: string | undefined;
  #hash: string | undefined;
  #token: string | undefined;
  #issuedAt: number | undefined;
  #lifetimeSeconds: number | undefined;
  #timer: unknown;
  #nextRenewalAt: number | undefined;
  #renewing: Promise<string> | undefined;
  #renewals = 0;
  /** Bumped at login and logout, so a renewal that finishes late does not revive old credentials. */
  #generation = 0;

  constructor(
    /** Asks an Authenticator: refreshAuthorization(user, passwordHash). */
    private readonly issue: (user: string, passwordHash: string) => Promise<string>,
    private readonly clock: Clock = systemClock,
    private readonly events: TokenKeeperEvents = {},
  ) {}

  get user(): string | undefined {
    return this.#user;
  }

  get token(): string | undefined {
    return this.#token;
  }

  get loggedIn(): boolean {
    return this.#token !== undefined;
  }

  /** Automatic renewals since login. */
  get renewals(): number {
    return this.#renewals;
  }

  get issuedAt(): number | undefined {
    return this.#issuedAt;
  }

  get nextRenewalAt(): number | undefined {
    return this.#nextRenewalAt;
  }

  /**
   * The token lifetime Main told us (MainExt.tokenLifetimeSeconds) or the configured one;
   * undefined: no scheduled renewal (renewed only after Unauthorized and on stream requests).
   */
  setLifetime(seconds: number | undefined): void {
    this.#lifetimeSeconds = seconds !== undefined && seconds > 0 ? seconds : undefined;
    if (this.#issuedAt !== undefined) this.#schedule(this.#issuedAt + (this.#lifetimeSeconds ? renewalDelayMs(this.#lifetimeSeconds) : 0));
  }

  /** Logs in; keeps the credentials only if the Authenticator accepts them. */
  async login(user: string, passwordHash: string): Promise<string> {
    const generation = ++this.#generation;
    const token = await this.issue(user, passwordHash);
    if (generation !== this.#generation) throw new Error("login superseded");
    this.#user = user;
    this.#hash = passwordHash;
    this.#renewals = 0;
    this.#accept(token);
    return token;
  }

  /** Forgets the token and the password hash; no renewal happens afterwards. */
  logout(): void {
    this.#generation++;
    this.#user = undefined;
    this.#hash = undefined;
    this.#token = undefined;
    this.#issuedAt = undefined;
    this.#renewing = undefined;
    this.#cancelTimer();
  }

  /**
   * A fresh token from the held credentials (one request however many callers ask at once).
   * Throws CredentialsRefused (and logs out) when the Authenticator refuses them.
   */
  renew(reason: RenewReason): Promise<string> {
    if (this.#user === undefined || this.#hash === undefined) return Promise.reject(new Error("not logged in"));
    this.#renewing ??= this.#renewOnce(reason).finally(() => (this.#renewing = undefined));
    return this.#renewing;
  }

  /**
   * Runs `call` with the token; after an Unauthorized, gets a fresh one with the held hash and
   * runs it once more (an Unauthorized then is the caller's to report). NotLoggedIn without a
   * login; CredentialsRefused when the hash no longer works.
   */
  async withToken<T>(call: (token: string) => PromiseLike<T>): Promise<T> {
    const token = this.#token;
    if (token === undefined) throw new NotLoggedIn();
    try {
      return await call(token);
    } catch (e) {
      if (!(e instanceof IceFlix.Unauthorized)) throw e;
    }
    return call(await this.renew("unauthorized"));
  }

  async #renewOnce(reason: RenewReason): Promise<string> {
    const generation = this.#generation;
    const user = this.#user!;
    let token: string;
    try {
      token = await this.issue(user, this.#hash!);
    } catch (e) {
      if (generation !== this.#generation) throw e;
      if (e instanceof IceFlix.Unauthorized) {
        this.logout();
        throw new CredentialsRefused(user);
      }
      throw e;
    }
    if (generation !== this.#generation) throw new Error("logged out meanwhile");
    this.#renewals++;
    this.#accept(token);
    this.events.renewed?.(token, reason);
    return token;
  }

  #accept(token: string): void {
    this.#token = token;
    this.#issuedAt = this.clock.now();
    if (this.#lifetimeSeconds) this.#schedule(this.#issuedAt + renewalDelayMs(this.#lifetimeSeconds));
    else this.#cancelTimer();
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextRenewalAt = undefined;
  }

  #schedule(at: number): void {
    this.#cancelTimer();
    if (!this.#lifetimeSeconds || this.#user === undefined) return;
    this.#nextRenewalAt = at;
    this.#timer = this.clock.setTimeout(() => void this.#scheduledRenewal(), Math.max(0, at - this.clock.now()));
  }

  async #scheduledRenewal(): Promise<void> {
    this.#timer = undefined;
    try {
      await this.renew("schedule");
    } catch (e) {
      // Nobody is waiting for this renewal: the events tell the user.
      if (e instanceof CredentialsRefused) return this.events.credentialsRefused?.(e.user);
      if (this.#user === undefined) return;
      this.events.renewalFailed?.(e);
      if (this.#lifetimeSeconds) this.#schedule(this.clock.now() + retryDelayMs(this.#lifetimeSeconds));
    }
  }
}
