/**
 * The deployment secret (spec §1, §3, §7.1): 32 random bytes, hex, in `<data>/secret` (mode 0600),
 * created by the first `up`. Keys for tokens and event signatures are derived from it with HKDF;
 * the secret itself is never logged.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export class SecretError extends Error {
  override name = "SecretError";
}

/** Reads the secret file; throws a SecretError that names the file (never its content). */
export function readSecret(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new SecretError(`cannot read the deployment secret ${file} (run \`iceflix up\` once, or set IceFlix.Secret.File)`, {
      cause: e,
    });
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new SecretError(`${file} is not a 32-byte hex secret`);
  return Buffer.from(text, "hex");
}

/** Creates the secret file if missing (exclusive create, so concurrent starters agree); returns it. */
export function ensureSecret(file: string): Buffer {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, randomBytes(32).toString("hex") + "\n", { flag: "wx", mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  // Only when needed: a read-only data folder with a good secret must not fail here.
  if ((statSync(file).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
  return readSecret(file);
}

/**
 * `IceFlix.Secret.Create=0` (an IceGrid deployment: one secret file copied to every host): the
 * file named by IceFlix.Secret.File must exist; a service must not make up a secret of its own,
 * which would split the deployment. Throws a SecretError naming the file.
 */
export function checkSharedSecret(props: { getProperty(name: string): string }): void {
  if (props.getProperty("IceFlix.Secret.Create").trim() !== "0") return;
  const file = props.getProperty("IceFlix.Secret.File").trim();
  if (!file) throw new SecretError("IceFlix.Secret.Create=0 needs IceFlix.Secret.File (the deployment secret every host shares)");
  readSecret(file);
}

/** HKDF-SHA256(secret, empty salt, info, 32 bytes). */
export function deriveKey(secret: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), Buffer.from(info, "utf8"), 32));
}
