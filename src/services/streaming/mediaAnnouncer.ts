/**
 * Publishes `newMedia(id, fileName, providerId)` on MediaAnnouncements (spec §5), signed (§7.1):
 * one per file as it becomes available, and all of them again on reannounce() — from what is
 * already known, never by hashing again.
 *
 * Publishing goes through a queue with a few calls in flight, so re-announcing a large folder
 * neither floods the broker nor makes reannounceMedia() wait for it. A file that is no longer
 * served when its turn comes is skipped; one whose publication fails is retried by retry()
 * (called every announce period: the broker may be restarting).
 */
import { IceFlix } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { EventSigner } from "../../runtime/eventSignature.js";
import type { Topics, TopicPublisher } from "../../runtime/topics.js";
import type { MediaFile } from "./mediaLibrary.js";

export const TOPIC_MEDIA_ANNOUNCEMENTS = "MediaAnnouncements";

const IN_FLIGHT = 8;

export interface MediaAnnouncerOptions {
  topics: Topics;
  signer: EventSigner;
  /** The id announced on ServiceAvailability. */
  providerId: string;
  /** Whether a file is still served (a removed or changed file is not announced). */
  isCurrent: (file: MediaFile) => boolean;
  log: Logger;
}

export class MediaAnnouncer {
  readonly #publisher: TopicPublisher<IceFlix.StreamAnnouncesPrx>;
  readonly #options: MediaAnnouncerOptions;
  /** Waiting to be published, by path (a file queued twice is published once). */
  readonly #queue = new Map<string, MediaFile>();
  /** Failed publications, retried by retry(). */
  readonly #failed = new Map<string, MediaFile>();
  readonly #inFlight = new Set<Promise<void>>();
  #published = 0;
  #failing = false;
  #stopped = false;
  #idleWaiters: Array<() => void> = [];

  constructor(options: MediaAnnouncerOptions) {
    this.#options = options;
    this.#publisher = options.topics.publisher(TOPIC_MEDIA_ANNOUNCEMENTS, (p) => IceFlix.StreamAnnouncesPrx.uncheckedCast(p));
  }

  /** Queues `file` for publication. */
  announce(file: MediaFile): void {
    if (this.#stopped) return;
    this.#queue.set(file.path, file);
    this.#failed.delete(file.path);
    this.#pump();
  }

  /** Queues every file (reannounceMedia, or a catalog that was not known). */
  reannounce(files: Iterable<MediaFile>): void {
    let n = 0;
    for (const f of files) {
      this.announce(f);
      n++;
    }
    this.#options.log.info({ files: n }, "re-announcing media");
  }

  /** Queues the publications that failed. */
  retry(): void {
    if (this.#failed.size === 0) return;
    const files = [...this.#failed.values()];
    this.#failed.clear();
    for (const f of files) this.announce(f);
  }

  /** Publications since start (for logs and tests). */
  get published(): number {
    return this.#published;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.#queue.size === 0 && this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Drops what is queued and waits for the calls in flight (each bounded by the call timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#queue.clear();
    this.#failed.clear();
    await Promise.allSettled([...this.#inFlight]);
  }

  #pump(): void {
    while (!this.#stopped && this.#inFlight.size < IN_FLIGHT && this.#queue.size > 0) {
      const [path, file] = this.#queue.entries().next().value as [string, MediaFile];
      this.#queue.delete(path);
      if (!this.#options.isCurrent(file)) continue;
      const call: Promise<void> = this.#publish(file).finally(() => {
        this.#inFlight.delete(call);
        this.#pump();
      });
      this.#inFlight.add(call);
    }
    if (this.#queue.size === 0 && this.#inFlight.size === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #publish(file: MediaFile): Promise<void> {
    const { signer, providerId, log } = this.#options;
    try {
      await this.#publisher.publishSigned(signer, "newMedia", [file.id, file.name, providerId], (pub, ctx) =>
        pub.newMedia(file.id, file.name, providerId, ctx),
      );
      this.#published++;
      if (this.#failing) log.info("media announcements restored");
      this.#failing = false;
    } catch (e) {
      if (this.#stopped) return;
      if (!this.#failing) log.warn({ error: String(e) }, "cannot announce media; will retry");
      this.#failing = true;
      this.#failed.set(file.path, file);
    }
  }
}
