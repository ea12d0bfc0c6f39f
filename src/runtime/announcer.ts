/**
 * Announces a service on ServiceAvailability (spec §2): at start and then every announce period,
 * signed (§7.1), so services that start later learn of it. A failed announcement is retried at
 * the next period (the broker may be restarting). A service that starts later did not hear our
 * start-up announcement: announceSoon() (on first sight of a newcomer) saves it waiting a period.
 */
import { IceFlix } from "../slice/index.js";
import type { ServiceContext } from "./serviceContext.js";
import type { TopicPublisher } from "./topics.js";

export const TOPIC_SERVICE_AVAILABILITY = "ServiceAvailability";

export type AnnouncedKind = "authenticator" | "catalog" | "streaming";

const OPERATION: Record<AnnouncedKind, "authenticationService" | "catalogService" | "mediaService"> = {
  authenticator: "authenticationService",
  catalog: "catalogService",
  streaming: "mediaService",
};

export class Announcer {
  readonly #publisher: TopicPublisher<IceFlix.ServiceAvailabilityPrx>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;
  #soon: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    readonly kind: AnnouncedKind,
    readonly id: string,
    readonly proxy: IceFlix.AuthenticatorPrx | IceFlix.MediaCatalogPrx | IceFlix.StreamProviderPrx,
  ) {
    this.#publisher = ctx.topics.publisher(TOPIC_SERVICE_AVAILABILITY, (p) => IceFlix.ServiceAvailabilityPrx.uncheckedCast(p));
  }

  /** Announces once now (awaited, so start-up fails loudly without a broker) and then periodically. */
  async start(): Promise<void> {
    await this.announce();
    this.#schedule();
  }

  async announce(): Promise<void> {
    const operation = OPERATION[this.kind];
    await this.#publisher.publishSigned(this.ctx.signer, operation, [this.proxy, this.id], (pub, context) => {
      switch (this.kind) {
        case "authenticator":
          return pub.authenticationService(IceFlix.AuthenticatorPrx.uncheckedCast(this.proxy), this.id, context);
        case "catalog":
          return pub.catalogService(IceFlix.MediaCatalogPrx.uncheckedCast(this.proxy), this.id, context);
        case "streaming":
          return pub.mediaService(IceFlix.StreamProviderPrx.uncheckedCast(this.proxy), this.id, context);
      }
    });
  }

  /**
   * One extra announcement shortly (jittered, so the services that welcome a newcomer do not all
   * publish at the same instant; several requests meanwhile make one announcement).
   */
  announceSoon(): void {
    if (this.#stopped || this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      this.announce().catch(() => {
        // the periodic announcement reports a failing broker
      });
    }, 50 + Math.floor(Math.random() * 200));
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      try {
        await this.announce();
        if (this.#failing) this.ctx.log.info({ kind: this.kind }, "announcements restored");
        this.#failing = false;
      } catch (e) {
        if (!this.#failing) this.ctx.log.warn({ kind: this.kind, error: String(e) }, "announcement failed; will retry");
        this.#failing = true;
      }
      this.#schedule();
    }, this.ctx.settings.announcePeriodMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
  }
}
