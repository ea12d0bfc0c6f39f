/**
 * The MediaCatalog service (spec §2, §4): serves MediaCatalogI on CatalogAdapter, learns
 * Authenticators and StreamProviders from ServiceAvailability, titles from MediaAnnouncements,
 * and announces itself as "catalog". When it learns a provider it did not know it asks it to
 * reannounceMedia(), so a restarted catalog relearns every media without help.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Ice, IceFlix } from "../../slice/index.js";
import { ServerAdapter } from "../../ice-server/index.js";
import { PeriodicTask, sweepRegistries } from "../../runtime/periodicTask.js";
import { Announcer, TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import { intProperty, PROP } from "../../runtime/config.js";
import { proxyText } from "../../runtime/iceValues.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { ServiceRegistry, WARM_UP_MARGIN_MS, type RegisteredInstance } from "../../runtime/serviceRegistry.js";
import { TokenValidator } from "../../runtime/tokenValidator.js";
import type { Subscription } from "../../runtime/topics.js";
import { CATALOG_DB_FILE, CatalogDb } from "./catalogDb.js";
import { MediaCatalogI } from "./catalogServant.js";
import { MediaAnnouncementsI, TOPIC_MEDIA_ANNOUNCEMENTS } from "./mediaAnnouncements.js";
import { MediaAvailability } from "./mediaAvailability.js";

export const CATALOG_ADAPTER = "CatalogAdapter";
export const CATALOG_IDENTITY = "MediaCatalog";

/**
 * 15,000 ids of 64 hex chars are about 1 MB on the wire: above that a search reply could hit
 * Ice's default 1 MiB message limit (spec §4).
 */
export const MAX_RESULTS_LIMIT = 15_000;

export interface CatalogOptions {
  /** IceFlix.Catalog.MaxResults. */
  maxResults: number;
}

export function catalogOptions(props: Ice.Properties): CatalogOptions {
  return { maxResults: intProperty(props, PROP.catalogMaxResults, 10_000, 1, MAX_RESULTS_LIMIT) };
}

export class CatalogService {
  readonly id = randomUUID();
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  readonly availability = new MediaAvailability();
  #db: CatalogDb | undefined;
  #server: ServerAdapter | undefined;
  #announcements: MediaAnnouncementsI | undefined;
  #subscriptions: Subscription[] = [];
  #announcer: Announcer | undefined;
  #sweeper: PeriodicTask | undefined;
  #proxy: IceFlix.MediaCatalogPrx | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(
    private readonly ctx: ServiceContext,
    private readonly options: CatalogOptions,
  ) {
    const registryOptions = {
      pingTimeoutMs: ctx.settings.callTimeoutMs,
      silentAfterMs: 3 * ctx.settings.announcePeriodMs,
      // Every live instance announces within one period of our subscribing (spec §2).
      warmUpMs: ctx.settings.announcePeriodMs + WARM_UP_MARGIN_MS,
      log: ctx.log,
    };
    this.authenticators = new ServiceRegistry("authenticator", registryOptions);
    this.providers = new ServiceRegistry("streaming", registryOptions);
  }

  /** Opens the DB, serves, subscribes, announces; resolves when the catalog answers calls. */
  static async start(ctx: ServiceContext, options: CatalogOptions): Promise<CatalogService> {
    const service = new CatalogService(ctx, options);
    try {
      await service.#start();
    } catch (e) {
      await service.stop();
      throw e;
    }
    return service;
  }

  async #start(): Promise<void> {
    const { ctx } = this;
    const db = CatalogDb.open(join(ctx.settings.dataDir, CATALOG_DB_FILE), { maxResults: this.options.maxResults });
    this.#db = db;
    this.#server = await ServerAdapter.create(ctx.communicator, CATALOG_ADAPTER, {
      onEvent: (e) => ctx.log.warn({ event: e.type, remote: e.remote }, "connection event"),
    });
    const servant = new MediaCatalogI({
      db,
      availability: this.availability,
      providers: this.providers,
      tokens: new TokenValidator(this.authenticators),
      pingTimeoutMs: ctx.settings.callTimeoutMs,
      warmUntil: this.providers.warmUntil,
    });
    this.#proxy = IceFlix.MediaCatalogPrx.uncheckedCast(this.#server.add(servant, CATALOG_IDENTITY));

    const announcements = new MediaAnnouncementsI({
      gate: ctx.gate,
      db,
      availability: this.availability,
      providers: this.providers,
      log: ctx.log,
    });
    this.#announcements = announcements;
    this.providers.on("added", this.#onProviderAdded);
    this.providers.on("removed", this.#onProviderRemoved);

    // MediaAnnouncements first: the reannounceMedia() a new provider triggers must find us subscribed.
    const period = ctx.settings.announcePeriodMs;
    const mediaListener = this.#server.addWithUUID(announcements);
    this.#subscriptions.push((await ctx.topics.subscribe(TOPIC_MEDIA_ANNOUNCEMENTS, mediaListener)).keepAlive(period));
    const availabilityListener = this.#server.addWithUUID(
      new ServiceAvailabilityI({ authenticator: this.authenticators, streaming: this.providers }, this.id, ctx.gate),
    );
    this.#subscriptions.push((await ctx.topics.subscribe(TOPIC_SERVICE_AVAILABILITY, availabilityListener)).keepAlive(period));

    this.#announcer = new Announcer(ctx, "catalog", this.id, this.#proxy);
    await this.#announcer.start();
    this.#sweeper = sweepRegistries([this.authenticators, this.providers], ctx.settings.announcePeriodMs, ctx.log);
    ctx.log.info({ id: this.id, proxy: this.proxyString, titles: db.size }, "MediaCatalog ready");
  }

  get proxy(): IceFlix.MediaCatalogPrx {
    if (!this.#proxy) throw new Error("the catalog is not started");
    return this.#proxy;
  }

  get proxyString(): string {
    return proxyText(this.ctx.communicator, this.proxy);
  }

  /** Stops announcing, unsubscribes, closes connections, writes what is queued, closes the DB. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#sweeper?.stop();
      this.#announcer?.stop();
      await Promise.all(this.#subscriptions.map((s) => s.unsubscribe()));
      await this.#server?.destroy();
      this.providers.off("added", this.#onProviderAdded);
      this.providers.off("removed", this.#onProviderRemoved);
      this.#announcements?.stop();
      this.#db?.close();
      this.ctx.log.info({ id: this.id }, "MediaCatalog stopped");
    })();
    return this.#stopped;
  }

  /** A provider we did not know: apply what it announced before, and ask it for everything. */
  #onProviderAdded = (instance: RegisteredInstance<IceFlix.StreamProviderPrx>): void => {
    this.#announcements?.providerLearned(instance.id);
    instance.proxy
      .ice_invocationTimeout(this.ctx.settings.callTimeoutMs)
      .reannounceMedia()
      .catch((e: unknown) => this.ctx.log.warn({ providerId: instance.id, error: String(e) }, "reannounceMedia failed"));
  };

  #onProviderRemoved = (instance: RegisteredInstance<IceFlix.StreamProviderPrx>): void => {
    this.availability.removeProvider(instance.id);
  };

}
