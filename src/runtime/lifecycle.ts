/**
 * The lifecycle every service shares (ARCHITECTURE.md, "Service lifecycle"): start() builds the
 * pieces in order and each registers how to undo itself; stop() undoes them newest first, once.
 * A start that fails stops what was already built and rethrows.
 */
import { randomUUID } from "node:crypto";
import type { Ice } from "../slice/index.js";
import { ServerAdapter } from "../ice-server/index.js";
import { Announcer, type AnnouncedKind } from "./announcer.js";
import { metrics, trackAdapter } from "./metrics.js";
import { proxyText } from "./iceValues.js";
import type { ServiceContext } from "./serviceContext.js";
import { ServiceRegistry, WARM_UP_MARGIN_MS } from "./serviceRegistry.js";
import type { Subscription } from "./topics.js";

/** The shape every runnable component (broker, Main, services) has for the CLI harness and `up`. */
export interface RunningComponent {
  /** What peers use to reach it (stringified proxy). */
  proxy: string;
  /** Idempotent clean stop: stop announcing, unsubscribe, close connections and databases. */
  stop(): Promise<unknown>;
}

/** Undoes one piece; may be async (it is awaited before the next one runs). */
export type Stopper = () => unknown;

/**
 * Stoppers run in reverse order of registration, each awaited. A failing stopper does not keep
 * the others from running; run() then rejects with the first failure. Idempotent.
 */
export class StopStack {
  readonly #stoppers: Stopper[] = [];
  #run: Promise<void> | undefined;

  push(stopper: Stopper): void {
    this.#stoppers.push(stopper);
  }

  run(): Promise<void> {
    this.#run ??= (async () => {
      const failures: unknown[] = [];
      // pop() until empty: a stopper registered while stopping still runs.
      for (let stopper = this.#stoppers.pop(); stopper; stopper = this.#stoppers.pop()) {
        try {
          await stopper();
        } catch (e) {
          failures.push(e);
        }
      }
      if (failures.length > 0) throw failures[0];
    })();
    return this.#run;
  }
}

/** Runs `start(service)`; if it fails, awaits `service.stop()` and rethrows the start error. */
export async function startOrStop<S extends { stop(): Promise<unknown> }>(service: S, start: (service: S) => Promise<void>): Promise<S> {
  try {
    await start(service);
    // Only a service that answers calls becomes findable through the locator (and "active" to icegridnode).
    if (service instanceof ServiceLifecycle) await service.registerWithLocator();
  } catch (e) {
    await service.stop();
    throw e;
  }
  return service;
}

/** Bounds the ids remembered for welcoming; past it they are forgotten (at worst one extra announcement each). */
const MAX_PEERS_REMEMBERED = 10_000;

/** What Announcer accepts: the services that announce themselves on ServiceAvailability. */
type AnnouncedProxy = ConstructorParameters<typeof Announcer>[3];

/**
 * Base of the four services: the id, the served proxy, the stop stack and the start steps they
 * share (adapter, subscriptions, announcer), each registering its stopper as it is built.
 */
export abstract class ServiceLifecycle<Prx extends Ice.ObjectPrx> {
  /** The id announced on ServiceAvailability and carried by every event (fresh at each start). */
  readonly id = randomUUID();
  readonly #ctx: ServiceContext;
  readonly #name: string;
  readonly #stoppers = new StopStack();
  #subscriptions: Subscription[] | undefined;
  readonly #adapters: ServerAdapter[] = [];
  #proxy: Prx | undefined;
  #stopped: Promise<void> | undefined;
  #announcer: Announcer | undefined;
  /** Ids of the other services seen on ServiceAvailability (bounded): the first sight of one is welcomed. */
  readonly #peersSeen = new Set<string>();

  /** `name` is the servant's name in logs and errors ("Main", "MediaCatalog", …). */
  protected constructor(ctx: ServiceContext, name: string) {
    this.#ctx = ctx;
    this.#name = name;
  }

  get proxy(): Prx {
    if (!this.#proxy) throw new Error(`${this.#name} is not started`);
    return this.#proxy;
  }

  get proxyString(): string {
    return proxyText(this.#ctx.communicator, this.proxy);
  }

  /** Runs the registered stoppers newest first (see ARCHITECTURE.md). Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stoppers.run().then(() => this.#ctx.log.info({ id: this.id }, `${this.#name} stopped`));
    return this.#stopped;
  }

  /** Registers the adapters that have an AdapterId with the locator (startOrStop calls it last). */
  async registerWithLocator(): Promise<void> {
    for (const adapter of this.#adapters) await adapter.registerWithLocator();
  }

  /** Registers how to undo what was just built. */
  protected onStop(stopper: Stopper): void {
    this.#stoppers.push(stopper);
  }

  /** Sets the proxy of the main servant (what `proxy` and `proxyString` return). */
  protected serveAs(proxy: Prx): Prx {
    this.#proxy = proxy;
    return proxy;
  }

  /** A registry of one kind with the liveness timings derived from the announce period (spec §2). */
  protected registry<P extends Ice.ObjectPrx>(kind: string): ServiceRegistry<P> {
    const { settings, log } = this.#ctx;
    const registry = new ServiceRegistry<P>(kind, {
      pingTimeoutMs: settings.callTimeoutMs,
      silentAfterMs: 3 * settings.announcePeriodMs,
      // Every live instance announces within one period of our subscribing (spec §2).
      warmUpMs: settings.announcePeriodMs + WARM_UP_MARGIN_MS,
      log,
    });
    this.onStop(metrics.registryInstances.track({ kind }, () => registry.size));
    return registry;
  }

  /** Binds the named adapter; stop destroys it (closes connections, in-flight calls finish). */
  protected async createAdapter(adapterName: string, { logConnectionEvents = true } = {}): Promise<ServerAdapter> {
    const { communicator, log } = this.#ctx;
    const server = await ServerAdapter.create(communicator, adapterName, {
      ...(logConnectionEvents ? { onEvent: (e) => log.warn({ event: e.type, remote: e.remote }, "connection event") } : {}),
      onLocatorEvent: (e) => {
        if (e.type === "registry-unreachable") log.warn({ adapterId: e.adapterId, error: e.error }, "locator registry unreachable; retrying");
        else log.info({ adapterId: e.adapterId, again: e.type === "registered" ? e.again : undefined }, `adapter ${e.type} with the locator`);
      },
      deferLocatorRegistration: true,
    });
    this.#adapters.push(server);
    this.onStop(() => server.destroy());
    this.onStop(trackAdapter(adapterName, () => server.stats()));
    return server;
  }

  /**
   * Subscribes `listener` to the topic, re-asserted every announce period. All subscriptions are
   * dropped together (in parallel) at the place of the first one in the stop order.
   */
  protected async subscribe(topicName: string, listener: Ice.ObjectPrx): Promise<void> {
    if (!this.#subscriptions) {
      const subscriptions: Subscription[] = (this.#subscriptions = []);
      this.onStop(() => Promise.all(subscriptions.map((s) => s.unsubscribe())));
    }
    const { topics, settings } = this.#ctx;
    this.#subscriptions.push((await topics.subscribe(topicName, listener)).keepAlive(settings.announcePeriodMs));
  }

  /** Announces `proxy` on ServiceAvailability now and every period until stop. */
  protected async announce(kind: AnnouncedKind, proxy: AnnouncedProxy): Promise<void> {
    const announcer = new Announcer(this.#ctx, kind, this.id, proxy);
    this.#announcer = announcer;
    metrics.instanceInfo.set({ kind, id: this.id }, 1);
    this.onStop(() => void metrics.instanceInfo.remove({ kind, id: this.id }));
    this.onStop(() => announcer.stop());
    await announcer.start();
  }

  /**
   * For the ServiceAvailability subscriber (ServiceAvailabilityI's onPeer): a service seen for the
   * first time may have started after us and missed our start-up announcement, so we announce
   * again shortly instead of leaving it a whole period without us (a just-started catalog would
   * otherwise hold token checks for up to a period, waiting for an Authenticator).
   */
  protected readonly welcomePeer = (id: string): void => {
    if (this.#peersSeen.has(id)) return;
    if (this.#peersSeen.size >= MAX_PEERS_REMEMBERED) this.#peersSeen.clear();
    this.#peersSeen.add(id);
    this.#announcer?.announceSoon();
  };
}
