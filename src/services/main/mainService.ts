/**
 * The Main service: learns Authenticators, Catalogs and StreamProviders from ServiceAvailability
 * and hands out live Authenticator and MediaCatalog proxies round-robin (spec §2). Announces
 * nothing itself.
 */
import { IceFlix, IceStorm } from "../../slice/index.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import { ServiceLifecycle, startOrStop } from "../../runtime/lifecycle.js";
import { sweepRegistries } from "../../runtime/periodicTask.js";
import { MainI } from "./mainServant.js";

export const MAIN_ADAPTER = "MainAdapter";

export class MainService extends ServiceLifecycle<IceFlix.MainPrx> {
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  readonly providers: ServiceRegistry<IceFlix.StreamProviderPrx>;

  private constructor(private readonly ctx: ServiceContext) {
    super(ctx, "Main");
    this.authenticators = this.registry("authenticator");
    this.catalogs = this.registry("catalog");
    this.providers = this.registry("streaming");
  }

  /** Binds MainAdapter, subscribes to ServiceAvailability; resolves when Main answers calls. */
  static start(ctx: ServiceContext): Promise<MainService> {
    return startOrStop(new MainService(ctx), (service) => service.#start());
  }

  /** Stop order is the reverse: sweep, subscription, adapter (in-flight calls finish). */
  async #start(): Promise<void> {
    const { topics, settings, log } = this.ctx;
    const server = await this.createAdapter(MAIN_ADAPTER);
    const servant = new MainI({
      authenticators: this.authenticators,
      catalogs: this.catalogs,
      providers: this.providers,
      topicManager: IceStorm.TopicManagerPrx.uncheckedCast(topics.topicManager),
      tokenLifetimeSeconds: settings.tokenLifetimeSeconds,
      self: { id: this.id, proxy: () => this.proxy },
    });
    this.serveAs(IceFlix.MainPrx.uncheckedCast(server.add(servant, "Main")));
    const listener = server.addWithUUID(
      new ServiceAvailabilityI(
        { authenticator: this.authenticators, catalog: this.catalogs, streaming: this.providers },
        this.id,
        this.ctx.gate,
      ),
    );
    await this.subscribe(TOPIC_SERVICE_AVAILABILITY, listener);
    const sweeper = sweepRegistries([this.authenticators, this.catalogs, this.providers], settings.announcePeriodMs, log);
    this.onStop(() => sweeper.stop());
    log.info({ id: this.id, proxy: this.proxyString }, "Main ready");
  }
}
