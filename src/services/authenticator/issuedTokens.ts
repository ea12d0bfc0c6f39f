/**
 * What one Authenticator replica remembers (spec §3): the tokens it issued until they expire,
 * and the tokens revoked by any replica until they would have expired anyway. Both are bounded
 * by the login rate × the token lifetime.
 */
import type { TokenClaims } from "./tokens.js";

export class IssuedTokens {
  readonly #issued = new Map<string, TokenClaims>(); // token → claims
  readonly #revoked = new Map<string, number>(); // token → expiry ms

  remember(token: string, claims: TokenClaims): void {
    this.#issued.set(token, claims);
  }

  isRevoked(token: string): boolean {
    return this.#revoked.has(token);
  }

  /** Marks a token revoked; returns false if it already was (subscribers de-duplicate). */
  revoke(token: string, expiresAt: number): boolean {
    this.#issued.delete(token);
    if (this.#revoked.has(token)) return false;
    this.#revoked.set(token, expiresAt);
    return true;
  }

  /** Removes and returns the issued tokens that expired by `now`; forgets old revocations. */
  takeExpired(now: number): string[] {
    const expired: string[] = [];
    for (const [token, claims] of this.#issued) {
      if (claims.expiresAt <= now) {
        expired.push(token);
        this.#issued.delete(token);
      }
    }
    for (const [token, expiresAt] of this.#revoked) if (expiresAt <= now) this.#revoked.delete(token);
    return expired;
  }

  /** Removes and returns the live issued tokens of users for which `invalid(user, issuedAt)` holds. */
  takeWhere(invalid: (claims: TokenClaims) => boolean): Array<[string, TokenClaims]> {
    const out: Array<[string, TokenClaims]> = [];
    for (const [token, claims] of this.#issued) {
      if (invalid(claims)) {
        out.push([token, claims]);
        this.#issued.delete(token);
      }
    }
    return out;
  }

  users(): Set<string> {
    return new Set([...this.#issued.values()].map((c) => c.user));
  }

  get issuedCount(): number {
    return this.#issued.size;
  }
}
