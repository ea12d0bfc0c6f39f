/**
 * The Main service: learns Authenticators, Catalogs and StreamProviders from ServiceAvailability
 * and hands out live Authenticator and MediaCatalog proxies round-robin (spec §2). Announces
 * nothing itself.
 */
import { randomUUID } from "node:crypto";
import { Ice, IceFlix, IceStorm } from "../../slice/index.js";
import { ServerAdapter } from "../../ice-server/index.js";
import { PROP, intProperty, defaultTopicManagerProxy } from "../../runtime/config.js";
import { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { Topics, type Subscription } from "../../runtime/topics.js";
import { DEFAULT_CALL_TIMEOUT_MS } from "../../runtime/communicator.js";
import type { Logger } from "../../runtime/logger.js";
import { proxyText } from "../../runtime/iceValues.js";
import { MainI } from "./mainServant.js";

export const MAIN_ADAPTER = "MainAdapter";
export const TOPIC_SERVICE_AVAILABILITY = "ServiceAvailability";

export interface MainServiceSettings {
  tokenLifetimeSeconds: number;
  announcePeriodMs: number;
  callTimeoutMs: number;
  topicManagerProxy: string;
}

export function mainSettings(props: Ice.Properties): MainServiceSettings {
  return {
    tokenLifetimeSeconds: intProperty(props, PROP.tokenLifetime, 30, 1, 86_400),
    announcePeriodMs: intProperty(props, PROP.announcePeriod, 10, 1, 3600) * 1000,
    callTimeoutMs: intProperty(props, PROP.callTimeout, DEFAULT_CALL_TIMEOUT_MS, 1, 3_600_000),
    topicManagerProxy: props.getProperty(PROP.topicManager) || defaultTopicManagerProxy(),
  };
}

export class MainService {
  readonly id = randomUUID();
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  readonly providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  #server: ServerAdapter | undefined;
  #subscription: Subscription | undefined;
  #proxy: IceFlix.MainPrx | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(
    private readonly communicator: Ice.Communicator,
    private readonly settings: MainServiceSettings,
    private readonly log: Logger,
  ) {
    const registryOptions = {
      pingTimeoutMs: settings.callTimeoutMs,
      silentAfterMs: 3 * settings.announcePeriodMs,
      log,
    };
    this.authenticators = new ServiceRegistry("authenticator", registryOptions);
    this.catalogs = new ServiceRegistry("catalog", registryOptions);
    this.providers = new ServiceRegistry("streaming", registryOptions);
  }

  /** Binds MainAdapter, subscribes to ServiceAvailability; resolves when Main answers calls. */
  static async start(communicator: Ice.Communicator, settings: MainServiceSettings, log: Logger): Promise<MainService> {
    const service = new MainService(communicator, settings, log);
    try {
      await service.#start();
    } catch (e) {
      await service.stop();
      throw e;
    }
    return service;
  }

  async #start(): Promise<void> {
    const topics = Topics.fromProxy(this.communicator, this.settings.topicManagerProxy, this.log);
    this.#server = await ServerAdapter.create(this.communicator, MAIN_ADAPTER, {
      onEvent: (e) => this.log.warn({ event: e.type, remote: e.remote }, "connection event"),
    });
    const servant = new MainI({
      authenticators: this.authenticators,
      catalogs: this.catalogs,
      providers: this.providers,
      topicManager: IceStorm.TopicManagerPrx.uncheckedCast(topics.topicManager),
      tokenLifetimeSeconds: this.settings.tokenLifetimeSeconds,
      self: { id: this.id, proxy: () => this.#proxy },
    });
    this.#proxy = IceFlix.MainPrx.uncheckedCast(this.#server.add(servant, "Main"));
    const listener = this.#server.addWithUUID(
      new ServiceAvailabilityI({ authenticator: this.authenticators, catalog: this.catalogs, streaming: this.providers }),
    );
    this.#subscription = (await topics.subscribe(TOPIC_SERVICE_AVAILABILITY, listener)).keepAlive(
      this.settings.announcePeriodMs,
    );
    const sweep = async () => {
      await Promise.all([this.authenticators.sweep(), this.catalogs.sweep(), this.providers.sweep()]).catch((e) =>
        this.log.error({ err: e }, "registry sweep failed"),
      );
      if (!this.#stopped) this.#sweepTimer = setTimeout(sweep, this.settings.announcePeriodMs);
    };
    this.#sweepTimer = setTimeout(sweep, this.settings.announcePeriodMs);
    this.log.info({ id: this.id, proxy: this.proxyString }, "Main ready");
  }

  get proxy(): IceFlix.MainPrx {
    if (!this.#proxy) throw new Error("Main is not started");
    return this.#proxy;
  }

  get proxyString(): string {
    return proxyText(this.communicator, this.proxy);
  }

  /** Unsubscribes, closes connections (in-flight calls finish), destroys the adapter. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearTimeout(this.#sweepTimer);
      await this.#subscription?.unsubscribe();
      await this.#server?.destroy();
      this.log.info({ id: this.id }, "Main stopped");
    })();
    return this.#stopped;
  }
}
