/**
 * What the Authenticator and `iceflix user …` need of a users store (spec §3): credential records
 * (salted scrypt of the client hash, never the hash), the time of each user's last password
 * change or creation (tokens issued before it are invalid), removal stamps, and per-user login
 * throttling shared by every replica. Two implementations: SQLite (`<data>/users.db`) and
 * PostgreSQL. UserStore puts the login rules on top.
 */
import type { StorageCondition } from "../../runtime/storageErrors.js";

export interface Credential {
  salt: Buffer;
  key: Buffer;
  /** The KDF parameters the key was derived with (passwordKdf.encodeParams). */
  kdf: string;
}

export interface UserRecord extends Credential {
  name: string;
  /** ms since the epoch: creation or last password change. */
  changedAt: number;
  failedCount: number;
  /** ms since the epoch; 0 = not locked. */
  lockedUntil: number;
}

/** A users row as both stores select it (snake_case columns). */
export interface UserRow {
  name: string;
  salt: Buffer;
  key: Buffer;
  kdf: string;
  changed_at: number;
  failed_count: number;
  locked_until: number;
}

export function toRecord(row: UserRow): UserRecord {
  return {
    name: row.name,
    salt: row.salt,
    key: row.key,
    kdf: row.kdf,
    changedAt: row.changed_at,
    failedCount: row.failed_count,
    lockedUntil: row.locked_until,
  };
}

export interface UserRecordStore {
  /** Where it is, for log lines and errors: a file, or a URL without credentials. */
  readonly location: string;
  find(name: string): Promise<UserRecord | undefined>;
  names(): Promise<string[]>;
  /** false (nothing changed) when the user exists. */
  insert(name: string, credential: Credential, now: number): Promise<boolean>;
  /** New credential, throttling cleared; false when there is no such user. */
  updateCredential(name: string, credential: Credential, now: number): Promise<boolean>;
  /** Removes the user and stamps the removal; false when there is no such user. */
  delete(name: string, now: number): Promise<boolean>;
  setThrottle(name: string, failedCount: number, lockedUntil: number): Promise<void>;
  /**
   * The changedAt of a user, answered synchronously on every token check: from the file
   * (SQLite) or from memory kept in step with the database (PostgreSQL), so token checks keep
   * working while a networked store is down. undefined: no such user.
   */
  validSince(name: string): number | undefined;
  /** Changes whenever a user was added, removed or given a new password by any writer; cheap to poll. */
  changeStamp(): number;
  /** The condition the last write failed with, if none succeeded since. */
  readonly failing: StorageCondition | undefined;
  close(): Promise<void>;
}
