/**
 * A server-side object adapter for Node: the runtime's ObjectAdapter (servant map, proxies,
 * dispatch) plus our TCP acceptors, configured from the standard Ice properties.
 *
 *   <Name>.Endpoints            tcp -h 127.0.0.1 -p 9095   (several joined with ':'; -p 0 = free port)
 *   <Name>.PublishedEndpoints   what proxies carry (required when binding a wildcard host)
 *   <Name>.MaxConnections       per endpoint [1000]
 *   <Name>.ReadHighWaterBytes   per connection [4 MiB]
 *   <Name>.MaxPendingRequests   per connection: requests dispatching or with a reply not yet sent,
 *                               above which the connection stops reading [1000]
 *   Ice.ACM.Server.Timeout      idle/half-open connections are closed after this [60 s]
 *   Ice.Override.CloseTimeout   ms a peer gets to hang up after our CloseConnection [5000]
 *   <Name>.AdapterId            with a locator (<Name>.Locator or Ice.Default.Locator): register our
 *                               endpoints under this id before create() returns, unregister on destroy
 *   <Name>.ReplicaGroupId       register as a replica of this group
 *   IceFlix.Locator.CheckPeriodMs  how often the registration is checked and restored [1000]
 */
import { Ice } from "../slice/index.js";
import { checkIceRuntime, createServerMonitor, type ServerMonitor } from "./iceInternals.js";
import { TcpAcceptor, type AcceptorEvent } from "./tcpAcceptor.js";
import { LocatorRegistration, type LocatorEvent } from "./locatorRegistration.js";
import { observeServant } from "./dispatchObserver.js";

export interface ServerAdapterOptions {
  /** Overrides `<Name>.Endpoints`. */
  endpoints?: string;
  /** Receives accept-level events, for logging. */
  onEvent?: (event: AcceptorEvent) => void;
  /** Receives locator registration events, for logging. */
  onLocatorEvent?: (event: LocatorEvent) => void;
  /**
   * Leave the locator registration to registerWithLocator() (a service calls it once it is fully
   * started: IceGrid treats a server as active as soon as its adapters are registered).
   */
  deferLocatorRegistration?: boolean;
  /** How long destroy() lets in-flight dispatches finish before forcing connections closed. @default 5000 */
  closeGraceMs?: number;
}

/** Thrown for endpoint configuration the transport cannot serve. */
export class EndpointConfigError extends Error {
  override name = "EndpointConfigError";
}

const DEFAULT_MAX_CONNECTIONS = 1000;
const DEFAULT_READ_HIGH_WATER = 4 * 1024 * 1024;
const DEFAULT_MAX_PENDING_REQUESTS = 1000;
/** The runtime would wait the endpoint timeout (60 s) for a peer that ignores CloseConnection. */
const DEFAULT_CLOSE_TIMEOUT_MS = 5000;
/** Body reads that stall longer than this close the connection (Ice endpoint -t). */
const DEFAULT_ENDPOINT_TIMEOUT_MS = 60_000;
const DEFAULT_LOCATOR_CHECK_PERIOD_MS = 1000;
/** Unregistering must not hold up a stop when the registry is gone. */
const UNREGISTER_TIMEOUT_MS = 2000;
const WILDCARD_HOSTS = new Set(["", "*", "0.0.0.0", "::", "[::]"]);

interface ListenSpec {
  host: string;
  port: number;
  timeout: number;
}

export class ServerAdapter {
  readonly adapter: Ice.ObjectAdapter;
  readonly #communicator: Ice.Communicator;
  readonly #acceptors: TcpAcceptor[];
  readonly #monitor: ServerMonitor;
  readonly #closeGraceMs: number;
  readonly #published: string;
  #registration: LocatorRegistration | undefined;
  readonly #name: string;
  readonly #onLocatorEvent: ((event: LocatorEvent) => void) | undefined;
  #registering: Promise<void> | undefined;
  #destroyed: Promise<void> | undefined;

  private constructor(
    communicator: Ice.Communicator,
    adapter: Ice.ObjectAdapter,
    acceptors: TcpAcceptor[],
    monitor: ServerMonitor,
    published: string,
    closeGraceMs: number,
    name: string,
    onLocatorEvent: ((event: LocatorEvent) => void) | undefined,
  ) {
    this.#name = name;
    this.#onLocatorEvent = onLocatorEvent;
    this.#communicator = communicator;
    this.adapter = adapter;
    this.#acceptors = acceptors;
    this.#monitor = monitor;
    this.#published = published;
    this.#closeGraceMs = closeGraceMs;
  }

  /** Creates the adapter, binds every endpoint of `<name>.Endpoints` and activates it. */
  static async create(communicator: Ice.Communicator, name: string, options: ServerAdapterOptions = {}): Promise<ServerAdapter> {
    checkIceRuntime();
    const props = communicator.getProperties();
    const endpointsText = (options.endpoints ?? props.getProperty(`${name}.Endpoints`)).trim();
    if (!endpointsText) throw new EndpointConfigError(`${name}.Endpoints is not set`);
    const specs = parseEndpoints(communicator, name, endpointsText);
    const publishedOverride = props.getProperty(`${name}.PublishedEndpoints`).trim();
    if (!publishedOverride && specs.some((s) => WILDCARD_HOSTS.has(s.host))) {
      throw new EndpointConfigError(
        `${name}.Endpoints binds a wildcard host: set ${name}.PublishedEndpoints to the address peers should use`,
      );
    }
    const maxConnections = props.getPropertyAsIntWithDefault(`${name}.MaxConnections`, DEFAULT_MAX_CONNECTIONS);
    const readHighWaterBytes = props.getPropertyAsIntWithDefault(`${name}.ReadHighWaterBytes`, DEFAULT_READ_HIGH_WATER);
    const maxPendingRequests = props.getPropertyAsIntWithDefault(`${name}.MaxPendingRequests`, DEFAULT_MAX_PENDING_REQUESTS);
    const closeTimeoutOverride = props.getPropertyAsIntWithDefault("Ice.Override.CloseTimeout", -1);
    const closeTimeoutMs = closeTimeoutOverride > 0 ? closeTimeoutOverride : DEFAULT_CLOSE_TIMEOUT_MS;

    // An unnamed adapter has no Endpoints property, so the runtime does not refuse it; we publish
    // our own endpoints on it.
    const adapter = await communicator.createObjectAdapter("");
    const monitor = createServerMonitor(communicator, {
      timeoutSeconds: 60,
      close: Ice.ACMClose.CloseOnIdle,
      heartbeat: Ice.ACMHeartbeat.HeartbeatOnDispatch,
    });
    const acceptors: TcpAcceptor[] = [];
    const bound: string[] = [];
    try {
      for (const spec of specs) {
        const listenHost = WILDCARD_HOSTS.has(spec.host) ? "0.0.0.0" : spec.host;
        const { acceptor, port } = await TcpAcceptor.listen(
          communicator,
          adapter,
          (port) => endpointObject(communicator, endpointString(listenHost, port, spec.timeout)),
          monitor,
          {
            host: listenHost,
            port: spec.port,
            maxConnections,
            readHighWaterBytes,
            maxPendingRequests,
            closeTimeoutMs,
            onEvent: options.onEvent,
          },
        );
        acceptors.push(acceptor);
        bound.push(endpointString(spec.host, port, spec.timeout));
      }
    } catch (error) {
      await Promise.all(acceptors.map((a) => a.close(0)));
      adapter.destroy();
      const e = error as NodeJS.ErrnoException;
      if (e.code === "EADDRINUSE") throw new EndpointConfigError(`${name}: address already in use (${endpointsText})`, { cause: e });
      if (e.code === "EADDRNOTAVAIL") throw new EndpointConfigError(`${name}: cannot bind ${endpointsText}`, { cause: e });
      throw error;
    }
    const published = publishedOverride || bound.join(":");
    adapter.setPublishedEndpoints(communicator.stringToProxy(`x:${published}`).ice_getEndpoints());
    await adapter.activate();
    const server = new ServerAdapter(communicator, adapter, acceptors, monitor, published, options.closeGraceMs ?? 5000, name, options.onLocatorEvent);
    if (options.deferLocatorRegistration) return server;
    try {
      await server.registerWithLocator();
    } catch (e) {
      await server.destroy();
      throw e;
    }
    return server;
  }

  /**
   * With `<Name>.AdapterId` and a locator: registers our endpoints (see locatorRegistration.ts);
   * otherwise nothing. Idempotent; throws a LocatorRegistrationError naming the locator.
   */
  registerWithLocator(): Promise<void> {
    this.#registering ??= (async () => {
      if (this.#destroyed) return;
      this.#registration = await registerWithLocator(this.#communicator, this.#name, this.adapter, this.#onLocatorEvent);
    })();
    return this.#registering;
  }

  /** The endpoints proxies carry, e.g. `tcp -h 127.0.0.1 -p 9095`. */
  get publishedEndpoints(): string {
    return this.#published;
  }

  /** Registers a servant under `name` (a string identity) and returns its proxy. */
  add(servant: Ice.Object, name: string): Ice.ObjectPrx {
    return this.adapter.add(observeServant(servant), Ice.stringToIdentity(name));
  }

  /** Registers a servant under a fresh UUID identity. */
  addWithUUID(servant: Ice.Object): Ice.ObjectPrx {
    return this.adapter.addWithUUID(observeServant(servant));
  }

  remove(proxyOrName: Ice.ObjectPrx | string): void {
    const id = typeof proxyOrName === "string" ? Ice.stringToIdentity(proxyOrName) : proxyOrName.ice_getIdentity();
    try {
      this.adapter.remove(id);
    } catch (e) {
      if (!(e instanceof Ice.NotRegisteredException)) throw e;
    }
  }

  /** Open connections and connections refused by the cap, across endpoints. */
  stats(): { connections: number; rejected: number } {
    return {
      connections: this.#acceptors.reduce((n, a) => n + a.connectionCount, 0),
      rejected: this.#acceptors.reduce((n, a) => n + a.rejectedCount, 0),
    };
  }

  /**
   * Stops accepting, lets in-flight dispatches finish (bounded), closes connections, destroys
   * the adapter. Must complete before the communicator is destroyed. Idempotent.
   */
  destroy(): Promise<void> {
    this.#destroyed ??= (async () => {
      // First, so the locator stops sending new clients here while we close.
      await this.#registering?.catch(() => undefined);
      await this.#registration?.stop();
      await Promise.all(this.#acceptors.map((a) => a.close(this.#closeGraceMs)));
      this.#monitor.destroy();
      try {
        this.adapter.destroy();
      } catch {
        // The communicator may already be shutting down.
      }
      void this.#communicator;
    })();
    return this.#destroyed;
  }
}

/** Registers the adapter when it has an AdapterId and there is a locator; otherwise nothing. */
async function registerWithLocator(
  communicator: Ice.Communicator,
  name: string,
  adapter: Ice.ObjectAdapter,
  onEvent: ((event: LocatorEvent) => void) | undefined,
): Promise<LocatorRegistration | undefined> {
  const props = communicator.getProperties();
  const adapterId = props.getProperty(`${name}.AdapterId`).trim();
  if (!adapterId) return undefined;
  const locatorText = props.getProperty(`${name}.Locator`).trim();
  let locator: Ice.LocatorPrx | null;
  try {
    locator = locatorText ? Ice.LocatorPrx.uncheckedCast(communicator.stringToProxy(locatorText)) : communicator.getDefaultLocator();
  } catch (e) {
    throw new EndpointConfigError(`${name}.Locator is not a valid proxy: ${locatorText}`, { cause: e });
  }
  if (!locator) return undefined;
  return LocatorRegistration.register(locator, adapter.createDirectProxy(Ice.stringToIdentity("dummy")), {
    adapterName: name,
    adapterId,
    replicaGroupId: props.getProperty(`${name}.ReplicaGroupId`).trim(),
    checkPeriodMs: props.getPropertyAsIntWithDefault("IceFlix.Locator.CheckPeriodMs", DEFAULT_LOCATOR_CHECK_PERIOD_MS),
    unregisterTimeoutMs: UNREGISTER_TIMEOUT_MS,
    onEvent,
  });
}

function parseEndpoints(communicator: Ice.Communicator, name: string, text: string): ListenSpec[] {
  let endpoints: Ice.Endpoint[];
  try {
    endpoints = communicator.stringToProxy(`x:${text}`).ice_getEndpoints();
  } catch (e) {
    throw new EndpointConfigError(`${name}.Endpoints is not a valid endpoint list: ${text}`, { cause: e });
  }
  return endpoints.map((endpoint) => {
    const info = endpoint.getInfo();
    if (!(info instanceof Ice.TCPEndpointInfo)) {
      throw new EndpointConfigError(`${name}.Endpoints: only tcp endpoints can be served from Node (got ${endpoint.toString()})`);
    }
    if (info.compress) {
      throw new EndpointConfigError(`${name}.Endpoints: compression (-z) is not supported by the Node runtime`);
    }
    const timeout = /\s-t\s/.test(` ${endpoint.toString()} `) && info.timeout > 0 ? info.timeout : DEFAULT_ENDPOINT_TIMEOUT_MS;
    return { host: info.host, port: info.port, timeout };
  });
}

function endpointString(host: string, port: number, timeout: number): string {
  const h = host.includes(":") ? `"${host}"` : host;
  // 60000 is Ice's default endpoint timeout: leave it implicit so proxies read like the originals.
  return timeout === DEFAULT_ENDPOINT_TIMEOUT_MS ? `tcp -h ${h} -p ${port}` : `tcp -h ${h} -p ${port} -t ${timeout}`;
}

function endpointObject(communicator: Ice.Communicator, text: string): Ice.Endpoint {
  return communicator.stringToProxy(`x:${text}`).ice_getEndpoints()[0]!;
}
