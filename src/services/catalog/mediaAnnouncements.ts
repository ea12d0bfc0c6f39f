/**
 * The catalog's subscriber on topic MediaAnnouncements (spec §2, §4, §7):
 * newMedia(id, initialName, providerId) is obeyed only when signed (or unsigned events are
 * allowed); an unknown id is stored with its initial name, a known id keeps its stored name and
 * tags; the media becomes available through that provider. A newMedia from a provider not in the
 * registry yet is parked (bounded, oldest dropped) until the provider is learned.
 */
import { Ice, IceFlix } from "../../slice/index.js";
import type { EventGate } from "../../runtime/eventSignature.js";
import type { Logger } from "../../runtime/logger.js";
import { StorageFault } from "../../runtime/storageErrors.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import type { CatalogDb } from "./catalogDb.js";
import { isMediaId, sanitizeInitialName } from "./catalogLimits.js";
import type { MediaAvailability } from "./mediaAvailability.js";

export const TOPIC_MEDIA_ANNOUNCEMENTS = "MediaAnnouncements";

/** Default bound of parked newMedia events. */
export const DEFAULT_PENDING_LIMIT = 100_000;

/** Provider ids are UUIDs in IceFlix; other implementations may differ, within reason. */
const MAX_PROVIDER_ID_LENGTH = 256;

interface Announcement {
  id: string;
  name: string;
  providerId: string;
}

/** newMedia events waiting for their provider, oldest first, at most `limit`. */
export class PendingAnnouncements {
  readonly #entries = new Map<string, Announcement>();
  #dropped = 0;

  constructor(private readonly limit: number) {}

  park(a: Announcement): void {
    const key = `${a.providerId}\n${a.id}`;
    this.#entries.delete(key); // a repeat moves to the back
    this.#entries.set(key, a);
    if (this.#entries.size > this.limit) {
      this.#entries.delete(this.#entries.keys().next().value!);
      this.#dropped++;
    }
  }

  /** Removes and returns the parked events of `providerId`. */
  takeFor(providerId: string): Announcement[] {
    const out: Announcement[] = [];
    for (const [key, a] of this.#entries) {
      if (a.providerId === providerId) {
        out.push(a);
        this.#entries.delete(key);
      }
    }
    return out;
  }

  get size(): number {
    return this.#entries.size;
  }

  get dropped(): number {
    return this.#dropped;
  }
}

export interface MediaAnnouncementsDeps {
  gate: EventGate;
  db: CatalogDb;
  availability: MediaAvailability;
  providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  log: Logger;
  pendingLimit?: number;
}

export class MediaAnnouncementsI extends IceFlix.StreamAnnounces {
  readonly pending: PendingAnnouncements;
  /** New titles waiting to be written: one transaction (one fsync) per burst of events. */
  #toStore = new Map<string, string>();
  #flushScheduled = false;
  #stopped = false;

  constructor(private readonly deps: MediaAnnouncementsDeps) {
    super();
    this.pending = new PendingAnnouncements(deps.pendingLimit ?? DEFAULT_PENDING_LIMIT);
  }

  newMedia(id: string, initialName: string, providerId: string, current: Ice.Current): void {
    if (!this.deps.gate.accept(TOPIC_MEDIA_ANNOUNCEMENTS, "newMedia", [id, initialName, providerId], current.ctx)) return;
    if (!isMediaId(id) || providerId.length === 0 || providerId.length > MAX_PROVIDER_ID_LENGTH) {
      this.deps.log.warn({ id: id.slice(0, 80), providerId: providerId.slice(0, 80) }, "newMedia ignored: malformed id");
      return;
    }
    const announcement = { id, name: sanitizeInitialName(initialName, id), providerId };
    if (this.deps.providers.has(providerId)) this.#apply(announcement);
    else this.pending.park(announcement);
  }

  /** The registry learned `providerId`: apply what it announced before that. */
  providerLearned(providerId: string): void {
    const parked = this.pending.takeFor(providerId);
    for (const a of parked) this.#apply(a);
    if (parked.length > 0) this.deps.log.info({ providerId, media: parked.length }, "applied parked newMedia events");
  }

  /** Writes what is queued now (also called at stop, so nothing queued is lost). */
  async flush(): Promise<void> {
    this.#flushScheduled = false;
    if (this.#toStore.size === 0) return;
    const batch = [...this.#toStore].map(([id, name]) => ({ id, name }));
    this.#toStore = new Map();
    try {
      const added = await this.deps.db.addTitles(batch);
      if (added.length > 0) this.deps.log.info({ added: added.length }, "new titles stored");
    } catch (e) {
      // The DB may be locked by a replica for longer than busy_timeout, or the disk full or
      // read-only (the DB logged that once): try again shortly.
      if (e instanceof StorageFault) this.deps.log.debug({ titles: batch.length, condition: e.condition }, "cannot store new titles yet; will retry");
      else this.deps.log.error({ err: e, titles: batch.length }, "cannot store new titles; will retry");
      for (const t of batch) if (!this.#toStore.has(t.id)) this.#toStore.set(t.id, t.name);
      if (!this.#stopped) setTimeout(() => this.#scheduleFlush(), 1000).unref();
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.flush();
  }

  #apply(a: Announcement): void {
    if (!this.deps.db.has(a.id) && !this.#toStore.has(a.id)) {
      this.#toStore.set(a.id, a.name);
      this.#scheduleFlush();
    }
    this.deps.availability.add(a.id, a.providerId);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#stopped) return;
    this.#flushScheduled = true;
    setImmediate(() => void this.flush());
  }
}
