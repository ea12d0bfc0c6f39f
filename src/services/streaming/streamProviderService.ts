/**
 * The StreamProvider service (spec §5): serves the media folder through StreamingAdapter,
 * announces itself on ServiceAvailability, publishes one signed newMedia per file on
 * MediaAnnouncements as files are hashed, and re-announces everything when a catalog it did not
 * know appears (a restarted catalog relearns all media, spec §2). Learns Authenticators (for
 * token checks) and catalogs from ServiceAvailability. Streams (spec §6) are StreamControllers;
 * the provider subscribes once to AuthenticationStatus and hands revoked tokens to them.
 */
import { randomUUID } from "node:crypto";
import { PeriodicTask, sweepRegistries } from "../../runtime/periodicTask.js";
import { join } from "node:path";
import { IceFlix } from "../../slice/index.js";
import { ServerAdapter } from "../../ice-server/index.js";
import { Announcer, TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import { ServiceRegistry, WARM_UP_MARGIN_MS } from "../../runtime/serviceRegistry.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { TOPIC_AUTHENTICATION_STATUS, TokenValidator } from "../../runtime/tokenValidator.js";
import { proxyText } from "../../runtime/iceValues.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import type { Subscription } from "../../runtime/topics.js";
import { TokenCodec } from "../authenticator/tokens.js";
import { MediaAnnouncer } from "./mediaAnnouncer.js";
import { MediaLibrary } from "./mediaLibrary.js";
import { MediaProbes } from "./mediaProbe.js";
import { StreamRevocationsI } from "./revocationListener.js";
import { StreamAuth } from "./streamAuth.js";
import { StreamControllers } from "./streamControllers.js";
import { StreamProviderI } from "./streamProviderServant.js";
import type { StreamingSettings } from "./streamingSettings.js";

export const STREAMING_ADAPTER = "StreamingAdapter";
export const HASH_CACHE_FILE = "hash-cache.json";

export class StreamProviderService {
  /** The id announced on ServiceAvailability and carried by every newMedia (fresh at each start). */
  readonly id = randomUUID();
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  readonly library: MediaLibrary;
  readonly announcer: MediaAnnouncer;
  #server: ServerAdapter | undefined;
  #controllers: StreamControllers | undefined;
  #proxy: IceFlix.StreamProviderPrx | undefined;
  #availability: Announcer | undefined;
  #subscriptions: Subscription[] = [];
  #sweeper: PeriodicTask | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(
    private readonly ctx: ServiceContext,
    private readonly settings: StreamingSettings,
  ) {
    const registryOptions = {
      pingTimeoutMs: ctx.settings.callTimeoutMs,
      silentAfterMs: 3 * ctx.settings.announcePeriodMs,
      // Every live instance announces within one period of our subscribing (spec §2).
      warmUpMs: ctx.settings.announcePeriodMs + WARM_UP_MARGIN_MS,
      log: ctx.log,
    };
    this.authenticators = new ServiceRegistry("authenticator", registryOptions);
    this.catalogs = new ServiceRegistry("catalog", registryOptions);
    this.library = new MediaLibrary({
      dir: settings.mediaDir,
      cacheFile: join(ctx.settings.dataDir, HASH_CACHE_FILE),
      rescanMs: settings.rescanMs,
      log: ctx.log.child({ ns: "media" }),
    });
    this.announcer = new MediaAnnouncer({
      topics: ctx.topics,
      signer: ctx.signer,
      providerId: this.id,
      isCurrent: (file) => this.library.isCurrent(file),
      log: ctx.log.child({ ns: "announce" }),
    });
  }

  /** Resolves when the provider answers calls and has announced itself; media follow as they are hashed. */
  static async start(ctx: ServiceContext, settings: StreamingSettings): Promise<StreamProviderService> {
    const service = new StreamProviderService(ctx, settings);
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
    const log = ctx.log;
    this.#server = await ServerAdapter.create(ctx.communicator, STREAMING_ADAPTER, {
      onEvent: (e) => log.warn({ event: e.type, remote: e.remote }, "connection event"),
    });
    const auth = new StreamAuth(new TokenValidator(this.authenticators), new TokenCodec(ctx.secret));
    const controllers = new StreamControllers(
      this.#server,
      {
        auth,
        topics: ctx.topics,
        signer: ctx.signer,
        probes: new MediaProbes(),
        log: log.child({ ns: "controller" }),
        mediaDir: this.settings.mediaDir,
        unusedMs: this.settings.unusedControllerMs,
        reauthGraceMs: this.settings.reauthGraceMs,
        tokenCheckMs: ctx.settings.announcePeriodMs,
      },
      this.settings.maxConcurrent,
      log,
    );
    this.#controllers = controllers;
    const servant = new StreamProviderI({ library: this.library, announcer: this.announcer, auth, controllers });
    this.#proxy = IceFlix.StreamProviderPrx.uncheckedCast(this.#server.add(servant, "StreamProvider"));

    // A catalog we did not know may have missed our announcements (e.g. it restarted).
    this.catalogs.on("added", () => this.announcer.reannounce(this.library.list()));
    const listener = this.#server.addWithUUID(
      new ServiceAvailabilityI({ authenticator: this.authenticators, catalog: this.catalogs }, this.id, ctx.gate),
    );
    this.#subscriptions.push((await ctx.topics.subscribe(TOPIC_SERVICE_AVAILABILITY, listener)).keepAlive(ctx.settings.announcePeriodMs));
    // One subscriber for all controllers: each signed revoke passes the gate once (spec §6).
    const revocations = this.#server.addWithUUID(new StreamRevocationsI(ctx.gate, (token) => controllers.tokenRevoked(token)));
    this.#subscriptions.push((await ctx.topics.subscribe(TOPIC_AUTHENTICATION_STATUS, revocations)).keepAlive(ctx.settings.announcePeriodMs));

    this.#availability = new Announcer(ctx, "streaming", this.id, this.#proxy);
    await this.#availability.start();

    this.library.on("added", (file) => this.announcer.announce(file));
    void this.library.start();
    // Each period also retries announcements that failed (the broker may have been away).
    this.#sweeper = sweepRegistries([this.authenticators, this.catalogs], this.ctx.settings.announcePeriodMs, this.ctx.log, () =>
      this.announcer.retry(),
    );
    log.info({ id: this.id, proxy: this.proxyString, media: this.settings.mediaDir }, "StreamProvider ready");
  }

  /** Every announce period: silent instances are checked, failed announcements retried. */

  get proxy(): IceFlix.StreamProviderPrx {
    if (!this.#proxy) throw new Error("the StreamProvider is not started");
    return this.#proxy;
  }

  get proxyString(): string {
    return proxyText(this.ctx.communicator, this.proxy);
  }

  /**
   * Reverse order of start: stop announcing and scanning, unsubscribe, destroy the controllers
   * (their streams and sync topics), close connections (in-flight calls finish). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#sweeper?.stop();
      this.#availability?.stop();
      await this.library.stop();
      await this.announcer.stop();
      await Promise.all(this.#subscriptions.map((s) => s.unsubscribe()));
      await this.#controllers?.destroyAll("the provider is stopping");
      await this.#server?.destroy();
      this.ctx.log.info({ id: this.id }, "StreamProvider stopped");
    })();
    return this.#stopped;
  }
}
