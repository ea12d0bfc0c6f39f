/**
 * Tokens an Authenticator confirmed moments ago, so the calls that start one stream (getStream,
 * then getSDP with the same token) ask it once instead of twice. A confirmation counts for at
 * most `windowMs` (and never past the token's own expiry when we can read it); a signed revoke
 * event drops it at once. Periodic and expiry checks of running streams never use it
 * (StreamAuth.isValid asks every time). Bounded: the oldest confirmation goes first.
 */
export const CONFIRMED_TOKEN_WINDOW_MS = 1000;
export const CONFIRMED_TOKENS_CAPACITY = 1024;

interface Confirmation {
  at: number;
  expiresAt: number | undefined;
}

export class ConfirmedTokens {
  readonly #confirmed = new Map<string, Confirmation>();

  constructor(
    readonly windowMs = CONFIRMED_TOKEN_WINDOW_MS,
    readonly capacity = CONFIRMED_TOKENS_CAPACITY,
  ) {}

  get size(): number {
    return this.#confirmed.size;
  }

  /** Whether `token` was confirmed valid within the window and has not expired by `now`. */
  has(token: string, now = Date.now()): boolean {
    const c = this.#confirmed.get(token);
    if (c === undefined) return false;
    if (now - c.at < this.windowMs && (c.expiresAt === undefined || now < c.expiresAt)) return true;
    this.#confirmed.delete(token);
    return false;
  }

  /** An Authenticator said `token` is valid at `now`. */
  confirm(token: string, expiresAt: number | undefined, now = Date.now()): void {
    this.#confirmed.delete(token); // re-inserted last: the Map's order is the confirmation order
    if (this.#confirmed.size >= this.capacity) this.#confirmed.delete(this.#confirmed.keys().next().value!);
    this.#confirmed.set(token, { at: now, expiresAt });
  }

  /** A revoke event for `token` (or its user's change): it must be asked again. */
  forget(token: string): void {
    this.#confirmed.delete(token);
  }
}
