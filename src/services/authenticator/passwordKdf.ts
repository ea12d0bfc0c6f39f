/**
 * Stored credentials (spec §3): a salted scrypt of the client's hex SHA-256, never the hash
 * itself. Parameters are stored with each record so they can be raised later without breaking
 * existing users.
 */
import { metrics } from "../../runtime/metrics.js";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { KdfLimiter } from "./kdfLimiter.js";

export interface KdfParams {
  N: number;
  r: number;
  p: number;
  keyLength: number;
}

/** ~16 MiB and tens of ms per login on this machine class: slow for guessing, fine for logins. */
export const DEFAULT_KDF: KdfParams = { N: 1 << 14, r: 8, p: 1, keyLength: 32 };

export function encodeParams(p: KdfParams): string {
  return `scrypt:N=${p.N},r=${p.r},p=${p.p},len=${p.keyLength}`;
}

export function decodeParams(text: string): KdfParams {
  const m = /^scrypt:N=(\d+),r=(\d+),p=(\d+),len=(\d+)$/.exec(text);
  if (!m) throw new Error(`unknown KDF parameters: ${text}`);
  return { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]), keyLength: Number(m[4]) };
}

/** Process-wide, like the thread pool it protects: every derivation of this process goes through it. */
export const kdfLimiter = new KdfLimiter();
metrics.kdfQueued.track({}, () => kdfLimiter.queued);

/** One derivation, queued behind the limiter (KdfBusyError when it is saturated). */
export function deriveCredential(passwordHash: string, salt: Buffer, params: KdfParams): Promise<Buffer> {
  return kdfLimiter.run(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scrypt(passwordHash, salt, params.keyLength, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 }, (err, key) =>
          err ? reject(err) : resolve(key),
        ),
      ),
  );
}

export async function newCredential(passwordHash: string, params = DEFAULT_KDF): Promise<{ salt: Buffer; key: Buffer; kdf: string }> {
  const salt = randomBytes(16);
  return { salt, key: await deriveCredential(passwordHash, salt, params), kdf: encodeParams(params) };
}

export async function credentialMatches(passwordHash: string, salt: Buffer, key: Buffer, kdf: string): Promise<boolean> {
  const derived = await deriveCredential(passwordHash, salt, decodeParams(kdf));
  return derived.length === key.length && timingSafeEqual(derived, key);
}

/** The client sends the lowercase hex SHA-256 of the password; accept upper case too. */
export function normalizePasswordHash(hash: string): string | undefined {
  return typeof hash === "string" && /^[0-9a-fA-F]{64}$/.test(hash) ? hash.toLowerCase() : undefined;
}
