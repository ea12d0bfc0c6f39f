/**
 * The users (spec §3) on top of a UserRecordStore (SQLite or PostgreSQL): adding, removing and
 * changing passwords, and logins with per-user throttling of failures kept in the store, so that
 * round-robin over replicas does not get around it.
 *
 * Storage faults: an add/passwd/remove the store cannot take throws a StorageFault (nothing
 * changed). A login needs to read the record: a store that cannot be read (a database down)
 * throws a StorageFault (the servant answers Busy). When only the throttling bookkeeping cannot
 * be written, the login still succeeds or fails on its password, and throttling is kept in this
 * process's memory until the store takes writes again (logged once by the store).
 */
import { StorageFault } from "../../runtime/storageErrors.js";
import { credentialMatches, DEFAULT_KDF, deriveCredential, newCredential } from "./passwordKdf.js";
import type { UserRecordStore } from "./userRecordStore.js";

const DUMMY_SALT = Buffer.alloc(16);

/** Spec §10: 1–64 characters, no control characters. */
export function isValidUserName(name: unknown): name is string {
  return typeof name === "string" && name.length >= 1 && [...name].length <= 64 && !/[\p{Cc}]/u.test(name);
}

export class UserStoreError extends Error {
  override name = "UserStoreError";
}

/** Failed logins beyond this many in a row lock the user for a doubling delay (max 60 s). */
const FREE_FAILURES = 3;
const MAX_LOCK_MS = 60_000;

export type LoginResult = { ok: true } | { ok: false; reason: "unknown" | "wrong" | "throttled" };

export class UserStore {
  readonly #records: UserRecordStore;
  /** Throttling of logins whose bookkeeping the store could not take (disk full, database down). */
  readonly #memoryThrottle = new Map<string, { failed: number; lockedUntil: number }>();

  constructor(records: UserRecordStore) {
    this.#records = records;
  }

  /** Where the users are (a file, or a URL without credentials). */
  get location(): string {
    return this.#records.location;
  }

  close(): Promise<void> {
    return this.#records.close();
  }

  /** Changes whenever any writer (CLI or replica) adds, removes or changes a user; cheap to poll. */
  dataVersion(): number {
    return this.#records.changeStamp();
  }

  async has(name: string): Promise<boolean> {
    return (await this.#records.find(name)) !== undefined;
  }

  list(): Promise<string[]> {
    return this.#records.names();
  }

  /**
   * The time (ms) before which this user's tokens are invalid: their last password change or
   * creation; undefined when the user does not exist (removed ones included).
   */
  validSince(name: string): number | undefined {
    return this.#records.validSince(name);
  }

  async add(name: string, passwordHash: string, now = Date.now()): Promise<void> {
    if (!isValidUserName(name)) throw new UserStoreError("a user name is 1–64 characters without control characters");
    const credential = await newCredential(passwordHash);
    if (!(await this.#records.insert(name, credential, now))) throw new UserStoreError(`user ${name} already exists`);
  }

  async setPassword(name: string, passwordHash: string, now = Date.now()): Promise<void> {
    const credential = await newCredential(passwordHash);
    if (!(await this.#records.updateCredential(name, credential, now))) throw new UserStoreError(`no user ${name}`);
    this.#memoryThrottle.delete(name);
  }

  async remove(name: string, now = Date.now()): Promise<void> {
    if (!(await this.#records.delete(name, now))) throw new UserStoreError(`no user ${name}`);
  }

  /**
   * Checks a login, with per-user throttling of failures. The password check needs the record
   * (a read); when the throttling bookkeeping cannot be written, it is kept in memory instead.
   */
  async login(name: string, passwordHash: string, now = Date.now()): Promise<LoginResult> {
    const row = await this.#records.find(name);
    if (!row) {
      // Same cost as a real check, so timing does not tell which user names exist.
      await deriveCredential(passwordHash, DUMMY_SALT, DEFAULT_KDF);
      return { ok: false, reason: "unknown" };
    }
    const memory = this.#memoryThrottle.get(name);
    const failedBefore = Math.max(row.failedCount, memory?.failed ?? 0);
    if (Math.max(row.lockedUntil, memory?.lockedUntil ?? 0) > now) return { ok: false, reason: "throttled" };
    if (await credentialMatches(passwordHash, row.salt, row.key, row.kdf)) {
      if (row.failedCount > 0) await this.#bookkeeping(name, 0, 0);
      this.#memoryThrottle.delete(name);
      return { ok: true };
    }
    const failures = failedBefore + 1;
    const lockMs = failures > FREE_FAILURES ? Math.min(MAX_LOCK_MS, 1000 * 2 ** (failures - FREE_FAILURES - 1)) : 0;
    const lockedUntil = lockMs ? now + lockMs : 0;
    if (!(await this.#bookkeeping(name, failures, lockedUntil))) this.#memoryThrottle.set(name, { failed: failures, lockedUntil });
    else this.#memoryThrottle.delete(name);
    return { ok: false, reason: "wrong" };
  }

  /** Stores a user's throttling state; false (logged once by the store) when it cannot take it. */
  async #bookkeeping(name: string, failed: number, lockedUntil: number): Promise<boolean> {
    try {
      await this.#records.setThrottle(name, failed, lockedUntil);
      return true;
    } catch (e) {
      if (e instanceof StorageFault) return false;
      throw e;
    }
  }
}
