/**
 * The web server (`iceflix web`): node:http serving the single-page app from src/web/static (no
 * build step) and the JSON API (routes.ts). Every failure is a JSON error with a 4xx/5xx status,
 * never a stack; request sizes are bounded (URL 4 KiB, headers, body 16 KiB).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { boundServer, HttpError, sendError, sendJson } from "../runtime/httpJson.js";
import type { Logger } from "../runtime/logger.js";
import { toHttpError } from "./apiErrors.js";
import { route, type RouteContext } from "./routes.js";

const STATIC_DIR = fileURLToPath(new URL("../../../src/web/static/", import.meta.url));
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};
const MAX_URL = 4096;
// Media comes from the providers' HTTP endpoints (other ports or hosts).
const CSP = "default-src 'self'; media-src 'self' http: https:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export class WebServer {
  readonly #server: Server;
  readonly #static = new Map<string, Buffer>();
  #url = "";

  private constructor(
    private readonly ctx: RouteContext,
    private readonly log: Logger,
  ) {
    for (const [path, f] of Object.entries(STATIC_FILES)) this.#static.set(path, readFileSync(STATIC_DIR + f.file));
    this.#server = createServer((req, res) => void this.#handle(req, res));
    boundServer(this.#server, 1024);
  }

  static async start(ctx: RouteContext, host: string, port: number, log: Logger): Promise<WebServer> {
    const web = new WebServer(ctx, log);
    await new Promise<void>((resolve, reject) => {
      web.#server.once("error", reject);
      web.#server.listen(port, host, () => resolve());
    });
    const a = web.#server.address() as AddressInfo;
    web.#url = `http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}/`;
    return web;
  }

  get url(): string {
    return this.#url;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if ((req.url ?? "").length > MAX_URL) throw new HttpError(414, "the URL is too long", "too-large");
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://web.invalid");
      } catch {
        throw new HttpError(400, "malformed URL", "bad-request");
      }
      const file = STATIC_FILES[url.pathname];
      if (file && (req.method === "GET" || req.method === "HEAD")) {
        const body = this.#static.get(url.pathname)!;
        res.writeHead(200, {
          "Content-Type": file.type,
          "Content-Length": body.length,
          "Cache-Control": "no-cache",
          "X-Content-Type-Options": "nosniff",
          "Content-Security-Policy": CSP,
          "Referrer-Policy": "no-referrer",
        });
        return void res.end(req.method === "HEAD" ? undefined : body);
      }
      if (!url.pathname.startsWith("/api/")) throw new HttpError(404, "not found", "not-found");
      const { handler, params } = route(req.method ?? "", url.pathname);
      const answer = await handler(req, url, this.ctx, params);
      sendJson(res, answer.status ?? 200, answer.body, answer.headers);
    } catch (e) {
      const err = toHttpError(e);
      if (err.status >= 500) this.log.warn({ path: (req.url ?? "").slice(0, 200), status: err.status, error: e instanceof Error ? e.message : String(e) }, "web request failed");
      // The rest of a refused body is not read: the connection goes after the answer.
      if (!req.complete) res.setHeader("Connection", "close");
      sendError(res, err.status, err.message, err.code);
    }
  }
}
