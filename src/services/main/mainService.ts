/**
 * The Main service: learns Authenticators, Catalogs and StreamProviders from ServiceAvailability
 * and hands out live Authenticator and MediaCatalog proxies round-robin (spec §2). Announces
 * nothing itself.
 */
import { randomUUID } from "node:crypto";
import { IceFlix, IceStorm } from "../../slice/index.js";
import { ServerAdapter } from "../../ice-server/index.js";
import { ServiceRegistry, WARM_UP_MARGIN_MS } from "../../runtime/serviceRegistry.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import type { Subscription } from "../../runtime/topics.js";
import { proxyText } from "../../runtime/iceValues.js";
import { PeriodicTask, sweepRegistries } from "../../runtime/periodicTask.js";
import { MainI } from "./mainServant.js";

export const MAIN_ADAPTER = "MainAdapter";

export class MainService {
  readonly id = randomUUID();
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  readonly providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  #server: ServerAdapter | undefined;
  #subscription: Subscription | undefined;
  #proxy: IceFlix.MainPrx | undefined;
  #sweeper: PeriodicTask | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(private readonly ctx: ServiceContext) {
    const registryOptions = {
      pingTimeoutMs: ctx.settings.callTimeoutMs,
      silentAfterMs: 3 * ctx.settings.announcePeriodMs,
      // Every live instance announces within one period of our subscribing (spec §2).
      warmUpMs: ctx.settings.announcePeriodMs + WARM_UP_MARGIN_MS,
      log: ctx.log,
    };
    this.authenticators = new ServiceRegistry("authenticator", registryOptions);
    this.catalogs = new ServiceRegistry("catalog", registryOptions);
    this.providers = new ServiceRegistry("streaming", registryOptions);
  }

  /** Binds MainAdapter, subscribes to ServiceAvailability; resolves when Main answers calls. */
  static async start(ctx: ServiceContext): Promise<MainService> {
    const service = new MainService(ctx);
    try {
      await service.#start();
    } catch (e) {
      await service.stop();
      throw e;
    }
    return service;
  }

  async #start(): Promise<void> {
    const { topics, settings, log } = this.ctx;
    this.#server = await ServerAdapter.create(this.ctx.communicator, MAIN_ADAPTER, {
      onEvent: (e) => log.warn({ event: e.type, remote: e.remote }, "connection event"),
    });
    const servant = new MainI({
      authenticators: this.authenticators,
      catalogs: this.catalogs,
      providers: this.providers,
      topicManager: IceStorm.TopicManagerPrx.uncheckedCast(topics.topicManager),
      tokenLifetimeSeconds: settings.tokenLifetimeSeconds,
      self: { id: this.id, proxy: () => this.#proxy },
    });
    this.#proxy = IceFlix.MainPrx.uncheckedCast(this.#server.add(servant, "Main"));
    const listener = this.#server.addWithUUID(
      new ServiceAvailabilityI(
        { authenticator: this.authenticators, catalog: this.catalogs, streaming: this.providers },
        this.id,
        this.ctx.gate,
      ),
    );
    this.#subscription = (await topics.subscribe(TOPIC_SERVICE_AVAILABILITY, listener)).keepAlive(settings.announcePeriodMs);
    this.#sweeper = sweepRegistries([this.authenticators, this.catalogs, this.providers], settings.announcePeriodMs, log);
    log.info({ id: this.id, proxy: this.proxyString }, "Main ready");
  }

  get proxy(): IceFlix.MainPrx {
    if (!this.#proxy) throw new Error("Main is not started");
    return this.#proxy;
  }

  get proxyString(): string {
    return proxyText(this.ctx.communicator, this.proxy);
  }

  /** Unsubscribes, closes connections (in-flight calls finish), destroys the adapter. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#sweeper?.stop();
      await this.#subscription?.unsubscribe();
      await this.#server?.destroy();
      this.ctx.log.info({ id: this.id }, "Main stopped");
    })();
    return this.#stopped;
  }
}
