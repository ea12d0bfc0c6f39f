/**
 * Tokens (spec §3): opaque to clients; inside, HMAC-SHA256-signed (user, issued-at ms, expiry ms,
 * 128-bit nonce) with a key derived from the deployment secret (HKDF-SHA256, info
 * "iceflix tokens v1"), so every replica validates any replica's token with no shared state.
 *
 * Wire form (documented for other implementations):
 *   "v1." + base64url(payload) + "." + base64url(HMAC-SHA256(key, "v1." + base64url(payload)))
 *   payload = UTF-8 of user "\n" issuedAtMs "\n" expiresAtMs "\n" nonce (32 lowercase hex)
 * User names never contain control characters (spec §10), so "\n" is an unambiguous separator.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { deriveKey } from "../../runtime/secret.js";

export const TOKEN_KEY_INFO = "iceflix tokens v1";
/** Spec §10: a token argument longer than this is refused without parsing. */
export const MAX_TOKEN_BYTES = 4096;

export interface TokenClaims {
  user: string;
  issuedAt: number;
  expiresAt: number;
  nonce: string;
}

export class TokenCodec {
  readonly #key: Buffer;

  constructor(secret: Buffer) {
    this.#key = deriveKey(secret, TOKEN_KEY_INFO);
  }

  issue(user: string, lifetimeMs: number, now = Date.now()): { token: string; claims: TokenClaims } {
    const claims: TokenClaims = { user, issuedAt: now, expiresAt: now + lifetimeMs, nonce: randomBytes(16).toString("hex") };
    const payload = Buffer.from([claims.user, claims.issuedAt, claims.expiresAt, claims.nonce].join("\n"), "utf8").toString("base64url");
    const signed = `v1.${payload}`;
    return { token: `${signed}.${this.#mac(signed).toString("base64url")}`, claims };
  }

  /**
   * The claims of a token whose MAC checks, else undefined. Says nothing about expiry or
   * revocation: see Authenticator validation.
   */
  decode(token: string): TokenClaims | undefined {
    if (typeof token !== "string" || token.length > MAX_TOKEN_BYTES) return undefined;
    const parts = token.split(".");
    if (parts.length !== 3 || parts[0] !== "v1") return undefined;
    const [, payload, mac] = parts as [string, string, string];
    if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]{43}$/.test(mac)) return undefined;
    const expected = this.#mac(`v1.${payload}`);
    const given = Buffer.from(mac, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const fields = Buffer.from(payload, "base64url").toString("utf8").split("\n");
    if (fields.length !== 4) return undefined;
    const [user, issuedAt, expiresAt, nonce] = fields as [string, string, string, string];
    if (!/^\d+$/.test(issuedAt) || !/^\d+$/.test(expiresAt) || !/^[0-9a-f]{32}$/.test(nonce)) return undefined;
    return { user, issuedAt: Number(issuedAt), expiresAt: Number(expiresAt), nonce };
  }

  #mac(text: string): Buffer {
    return createHmac("sha256", this.#key).update(text, "utf8").digest();
  }
}
