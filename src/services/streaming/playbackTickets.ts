/**
 * Playback tickets: what a browser presents to the provider's HTTP endpoint (mediaHttp.ts) for
 * one media file. A ticket is `<id>.<mac>`: a random id and an HMAC (key derived from the
 * deployment secret) over the id, the media id and the user, so an altered one is refused without
 * a lookup. The record behind it lives here, in memory, bound to the token it was issued with;
 * it follows that token (TokenWatch: expiry, signed revoke events, the periodic check each
 * announce period), so a ticket ends when its token does unless refreshed with a newer token of
 * the same user. Its first use binds it to that viewer (admitViewer: a key mediaHttp.ts takes from
 * an HttpOnly cookie it sets, or the client's address), so a copied URL plays nowhere else.
 * Bounded: at most `maxTickets` live ones; lapsed ones are forgotten.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { deriveKey } from "../../runtime/secret.js";
import type { Logger } from "../../runtime/logger.js";
import { TokenWatch, type LapseReason } from "./tokenWatch.js";
import type { TokenOwner } from "./streamAuth.js";

export const TICKET_KEY_INFO = "iceflix playback tickets v1";
/** Longest ticket text looked at; anything longer is refused unparsed. */
export const MAX_TICKET_LENGTH = 128;
/** A token we cannot read (another implementation's) gets this lifetime before its next check. */
const UNREADABLE_TOKEN_TICKET_MS = 60_000;

export interface TicketRecord {
  readonly ticket: string;
  readonly mediaId: string;
  readonly user: string | undefined;
  token: string;
  expiresAt: number;
  readonly watch: TokenWatch;
  /** SHA-256 of the viewer key its first use bound it to (the key itself is not kept). */
  viewer?: Buffer;
}

export type TicketRefusal = "malformed" | "altered" | "unknown" | "other-viewer" | LapseReason;

export class TicketRefused extends Error {
  override name = "TicketRefused";
  constructor(readonly reason: TicketRefusal) {
    super(`playback ticket refused (${reason})`);
  }
}

export interface PlaybackTicketsOptions {
  secret: Buffer;
  isValid(token: string): Promise<boolean>;
  checkEveryMs: number;
  maxTickets: number;
  log: Logger;
}

export class PlaybackTickets {
  readonly #key: Buffer;
  readonly #live = new Map<string, TicketRecord>();

  constructor(private readonly options: PlaybackTicketsOptions) {
    this.#key = deriveKey(options.secret, TICKET_KEY_INFO);
  }

  get size(): number {
    return this.#live.size;
  }

  /** A new ticket for `mediaId`, valid while `token` (of `owner`) is. */
  issue(mediaId: string, owner: TokenOwner, token: string, now = Date.now()): TicketRecord {
    while (this.#live.size >= this.options.maxTickets) this.#forget(this.#live.keys().next().value!);
    const id = randomBytes(16).toString("base64url");
    const ticket = `${id}.${this.#mac(id, mediaId, owner.user)}`;
    const watch = new TokenWatch({
      isValid: this.options.isValid,
      checkEveryMs: this.options.checkEveryMs,
      log: this.options.log,
      onLapse: (reason) => {
        this.options.log.info({ mediaId, reason }, "playback ticket ended");
        this.#forget(ticket);
      },
    });
    const record: TicketRecord = { ticket, mediaId, user: owner.user, token, expiresAt: 0, watch };
    this.#live.set(ticket, record);
    this.#follow(record, owner, token, now);
    return record;
  }

  /** Moves a live ticket onto a newer token of the same user (TicketRefused / "unknown" otherwise). */
  refresh(ticket: string, owner: TokenOwner, token: string, now = Date.now()): TicketRecord {
    const record = this.check(ticket);
    if (record.user !== owner.user) throw new TicketRefused("altered");
    this.#follow(record, owner, token, now);
    return record;
  }

  /** The live record of `ticket` for `mediaId`; TicketRefused says why not. Checked on every request. */
  check(ticket: string, mediaId?: string): TicketRecord {
    if (typeof ticket !== "string" || ticket.length > MAX_TICKET_LENGTH || !/^[\w-]{22}\.[\w-]{22}$/.test(ticket)) {
      throw new TicketRefused("malformed");
    }
    const record = this.#live.get(ticket);
    if (!record) throw new TicketRefused("unknown");
    if (mediaId !== undefined && record.mediaId !== mediaId) throw new TicketRefused("altered");
    const [id, mac] = ticket.split(".") as [string, string];
    const expected = Buffer.from(this.#mac(id, record.mediaId, record.user), "utf8");
    if (!timingSafeEqual(expected, Buffer.from(mac, "utf8"))) throw new TicketRefused("altered");
    if (Date.now() >= record.expiresAt) {
      this.#forget(ticket);
      throw new TicketRefused("expired");
    }
    return record;
  }

  /**
   * The viewer check, after check(): the first use records `key`; every later use must present the
   * same key, else TicketRefused("other-viewer"). True when this use bound the ticket.
   */
  admitViewer(record: TicketRecord, key: string | undefined): boolean {
    const digest = key === undefined ? undefined : createHash("sha256").update(key, "utf8").digest();
    if (!digest) throw new TicketRefused("other-viewer");
    if (!record.viewer) {
      record.viewer = digest;
      return true;
    }
    if (!timingSafeEqual(record.viewer, digest)) throw new TicketRefused("other-viewer");
    return false;
  }

  /** A signed revoke event: the tickets on that token end now. */
  tokenRevoked(token: string): void {
    for (const record of [...this.#live.values()]) if (record.token === token) record.watch.revoked(token);
  }

  clear(): void {
    for (const ticket of [...this.#live.keys()]) this.#forget(ticket);
  }

  #follow(record: TicketRecord, owner: TokenOwner, token: string, now: number): void {
    record.token = token;
    record.expiresAt = owner.expiresAt ?? now + UNREADABLE_TOKEN_TICKET_MS;
    record.watch.follow(token, record.expiresAt, now);
  }

  #forget(ticket: string): void {
    const record = this.#live.get(ticket);
    if (!record) return;
    this.#live.delete(ticket);
    record.watch.stop();
  }

  #mac(id: string, mediaId: string, user: string | undefined): string {
    return createHmac("sha256", this.#key)
      .update(`${id}\n${mediaId}\n${user ?? ""}`, "utf8")
      .digest()
      .subarray(0, 16)
      .toString("base64url");
  }
}
