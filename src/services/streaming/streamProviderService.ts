/**
 * The StreamProvider service (spec §5): serves the media folder through StreamingAdapter,
 * announces itself on ServiceAvailability, publishes one signed newMedia per file on
 * MediaAnnouncements as files are hashed, and re-announces everything when a catalog it did not
 * know appears (a restarted catalog relearns all media, spec §2). Learns Authenticators (for
 * token checks) and catalogs from ServiceAvailability. Streams (spec §6) are StreamControllers;
 * the provider subscribes once to AuthenticationStatus and hands revoked tokens to them.
 */
import { join } from "node:path";
import { IceFlix } from "../../slice/index.js";
import { sweepRegistries } from "../../runtime/periodicTask.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import { ServiceLifecycle, startOrStop } from "../../runtime/lifecycle.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { TOPIC_AUTHENTICATION_STATUS, TokenValidator } from "../../runtime/tokenValidator.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import { TokenCodec } from "../authenticator/tokens.js";
import { MediaAnnouncer } from "./mediaAnnouncer.js";
import { MediaLibrary } from "./mediaLibrary.js";
import { MediaProbes } from "./mediaProbe.js";
import { H264SampleTables } from "./mp4SampleTable.js";
import { PacingScheduler } from "./pacingScheduler.js";
import { StreamRevocationsI } from "./revocationListener.js";
import { StreamAuth } from "./streamAuth.js";
import { StreamControllers } from "./streamControllers.js";
import { StreamProviderI } from "./streamProviderServant.js";
import { BrowserPlayback } from "./browserPlayback.js";
import type { StreamingSettings } from "./streamingSettings.js";

export const STREAMING_ADAPTER = "StreamingAdapter";
export const HASH_CACHE_FILE = "hash-cache.json";

export class StreamProviderService extends ServiceLifecycle<IceFlix.StreamProviderPrx> {
  readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  readonly catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  readonly library: MediaLibrary;
  readonly announcer: MediaAnnouncer;

  private constructor(
    private readonly ctx: ServiceContext,
    private readonly settings: StreamingSettings,
  ) {
    super(ctx, "StreamProvider");
    this.authenticators = this.registry("authenticator");
    this.catalogs = this.registry("catalog");
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
  static start(ctx: ServiceContext, settings: StreamingSettings): Promise<StreamProviderService> {
    return startOrStop(new StreamProviderService(ctx, settings), (service) => service.#start());
  }

  /**
   * Stop order is the reverse: sweep, availability announcer, media scanning and announcing,
   * subscriptions, the controllers (their streams and sync topics), the adapter (in-flight
   * calls finish).
   */
  async #start(): Promise<void> {
    const { ctx } = this;
    const log = ctx.log;
    const server = await this.createAdapter(STREAMING_ADAPTER);
    const probes = new MediaProbes();
    const auth = new StreamAuth(new TokenValidator(this.authenticators), new TokenCodec(ctx.secret));
    // One pacing timer for all in-process streams; stopped after the controllers (registered first).
    const inProcess =
      this.settings.passthrough === "inprocess"
        ? { tables: new H264SampleTables(), scheduler: new PacingScheduler((e) => log.error({ error: String(e) }, "an in-process stream failed")) }
        : undefined;
    if (inProcess) this.onStop(() => inProcess.scheduler.clear());
    const controllers = new StreamControllers(
      server,
      {
        auth,
        topics: ctx.topics,
        signer: ctx.signer,
        probes,
        log: log.child({ ns: "controller" }),
        mediaDir: this.settings.mediaDir,
        unusedMs: this.settings.unusedControllerMs,
        reauthGraceMs: this.settings.reauthGraceMs,
        tokenCheckMs: ctx.settings.announcePeriodMs,
        inProcess,
      },
      this.settings.maxConcurrent,
      log,
    );
    this.onStop(() => controllers.destroyAll("the provider is stopping"));
    // Browsers play over HTTP with tickets (IceFlixExt.StreamProviderExt.getPlaybackUrl).
    const playback = await BrowserPlayback.start({
      library: this.library,
      auth,
      probes,
      mediaDir: this.settings.mediaDir,
      dataDir: ctx.settings.dataDir,
      secret: ctx.secret,
      host: this.settings.http.host,
      port: this.settings.http.port,
      binding: this.settings.ticketBinding,
      checkEveryMs: ctx.settings.announcePeriodMs,
      maxTickets: 10_000,
      maxConnections: 512,
      log: log.child({ ns: "playback" }),
    });
    this.onStop(() => playback.stop());
    const servant = new StreamProviderI({ library: this.library, announcer: this.announcer, auth, controllers, playback });
    const proxy = this.serveAs(IceFlix.StreamProviderPrx.uncheckedCast(server.add(servant, "StreamProvider")));

    // A catalog we did not know may have missed our announcements (e.g. it restarted).
    this.catalogs.on("added", () => this.announcer.reannounce(this.library.list()));
    const listener = server.addWithUUID(
      new ServiceAvailabilityI({ authenticator: this.authenticators, catalog: this.catalogs }, this.id, ctx.gate, this.welcomePeer),
    );
    await this.subscribe(TOPIC_SERVICE_AVAILABILITY, listener);
    // One subscriber for all controllers: each signed revoke passes the gate once (spec §6).
    await this.subscribe(TOPIC_AUTHENTICATION_STATUS, server.addWithUUID(new StreamRevocationsI(ctx.gate, (token) => {
      auth.tokenRevoked(token);
      controllers.tokenRevoked(token);
      playback.tickets.tokenRevoked(token);
    })));

    // Registered before the availability announcer so that it stops after it.
    this.onStop(async () => {
      await this.library.stop();
      await this.announcer.stop();
    });
    await this.announce("streaming", proxy);

    this.library.on("added", (file) => this.announcer.announce(file));
    void this.library.start();
    // Each period also retries announcements that failed (the broker may have been away).
    const sweeper = sweepRegistries([this.authenticators, this.catalogs], ctx.settings.announcePeriodMs, log, () => this.announcer.retry());
    this.onStop(() => sweeper.stop());
    log.info({ id: this.id, proxy: this.proxyString, media: this.settings.mediaDir, passthrough: this.settings.passthrough, http: playback.baseUrl }, "StreamProvider ready");
  }
}
