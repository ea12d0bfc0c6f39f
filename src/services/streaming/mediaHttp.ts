/**
 * The provider's HTTP endpoint for browsers (direct play): `GET|HEAD /media/<ticket>` with
 * single-range support (RFC 9110 §14), so a `<video>` seeks natively and the provider spends no
 * CPU on the bytes. The ticket is checked on every request (playbackTickets.ts: altered, unknown,
 * expired, revoked → 403) and so is its viewer: the first request binds it (IceFlix.Stream.
 * TicketBinding: `cookie`, an HttpOnly cookie set here and scoped to the ticket's own path, so the
 * page's scripts and the web server never see it; or `address`, the client's IP), any other
 * viewer gets 403 "ticket-bound" (docs/web.md says why cookie is the default); the file is opened per request through openServedFile (still inside
 * the media folder, unchanged since hashed) or is the browser copy made once (browserCopies.ts),
 * never a path the request names. Errors are JSON.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { boundServer, cookieValue, sendError } from "../../runtime/httpJson.js";
import type { Logger } from "../../runtime/logger.js";
import { TicketRefused, type PlaybackTickets, type TicketRecord } from "./playbackTickets.js";

export interface OpenedMedia {
  handle: FileHandle;
  size: number;
  mimeType: string;
}

/** What a ticket's first use binds it to (IceFlix.Stream.TicketBinding). */
export const TICKET_BINDINGS = ["cookie", "address"] as const;
export type TicketBinding = (typeof TICKET_BINDINGS)[number];
export const VIEWER_COOKIE = "iceflix_viewer";

export interface MediaHttpOptions {
  host: string;
  port: number;
  tickets: PlaybackTickets;
  binding: TicketBinding;
  /** Opens what a ticket plays (checked), or throws when it is not available. */
  open(record: TicketRecord): Promise<OpenedMedia>;
  maxConnections: number;
  log: Logger;
}

export type ByteRange = { start: number; end: number };

/**
 * The one range of a `Range` header for a file of `size` bytes: a range, "unsatisfiable", or
 * undefined to send the whole file (no header, another unit, several ranges or bad syntax, which
 * RFC 9110 lets a server ignore).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (header === undefined || header.length > 200) return undefined;
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

export class MediaHttp {
  readonly #server: Server;
  #url = "";

  private constructor(private readonly options: MediaHttpOptions) {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    boundServer(this.#server, options.maxConnections);
  }

  static async start(options: MediaHttpOptions): Promise<MediaHttp> {
    const http = new MediaHttp(options);
    await new Promise<void>((resolve, reject) => {
      http.#server.once("error", reject);
      http.#server.listen(options.port, options.host, () => resolve());
    });
    const address = http.#server.address() as AddressInfo;
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    http.#url = `http://${host}:${address.port}`;
    return http;
  }

  /** `http://host:port`, as browsers reach it. */
  get baseUrl(): string {
    return this.#url;
  }

  urlOf(ticket: string): string {
    return `${this.#url}/media/${ticket}`;
  }

  /** The ticket of a URL this endpoint made, else undefined. */
  ticketOf(url: string): string | undefined {
    const prefix = `${this.#url}/media/`;
    return url.startsWith(prefix) ? url.slice(prefix.length) : undefined;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("Allow", "GET, HEAD");
        return sendError(res, 405, "only GET and HEAD");
      }
      const path = (req.url ?? "").split("?")[0]!;
      if (!path.startsWith("/media/")) return sendError(res, 404, "not found");
      let record: TicketRecord;
      try {
        record = this.options.tickets.check(decodeURIComponent(path.slice("/media/".length)));
        this.#admitViewer(req, res, record);
      } catch (e) {
        if (e instanceof TicketRefused && e.reason === "other-viewer") {
          return sendError(res, 403, "playback ticket refused (other-viewer): it is bound to the browser that first used it; open the title there, or play it here to get a ticket of your own", "ticket-bound");
        }
        if (e instanceof TicketRefused || e instanceof URIError) {
          return sendError(res, 403, `playback ticket refused (${e instanceof TicketRefused ? e.reason : "malformed"})`, "ticket-refused");
        }
        throw e;
      }
      let media: OpenedMedia;
      try {
        media = await this.options.open(record);
      } catch (e) {
        return sendError(res, 410, `the media is no longer available here (${(e as Error).message})`, "gone");
      }
      await this.#send(req, res, media);
    } catch (e) {
      this.options.log.error({ err: e }, "media request failed");
      if (!res.headersSent) sendError(res, 500, "the provider failed to serve the media");
      else res.destroy();
    }
  }

  /** Binds the ticket to this viewer on its first use, else checks it is the same one (TicketRefused). */
  #admitViewer(req: IncomingMessage, res: ServerResponse, record: TicketRecord): void {
    const tickets = this.options.tickets;
    if (this.options.binding === "address") return void tickets.admitViewer(record, req.socket.remoteAddress ?? "");
    if (record.viewer) return void tickets.admitViewer(record, cookieValue(req.headers.cookie, VIEWER_COOKIE));
    const key = randomBytes(32).toString("base64url");
    tickets.admitViewer(record, key);
    // Path: sent back on this ticket's requests only. Cookies ignore ports, so a provider on the
    // page's host (another port) is same-site and the <video>'s requests carry it; SameSite=Strict
    // keeps other sites' pages from playing it through this browser. No Max-Age: the browser's session.
    res.setHeader("Set-Cookie", `${VIEWER_COOKIE}=${key}; Path=/media/${record.ticket}; HttpOnly; SameSite=Strict`);
  }

  async #send(req: IncomingMessage, res: ServerResponse, media: OpenedMedia): Promise<void> {
    const { handle, size } = media;
    const range = parseRange(req.headers.range, size);
    const headers: Record<string, string | number> = {
      "Content-Type": media.mimeType,
      "Accept-Ranges": "bytes",
      "Cache-Control": "private, no-store",
      "X-Content-Type-Options": "nosniff",
    };
    if (range === "unsatisfiable") {
      await handle.close();
      res.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Type": "application/json; charset=utf-8" });
      return void res.end(JSON.stringify({ error: "range not satisfiable" }));
    }
    const { start, end } = range ?? { start: 0, end: size - 1 };
    const length = size === 0 ? 0 : end - start + 1;
    headers["Content-Length"] = length;
    if (range) headers["Content-Range"] = `bytes ${start}-${end}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD" || length === 0) {
      await handle.close();
      return void res.end();
    }
    // The stream owns the descriptor from here and closes it at the end or when the browser goes.
    const stream = handle.createReadStream({ start, end, highWaterMark: 256 * 1024 });
    stream.on("error", () => res.destroy());
    res.on("close", () => stream.destroy());
    stream.pipe(res);
  }
}
