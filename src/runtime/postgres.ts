/**
 * PostgreSQL access shared by the catalog and users stores: a bounded pool, the classification of
 * driver errors into StorageFaults (an unreachable server is `unavailable`, reported on the wire as
 * Busy), and transactions with a deadline so that an edit is refused within the call timeout.
 *
 * Credentials: only the display URL (no user, no password) reaches messages; driver errors are not
 * passed on as causes, since their texts are not ours to vouch for.
 */
import pg from "pg";
import { StorageFault, type StorageCondition } from "./storageErrors.js";
import { withoutCredentials } from "./database.js";

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;
export type PgQueryable = Pick<pg.PoolClient, "query">;

export interface PostgresOptions {
  /** What one transaction may take before it is given up (and rolled back). */
  deadlineMs: number;
  /** Connections per pool. @default 4 */
  maxConnections?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/** Bounds derived from the inter-service call timeout: a refused edit answers well within it. */
export function postgresBoundsFor(callTimeoutMs: number): { deadlineMs: number } {
  return { deadlineMs: Math.max(200, Math.floor(callTimeoutMs * 0.5)) };
}

/** The client settings every IceFlix connection uses (pool and listener). */
export function clientConfig(url: string, options: PostgresOptions): pg.ClientConfig {
  const stepMs = Math.max(100, Math.floor(options.deadlineMs * 0.6));
  return {
    connectionString: url,
    connectionTimeoutMillis: stepMs,
    // Client-side bound of one statement (a server that stopped answering), and the server's own.
    query_timeout: stepMs,
    statement_timeout: stepMs,
    idle_in_transaction_session_timeout: Math.max(1000, options.deadlineMs * 4),
    keepAlive: true,
    keepAliveInitialDelayMillis: 1000,
    application_name: options.applicationName ?? "iceflix",
    // Short statements only: JIT compiling one whose estimate is high (a catch-up right after a
    // bulk load, before autovacuum's ANALYZE) cost ~100 ms for a 0.2 ms query.
    options: "-c jit=off",
  };
}

export function createPool(url: string, options: PostgresOptions, onIdleError: (e: Error) => void): PgPool {
  const pool = new pg.Pool({ ...clientConfig(url, options), max: options.maxConnections ?? 4, idleTimeoutMillis: 10_000 });
  // An idle connection the server closed (restart, kill): the pool drops it; without a listener
  // the error would end the process.
  pool.on("error", onIdleError);
  return pool;
}

const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED"]);
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection error|Client was closed|not queryable|database system is (starting up|shutting down|in recovery|not yet accepting)|terminating connection/i;

/** A short code for a driver error: the SQLSTATE or errno code, else a word for the message. */
function codeOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.length > 0) return code;
  const message = e instanceof Error ? e.message : String(e);
  if (/timeout/i.test(message)) return "TIMEOUT";
  if (/terminated|closed/i.test(message)) return "CONNECTION_LOST";
  return "UNKNOWN";
}

/** The storage condition of a driver error, or undefined when it is not a storage matter. */
export function classifyPostgresError(e: unknown): StorageCondition | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string") {
    if (CONNECTION_ERRORS.has(code)) return "unavailable";
    if (code === "53100") return "full"; // disk_full on the server
    if (code === "25006") return "read-only"; // read_only_sql_transaction (a standby)
    if (code.startsWith("28") || code === "42501") return "no-permission";
    if (code === "3D000") return "cannot-open"; // no such database
    if (code.startsWith("08") || code.startsWith("53") || code.startsWith("57P") || code === "57014") return "unavailable";
  }
  const message = e instanceof Error ? e.message : String(e);
  if (CONNECTION_MESSAGES.test(message)) return "unavailable";
  return undefined;
}

/** `e` as a StorageFault about the store at `display` (undefined when it is not a storage error). */
export function toPostgresFault(e: unknown, display: string, action: string): StorageFault | undefined {
  if (e instanceof StorageFault) return e;
  const condition = classifyPostgresError(e);
  if (!condition) return undefined;
  return new StorageFault(condition, display, codeOf(e), action);
}

/** A non-storage driver error with any credential of `url` taken out of its text. */
export function scrubbedError(e: unknown, url: string): Error {
  if (!(e instanceof Error)) return new Error(withoutCredentials(String(e), url));
  const clean = new Error(withoutCredentials(e.message, url));
  clean.name = e.name;
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) Object.assign(clean, { code });
  return clean;
}

/**
 * A pooled connection that has an error listener while it is checked out: the pool listens only
 * to idle ones, and a server that dies under a checked-out connection (between two statements of
 * a transaction) emits an error that would otherwise end the process. The failure itself reaches
 * the caller through its next query; release() removes the listener.
 */
export async function checkOut(pool: PgPool): Promise<PgClient> {
  const client = await pool.connect();
  const ignore = () => {};
  client.on("error", ignore);
  const release = client.release.bind(client);
  client.release = (destroy?: boolean | Error) => {
    client.off("error", ignore);
    release(destroy);
  };
  return client;
}

/** Tries of a store's opening that timed out (see openRetryingTimeouts). */
export const OPEN_ATTEMPTS = 3;

/**
 * Opens a store, again when the opening timed out: every server of a fresh deployment (a grid's
 * nodes on one database) connects and migrates at once, and on a loaded machine the last in line
 * can wait past one deadline. Each try is bounded by the store's deadline; other failures are final.
 */
export async function openRetryingTimeouts<T>(open: () => Promise<T>, attempts = OPEN_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await open();
    } catch (e) {
      if (attempt >= attempts || !(e instanceof Error && /timeout/i.test(e.message))) throw e;
    }
  }
}

export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
  readonly code = "TIMEOUT";
  constructor(what: string) {
    super(`${what}: Query read timeout (deadline exceeded)`);
  }
}

/**
 * Runs `work` in one transaction on a pooled connection, COMMIT sent only while the deadline has
 * not passed: a transaction given up before COMMIT is rolled back by the server (the connection is
 * destroyed), so a refused edit is never applied. A failed connection is destroyed, not reused.
 */
export async function inTransaction<T>(pool: PgPool, deadlineMs: number, work: (client: PgQueryable) => Promise<T>): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  const client = await withinDeadline(checkOut(pool), deadline, "connect", (c) => c.release(true));
  let failure: unknown;
  try {
    await withinDeadline(client.query("BEGIN"), deadline, "BEGIN");
    const result = await withinDeadline(work(client), deadline, "transaction");
    if (Date.now() >= deadline) throw new DeadlineExceeded("before COMMIT");
    await client.query("COMMIT"); // bounded by query_timeout; its outcome is awaited, not raced
    return result;
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    // Any failure: destroy the connection (the server rolls back whatever was open), so no
    // half-done transaction is ever reused; only a clean commit returns it to the pool.
    client.release(failure === undefined ? undefined : true);
  }
}

/** A one-statement read with the same deadline rules (no transaction needed). */
export async function readWithin<T extends pg.QueryResultRow>(pool: PgPool, deadlineMs: number, sql: string, params: unknown[] = []): Promise<T[]> {
  const deadline = Date.now() + deadlineMs;
  const client = await withinDeadline(checkOut(pool), deadline, "connect", (c) => c.release(true));
  let failed = false;
  try {
    return (await withinDeadline(client.query<T>(sql, params), deadline, "query")).rows;
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    client.release(failed ? true : undefined);
  }
}

/**
 * `promise`, or DeadlineExceeded at `deadline`. A value that arrives after the deadline is handed
 * to `late` (a connection obtained too late is released).
 */
function withinDeadline<T>(promise: Promise<T>, deadline: number, what: string, late?: (value: T) => void): Promise<T> {
  const left = deadline - Date.now();
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new DeadlineExceeded(what));
    }, Math.max(0, left));
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (settled) late?.(value);
        else resolve(value);
      },
      (e: unknown) => {
        clearTimeout(timer);
        if (!settled) reject(e);
      },
    );
  });
}
