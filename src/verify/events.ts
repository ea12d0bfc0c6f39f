/**
 * The checker's side of IceStorm: a server adapter of its own (the broker delivers events to it),
 * the ServiceAvailability announcements heard since the run began, and short-lived subscriptions
 * a check opens on the contract's other topics. Subscriptions go through the same Topics code as
 * the services (retrieve-or-create, idempotent subscribe), and all are removed by close().
 */
import { Ice, IceFlix, IceStorm } from "../slice/index.js";
import { ServerAdapter } from "../ice-server/index.js";
import { createLogger } from "../runtime/logger.js";
import { Topics, type Subscription } from "../runtime/topics.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../runtime/announcer.js";
import { TOPIC_AUTHENTICATION_STATUS } from "../runtime/tokenValidator.js";
import { TOPIC_MEDIA_ANNOUNCEMENTS } from "../services/streaming/mediaAnnouncer.js";

export { TOPIC_AUTHENTICATION_STATUS, TOPIC_MEDIA_ANNOUNCEMENTS, TOPIC_SERVICE_AVAILABILITY };

/** Events kept per log: a flood from a busy deployment must not grow the checker without bound. */
const MAX_EVENTS = 10_000;

/** Events of one kind as they arrive, and waits for one that matches. */
export class EventLog<E> {
  readonly #items: Array<{ at: number; event: E }> = [];
  #waiters = new Set<() => void>();

  push(event: E): void {
    if (this.#items.length >= MAX_EVENTS) this.#items.shift();
    this.#items.push({ at: Date.now(), event });
    for (const wake of [...this.#waiters]) wake();
  }

  get items(): ReadonlyArray<{ at: number; event: E }> {
    return this.#items;
  }

  /** The first event (already arrived or arriving within `timeoutMs`) that `match` accepts. */
  waitFor(match: (event: E) => boolean, timeoutMs: number): Promise<{ at: number; event: E } | undefined> {
    const found = () => this.#items.find((i) => match(i.event));
    return new Promise((resolve) => {
      const hit = found();
      if (hit || timeoutMs <= 0) return resolve(hit);
      const wake = () => {
        const h = found();
        if (h) done(h);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (h: { at: number; event: E } | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(h);
      };
      this.#waiters.add(wake);
    });
  }
}

export type ServiceKind = "authenticator" | "catalog" | "provider";

export interface Announcement {
  kind: ServiceKind;
  id: string;
  proxy: Ice.ObjectPrx | null;
  /** The request context had a signature (spec §7.1), for the evidence only. */
  signed: boolean;
}

class AvailabilityRecorder extends IceFlix.ServiceAvailability {
  constructor(private readonly log: EventLog<Announcement>) {
    super();
  }
  #push(kind: ServiceKind, proxy: Ice.ObjectPrx | null, id: string, current: Ice.Current): void {
    this.log.push({ kind, id: String(id).slice(0, 200), proxy, signed: current.ctx.has("iceflix-sig-mac") });
  }
  authenticationService(service: IceFlix.AuthenticatorPrx | null, id: string, current: Ice.Current): void {
    this.#push("authenticator", service, id, current);
  }
  catalogService(service: IceFlix.MediaCatalogPrx | null, id: string, current: Ice.Current): void {
    this.#push("catalog", service, id, current);
  }
  mediaService(service: IceFlix.StreamProviderPrx | null, id: string, current: Ice.Current): void {
    this.#push("provider", service, id, current);
  }
}

export class RevocationRecorder extends IceFlix.TokenRevocation {
  readonly log = new EventLog<string>();
  revoke(authentication: string): void {
    this.log.push(authentication);
  }
}

export interface NewMedia {
  id: string;
  initialName: string;
  providerId: string;
}

export class AnnouncesRecorder extends IceFlix.StreamAnnounces {
  readonly log = new EventLog<NewMedia>();
  newMedia(id: string, initialName: string, providerId: string): void {
    this.log.push({ id, initialName, providerId });
  }
}

export class SyncRecorder extends IceFlix.StreamerSync {
  readonly log = new EventLog<"requestAuthentication">();
  requestAuthentication(): void {
    this.log.push("requestAuthentication");
  }
}

export class EventWatch {
  readonly announcements = new EventLog<Announcement>();
  readonly #topics: Topics;
  readonly #adapter: ServerAdapter;
  readonly #subscriptions = new Set<Subscription>();
  readonly #settledAt: number;

  private constructor(topics: Topics, adapter: ServerAdapter, announceWindowMs: number) {
    this.#topics = topics;
    this.#adapter = adapter;
    this.#settledAt = Date.now() + announceWindowMs;
  }

  /**
   * Reaches the broker (exceptions tell why not), serves on `endpoints` and subscribes to
   * ServiceAvailability. `announceWindowMs`: by then every live service has announced once.
   */
  static async open(communicator: Ice.Communicator, topicManager: IceStorm.TopicManagerPrx, endpoints: string, announceWindowMs: number): Promise<EventWatch> {
    await topicManager.ice_ping();
    const topics = new Topics(topicManager, createLogger("verify", "silent"));
    const adapter = await ServerAdapter.create(communicator, "VerifyAdapter", { endpoints, closeGraceMs: 500 });
    const watch = new EventWatch(topics, adapter, announceWindowMs);
    try {
      await watch.listen(TOPIC_SERVICE_AVAILABILITY, new AvailabilityRecorder(watch.announcements));
    } catch (e) {
      await watch.close();
      throw e;
    }
    return watch;
  }

  get topicManager(): IceStorm.TopicManagerPrx {
    return this.#topics.topicManager;
  }

  /** Distinct ids announced for `kind` so far. */
  announcedIds(kind: ServiceKind): string[] {
    return [...new Set(this.announcements.items.filter((i) => i.event.kind === kind).map((i) => i.event.id))];
  }

  /** Ms until every live service has announced at least once (0 once the window is over). */
  get msUntilSettled(): number {
    return Math.max(0, this.#settledAt - Date.now());
  }

  /** Subscribes `servant` to `topic` until the returned stop() (or close()). */
  async listen(topic: string, servant: Ice.Object): Promise<{ stop(): Promise<void> }> {
    const proxy = this.#adapter.addWithUUID(servant);
    const subscription = await this.#topics.subscribe(topic, proxy);
    this.#subscriptions.add(subscription);
    return {
      stop: async () => {
        this.#subscriptions.delete(subscription);
        await subscription.unsubscribe();
        try {
          this.#adapter.adapter.remove(proxy.ice_getIdentity());
        } catch {
          // already gone
        }
      },
    };
  }

  /** The publisher object of `topic` (created if need be), to publish on it as any service would. */
  async publisher(topic: string): Promise<Ice.ObjectPrx> {
    const pub = await (await this.#topics.topic(topic)).getPublisher();
    if (!pub) throw new Error(`topic ${topic} has no publisher`);
    return pub.ice_twoway();
  }

  /** Whether the broker has a topic of that name (without creating it). */
  async topicExists(name: string): Promise<boolean> {
    try {
      await this.#topics.topicManager.retrieve(name);
      return true;
    } catch (e) {
      if (e instanceof IceStorm.NoSuchTopic) return false;
      throw e;
    }
  }

  /** Unsubscribes everything and stops serving (best effort, bounded by the call timeouts). */
  async close(): Promise<void> {
    const subs = [...this.#subscriptions];
    this.#subscriptions.clear();
    await Promise.allSettled(subs.map((s) => s.unsubscribe()));
    await this.#adapter.destroy();
  }
}
