/**
 * IceFlix.Metrics.Endpoint=HOST:PORT (e.g. 127.0.0.1:9098; port 0 = a free one): `GET /metrics` in
 * the Prometheus text format, nothing else (other paths 404, other methods 405). Bounded: small
 * headers, short timeouts, few connections, request bodies never read. A scrape only reads
 * counters already kept, so it never waits on a dispatch.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, hostPort } from "./config.js";
import { collectProcessMetrics, metricsRegistry } from "./metrics.js";
import type { Logger } from "./logger.js";

export const METRICS_ENDPOINT_PROP = "IceFlix.Metrics.Endpoint";

const MAX_HEADER_BYTES = 8 * 1024;
const REQUEST_TIMEOUT_MS = 5000;
const MAX_CONNECTIONS = 16;
/** A request body (never wanted) is read and thrown away up to this; beyond it the connection is dropped. */
const MAX_DISCARDED_BODY_BYTES = 64 * 1024;

/**
 * The metrics port `up` (and the IceGrid descriptor) gives the first instance of a service: after
 * the four service ports (Authenticator 9094 → 9098, Main 9099, catalog 9100, provider 9101).
 */
export function metricsPort(servicePort: number): number {
  return servicePort + 4;
}

export interface MetricsEndpoint {
  /** e.g. http://127.0.0.1:9098/metrics */
  url: string;
  close(): Promise<void>;
}

/** "HOST:PORT" → its parts; a ConfigError naming the property otherwise. */
export function parseMetricsEndpoint(text: string): { host: string; port: number } {
  return hostPort(METRICS_ENDPOINT_PROP, text.trim());
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  // A body is never wanted: read and dropped (bounded), so the client sees our answer, not a reset.
  let discarded = 0;
  req.on("data", (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > MAX_DISCARDED_BODY_BYTES) req.socket.destroy();
  });
  if (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined) res.shouldKeepAlive = false;
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/metrics") return void res.writeHead(404, { "Content-Type": "text/plain" }).end("not found: only GET /metrics\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    return void res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("method not allowed: only GET /metrics\n");
  }
  metricsRegistry.metrics().then(
    (text) => {
      res.writeHead(200, { "Content-Type": metricsRegistry.contentType });
      res.end(req.method === "HEAD" ? undefined : text);
    },
    () => res.writeHead(500, { "Content-Type": "text/plain" }).end("metrics unavailable\n"),
  );
}

export async function startMetricsEndpoint(text: string, log: Logger): Promise<MetricsEndpoint> {
  const { host, port } = parseMetricsEndpoint(text);
  collectProcessMetrics();
  const server: Server = createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: REQUEST_TIMEOUT_MS },
    answer,
  );
  server.maxConnections = MAX_CONNECTIONS;
  // Malformed or oversized requests: one status line, then the connection is closed.
  server.on("clientError", (e: NodeJS.ErrnoException, socket) => {
    const status = e.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new ConfigError(`${METRICS_ENDPOINT_PROP}: cannot listen on ${host}:${port} (${e.code ?? e.message})`, { cause: e })),
    );
    server.listen(port, host, () => resolve());
  });
  server.on("error", (e) => log.warn({ error: e.message }, "metrics endpoint error"));
  const bound = server.address() as AddressInfo;
  const shownHost = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  const url = `http://${shownHost}:${bound.port}/metrics`;
  log.info({ url }, "metrics endpoint listening");
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
