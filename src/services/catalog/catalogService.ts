/**
 * The MediaCatalog service (spec §2, §4): serves MediaCatalogI on CatalogAdapter, learns
 * Authenticators and StreamProviders from ServiceAvailability, titles from MediaAnnouncements,
 * and announces itself as "catalog". When it learns a provider it did not know it asks it to
 * reannounceMedia(), so a restarted catalog relearns every media without help.
 */
import { metrics } from "../../runtime/metrics.js";
import { Ice, IceFlix } from "../../slice/index.js";
import { sweepRegistries } from "../../runtime/periodicTask.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import { intProperty, PROP } from "../../runtime/config.js";
import { ServiceLifecycle, startOrStop } from "../../runtime/lifecycle.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import type { RegisteredInstance, ServiceRegistry } from "../../runtime/serviceRegistry.js";
import { TokenValidator } from "../../runtime/tokenValidator.js";
import { postgresBoundsFor } from "../../runtime/postgres.js";
import { CatalogDb } from "./catalogDb.js";
import { openCatalogStore } from "./catalogStores.js";
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

/** Removed providers whose media are remembered, in case they answer again. */
const MAX_LOST_PROVIDERS = 64;

export class CatalogService extends ServiceLifecycle<IceFlix.MediaCatalogPrx> {
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  readonly availability = new MediaAvailability();
  #announcements: MediaAnnouncementsI | undefined;

  private constructor(
    private readonly ctx: ServiceContext,
    private readonly options: CatalogOptions,
  ) {
    super(ctx, "MediaCatalog");
    this.authenticators = this.registry("authenticator");
    this.providers = this.registry("streaming");
  }

  /** Opens the DB, serves, subscribes, announces; resolves when the catalog answers calls. */
  static start(ctx: ServiceContext, options: CatalogOptions): Promise<CatalogService> {
    return startOrStop(new CatalogService(ctx, options), (service) => service.#start());
  }

  /**
   * Stop order is the reverse: sweep, announcer, subscriptions, adapter (in-flight calls finish),
   * then the announcements (what is queued is written) and the DB.
   */
  async #start(): Promise<void> {
    const { ctx } = this;
    const store = await openCatalogStore(ctx.settings.database, {
      dataDir: ctx.settings.dataDir,
      ...postgresBoundsFor(ctx.settings.callTimeoutMs),
      log: ctx.log,
    });
    const db = await CatalogDb.open(store, { maxResults: this.options.maxResults, log: ctx.log });
    this.onStop(() => db.close());
    this.onStop(metrics.catalogTitles.track({}, () => db.indexedTitles));
    this.onStop(metrics.catalogIndexKeys.track({}, () => db.indexKeys));
    // Registered before the adapter so that it runs after it: no event arrives any more.
    this.onStop(() => {
      this.providers.off("added", this.#onProviderAdded);
      this.providers.off("removed", this.#onProviderRemoved);
      return this.#announcements?.stop();
    });
    const server = await this.createAdapter(CATALOG_ADAPTER);
    const servant = new MediaCatalogI({
      db,
      availability: this.availability,
      providers: this.providers,
      tokens: new TokenValidator(this.authenticators),
      warmUntil: this.providers.warmUntil,
      log: ctx.log,
    });
    const proxy = this.serveAs(IceFlix.MediaCatalogPrx.uncheckedCast(server.add(servant, CATALOG_IDENTITY)));

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
    await this.subscribe(TOPIC_MEDIA_ANNOUNCEMENTS, server.addWithUUID(announcements));
    const availabilityListener = server.addWithUUID(
      new ServiceAvailabilityI({ authenticator: this.authenticators, streaming: this.providers }, this.id, ctx.gate, this.welcomePeer),
    );
    await this.subscribe(TOPIC_SERVICE_AVAILABILITY, availabilityListener);

    await this.announce("catalog", proxy);
    const sweeper = sweepRegistries([this.authenticators, this.providers], ctx.settings.announcePeriodMs, ctx.log);
    this.onStop(() => sweeper.stop());
    ctx.log.info({ id: this.id, proxy: this.proxyString, titles: db.size, store: db.location }, "MediaCatalog ready");
  }

  /** A provider we did not know: apply what it announced before, and ask it for everything. */
  #onProviderAdded = (instance: RegisteredInstance<IceFlix.StreamProviderPrx>): void => {
    // A provider back after it stopped answering (a healed partition): its media are offered again
    // at once, since its newMedia may arrive late through the broker; getTile asks isAvailable
    // before handing it out, so a pair it no longer serves is dropped at first use.
    const media = this.#mediaOfLost.get(instance.id) ?? [];
    this.#mediaOfLost.delete(instance.id);
    for (const mediaId of media) this.availability.add(mediaId, instance.id);
    this.#announcements?.providerLearned(instance.id);
    instance.proxy
      .ice_invocationTimeout(this.ctx.settings.callTimeoutMs)
      .reannounceMedia()
      .catch((e: unknown) => this.ctx.log.warn({ providerId: instance.id, error: String(e) }, "reannounceMedia failed"));
  };

  /** Media of removed providers, by provider id (most recent MAX_LOST_PROVIDERS), for #onProviderAdded. */
  readonly #mediaOfLost = new Map<string, string[]>();

  #onProviderRemoved = (instance: RegisteredInstance<IceFlix.StreamProviderPrx>): void => {
    const media = this.availability.removeProvider(instance.id);
    if (media.length === 0) return;
    this.#mediaOfLost.set(instance.id, media);
    if (this.#mediaOfLost.size > MAX_LOST_PROVIDERS) this.#mediaOfLost.delete(this.#mediaOfLost.keys().next().value!);
  };

}
