/**
 * StreamControllerI: one client's handle on one stream of one media file (spec §6), bound to the
 * user of the token it was created with.
 *
 * For now it stops short of streaming: getSDP checks the token and the port and then refuses with
 * InvalidArgument("streaming pipeline not implemented yet"). What is here is what the pipeline
 * will build on: a sync topic unique to the controller (created on first request, destroyed with
 * the controller), stop() and the unused-controller timeout destroying it (later calls get
 * ObjectNotExistException), and refreshAuthentication() keeping it bound to one user.
 */
import { randomUUID } from "node:crypto";
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { Topics } from "../../runtime/topics.js";
import type { MediaFile } from "./mediaLibrary.js";
import type { StreamAuth, TokenOwner } from "./streamAuth.js";

export interface ControllerDeps {
  auth: StreamAuth;
  topics: Topics;
  log: Logger;
  /** A controller never given an SDP is destroyed after this (IceFlix.Stream.UnusedControllerSeconds). */
  unusedMs: number;
}

export class StreamControllerI extends IceFlix.StreamController {
  /** Unique per controller: names its identity and its sync topic. */
  readonly key = randomUUID();
  readonly syncTopic = `StreamSync-${this.key}`;
  readonly identity = `StreamController/${this.key}`;
  #owner: TokenOwner;
  #unusedTimer: NodeJS.Timeout | undefined;
  #topicCreated: Promise<boolean> | undefined;
  #destroyed: Promise<void> | undefined;

  constructor(
    readonly media: MediaFile,
    owner: TokenOwner,
    private readonly deps: ControllerDeps,
    /** Unregisters the servant (so later calls get ObjectNotExistException). */
    private readonly onDestroyed: (controller: StreamControllerI, reason: string) => void,
  ) {
    super();
    this.#owner = owner;
    this.#unusedTimer = setTimeout(() => void this.destroy(`unused for ${Math.round(deps.unusedMs / 1000)} s`), deps.unusedMs).unref();
  }

  get user(): string | undefined {
    return this.#owner.user;
  }

  get destroyed(): boolean {
    return this.#destroyed !== undefined;
  }

  async getSDP(authentication: string, port: number, current: Ice.Current): Promise<string> {
    await this.deps.auth.authorizeAs(authentication, this.#owner);
    this.#assertAlive(current);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new IceFlixExt.InvalidArgument(`port must be between 1 and 65535 (got ${port})`);
    }
    throw new IceFlixExt.InvalidArgument("streaming pipeline not implemented yet");
  }

  async getSyncTopic(current: Ice.Current): Promise<string> {
    this.#assertAlive(current);
    this.#topicCreated ??= this.#createTopic();
    await this.#topicCreated;
    return this.syncTopic;
  }

  async refreshAuthentication(authentication: string, current: Ice.Current): Promise<void> {
    this.#owner = await this.deps.auth.authorizeAs(authentication, this.#owner);
    this.#assertAlive(current);
  }

  async stop(_current: Ice.Current): Promise<void> {
    await this.destroy("stopped by the client");
  }

  /** Unregisters the controller at once, then removes its sync topic. Idempotent. */
  destroy(reason: string): Promise<void> {
    this.#destroyed ??= (async () => {
      clearTimeout(this.#unusedTimer);
      this.onDestroyed(this, reason);
      this.deps.log.info({ controller: this.key, media: this.media.id, user: this.#owner.user, reason }, "stream controller destroyed");
      if (this.#topicCreated && (await this.#topicCreated)) {
        await this.deps.topics.destroyTopic(this.syncTopic).catch((e) =>
          this.deps.log.warn({ topic: this.syncTopic, error: String(e) }, "cannot destroy a sync topic"),
        );
      }
    })();
    return this.#destroyed;
  }

  /** A call that was already dispatched when the controller went away ends like a later call would. */
  #assertAlive(current: Ice.Current): void {
    // The runtime fills in only null fields, and the constructor's defaults are not null.
    if (this.#destroyed) throw new Ice.ObjectNotExistException(current.id, current.facet, current.operation);
  }

  /**
   * Creates the sync topic, so a client can subscribe before anything is published on it. A
   * broker that is away is logged, not raised: the name is still the controller's.
   */
  async #createTopic(): Promise<boolean> {
    try {
      await this.deps.topics.topic(this.syncTopic);
      return true;
    } catch (e) {
      this.deps.log.warn({ topic: this.syncTopic, error: String(e) }, "cannot create a sync topic");
      this.#topicCreated = undefined; // the next getSyncTopic tries again
      return false;
    }
  }
}
