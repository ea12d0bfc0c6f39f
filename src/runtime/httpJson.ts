/**
 * JSON over node:http, shared by the web server and the provider's media endpoint: every answer
 * that is not media is a small JSON object, errors as `{ "error": "<one line>" }` (never a stack
 * or a path), with headers that keep browsers from guessing types or caching private answers.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** An answer with a status and a message for the caller; anything else thrown is a 500. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    /** A machine-readable word for the page (e.g. "unauthorized", "busy"). */
    readonly code?: string,
  ) {
    super(message);
  }
}

const BASE_HEADERS = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...BASE_HEADERS, "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(res.req?.method === "HEAD" ? undefined : text);
}

/** The value of cookie `name` in a request's Cookie header (headers beyond 8 KiB are not read). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

export function sendError(res: ServerResponse, status: number, message: string, code?: string): void {
  sendJson(res, status, { error: message, ...(code ? { code } : {}) });
}

/**
 * The body of a request as JSON, at most `maxBytes` (413 beyond), of type application/json
 * (415 otherwise), parsed (400 when it is not JSON or not an object).
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new HttpError(415, "the body must be application/json", "bad-request");
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes) throw new HttpError(413, `the body is larger than ${maxBytes} bytes`, "too-large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new HttpError(413, `the body is larger than ${maxBytes} bytes`, "too-large");
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "the body is not valid JSON", "bad-request");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpError(400, "the body must be a JSON object", "bad-request");
  return value as Record<string, unknown>;
}

/** Server limits against slow or endless requests (the defaults are minutes). */
export function boundServer(server: import("node:http").Server, maxConnections: number): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 64;
  server.maxConnections = maxConnections;
  // A malformed request line or header: a 400 with a JSON body, not node's bare close.
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    const body = JSON.stringify({ error: status === 431 ? "request headers too large" : status === 408 ? "request timed out" : "malformed HTTP request" });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request"}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
