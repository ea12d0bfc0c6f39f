/**
 * One LISTEN connection per store: notifications are handed to the store, and after every
 * (re)connect `onListening` runs so the store catches up on what it missed while disconnected
 * (by revision for the catalog, by reloading for the users). The connection is checked with a
 * ping, since a server behind a cut link sends nothing, not even a reset; a lost connection is
 * re-opened with a bounded back-off until close().
 */
import pg from "pg";
import { clientConfig, type PostgresOptions } from "./postgres.js";

export interface NotificationHandlers {
  onNotification(channel: string, payload: string): void;
  /** Listening (again): catch up on changes made while not listening. */
  onListening(): void;
  /** The connection failed or could not be opened (the store reports it, once per outage). */
  onLost(error: unknown): void;
}

const PING_EVERY_MS = 1000;
const MIN_RETRY_MS = 100;
const MAX_RETRY_MS = 1000;

export class PostgresNotifications {
  #client: pg.Client | undefined;
  #closed = false;
  #retryMs = MIN_RETRY_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly channels: readonly string[],
    private readonly options: PostgresOptions,
    private readonly handlers: NotificationHandlers,
  ) {}

  /** Resolves once listening; a failure is reported and retried in the background. */
  async start(): Promise<void> {
    await this.#connect();
  }

  get listening(): boolean {
    return this.#client !== undefined;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ ...clientConfig(this.url, this.options), application_name: "iceflix-listen" });
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      this.#dropped(client, e);
    };
    client.on("error", fail);
    client.on("end", () => fail(new Error("Connection terminated")));
    client.on("notification", (n) => this.handlers.onNotification(n.channel, n.payload ?? ""));
    try {
      await client.connect();
      for (const channel of this.channels) await client.query(`LISTEN ${channel}`);
    } catch (e) {
      fail(e);
      return;
    }
    if (failed || this.#closed) {
      void client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#retryMs = MIN_RETRY_MS;
    this.#pingTimer = setInterval(() => {
      client.query("SELECT 1").catch(fail);
    }, PING_EVERY_MS);
    this.#pingTimer.unref();
    this.handlers.onListening();
  }

  #dropped(client: pg.Client, e: unknown): void {
    if (this.#client === client) this.#client = undefined;
    clearInterval(this.#pingTimer);
    void client.end().catch(() => undefined);
    if (this.#closed) return;
    this.handlers.onLost(e);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => void this.#connect(), this.#retryMs);
    this.#retryTimer.unref();
    this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#pingTimer);
    const client = this.#client;
    this.#client = undefined;
    if (!client) return;
    // A server that stopped answering never acknowledges the goodbye: bounded.
    await Promise.race([client.end().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
