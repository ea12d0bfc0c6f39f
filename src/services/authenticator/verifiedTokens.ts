/**
 * Tokens whose MAC this replica has already verified (spec §3), so a repeated isAuthorized of the
 * same token is a Map lookup instead of a parse and an HMAC. Only the signature check is
 * remembered: expiry, the revoked set and the user's password-change stamp are still checked on
 * every call by the caller. Bounded: at most `capacity` tokens (the oldest verified goes first),
 * each dropped once it expires (on lookup, and by sweep()).
 *
 * The lookup is by the whole token string: finding an entry requires presenting a token this
 * replica verified, so it reveals nothing that would help forge one.
 */
import type { TokenClaims } from "./tokens.js";

export const VERIFIED_TOKENS_CAPACITY = 10_000;

export class VerifiedTokens {
  readonly #claims = new Map<string, TokenClaims>();
  readonly #capacity: number;

  constructor(capacity = VERIFIED_TOKENS_CAPACITY) {
    this.#capacity = capacity;
  }

  /** The claims of a verified token not expired by `now`, else undefined. */
  get(token: string, now: number): TokenClaims | undefined {
    const claims = this.#claims.get(token);
    if (claims === undefined) return undefined;
    if (claims.expiresAt <= now) {
      this.#claims.delete(token);
      return undefined;
    }
    return claims;
  }

  /** Remembers a token whose MAC checked (only while it is not expired). */
  add(token: string, claims: TokenClaims, now: number): void {
    if (claims.expiresAt <= now) return;
    if (this.#claims.size >= this.#capacity) {
      const oldest = this.#claims.keys().next();
      if (!oldest.done) this.#claims.delete(oldest.value);
    }
    this.#claims.set(token, claims);
  }

  delete(token: string): void {
    this.#claims.delete(token);
  }

  /** Drops the tokens expired by `now`. */
  sweep(now: number): void {
    for (const [token, claims] of this.#claims) if (claims.expiresAt <= now) this.#claims.delete(token);
  }

  get size(): number {
    return this.#claims.size;
  }
}
