/**
 * Accepts TCP connections for one adapter endpoint and hands each socket to the Ice runtime as a
 * server-role connection. Owns the per-endpoint limits: connection cap, read backpressure (unparsed
 * bytes, pending requests) and close timeout; idle and half-open peers are closed by the adapter's
 * ACM monitor.
 */
import net from "node:net";
import { Ice } from "../slice/index.js";
import { createIncomingConnection, type IncomingConnection, type IncomingLimits, type ServerMonitor } from "./iceInternals.js";

export interface TcpAcceptorOptions extends IncomingLimits {
  host: string;
  port: number;
  /** Connections beyond this are closed at once. */
  maxConnections: number;
  /** Reports accept-level events (cap reached, connection failures). */
  onEvent?: (event: AcceptorEvent) => void;
}

export type AcceptorEvent =
  | { type: "rejected"; reason: "connection cap"; remote: string }
  | { type: "connection-failed"; remote: string; error: unknown };

export class TcpAcceptor {
  readonly #server: net.Server;
  readonly #connections = new Set<IncomingConnection>();
  #rejected = 0;
  #closed = false;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  /** Listens on host:port (port 0 = a free port) and resolves with the bound port. */
  static async listen(
    communicator: Ice.Communicator,
    adapter: Ice.ObjectAdapter,
    endpointFor: (port: number) => Ice.Endpoint,
    monitor: ServerMonitor & { native: unknown },
    options: TcpAcceptorOptions,
  ): Promise<{ acceptor: TcpAcceptor; port: number }> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true });
    const acceptor = new TcpAcceptor(server);
    let endpoint: Ice.Endpoint | undefined;
    server.on("connection", (socket) => {
      if (!endpoint) return void socket.destroy();
      acceptor.#accept(socket, communicator, adapter, endpoint, monitor, options);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // Later server errors (e.g. EMFILE on accept) must not crash the process.
    server.on("error", (error) => options.onEvent?.({ type: "connection-failed", remote: "", error }));
    const port = (server.address() as net.AddressInfo).port;
    endpoint = endpointFor(port);
    return { acceptor, port };
  }

  #accept(
    socket: net.Socket,
    communicator: Ice.Communicator,
    adapter: Ice.ObjectAdapter,
    endpoint: Ice.Endpoint,
    monitor: ServerMonitor & { native: unknown },
    options: TcpAcceptorOptions,
  ): void {
    monitor.reap();
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.#closed || this.#connections.size >= options.maxConnections) {
      this.#rejected++;
      options.onEvent?.({ type: "rejected", reason: "connection cap", remote });
      socket.destroy();
      return;
    }
    let incoming: IncomingConnection;
    try {
      incoming = createIncomingConnection(communicator, adapter, endpoint, monitor, socket, options);
    } catch (error) {
      options.onEvent?.({ type: "connection-failed", remote, error });
      socket.destroy();
      return;
    }
    this.#connections.add(incoming);
    socket.once("close", () => this.#connections.delete(incoming));
    incoming.start().catch((error: unknown) => {
      // A peer that vanishes during validation is routine; anything else is worth a line.
      if (!(error instanceof Ice.LocalException)) options.onEvent?.({ type: "connection-failed", remote, error });
    });
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  get rejectedCount(): number {
    return this.#rejected;
  }

  /**
   * Stops accepting, closes every connection gracefully (in-flight dispatches finish), and
   * force-closes what has not finished after graceMs.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    const connections = [...this.#connections];
    for (const c of connections) c.closeGracefully();
    const allFinished = Promise.all(connections.map((c) => c.finished().catch(() => undefined)));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      allFinished.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      for (const c of connections) c.closeForcefully();
      await Promise.race([allFinished, new Promise((r) => setTimeout(r, 1000))]);
    }
    await serverClosed;
  }
}
