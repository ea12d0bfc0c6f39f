/**
 * IceStorm topics: retrieve-or-create, publishers that follow the broker across restarts, and
 * subscriptions that are idempotent, re-established after a broker restart, and removed on
 * shutdown.
 */
import { metrics } from "./metrics.js";
import { Ice, IceStorm } from "../slice/index.js";
import type { Logger } from "./logger.js";
import type { EventArg } from "./eventSignature.js";
import { callDroppingStuckConnection } from "./staleConnection.js";

export type ContextFor = (operation: string, args: readonly unknown[]) => Map<string, string> | undefined;

export class Topics {
  readonly topicManager: IceStorm.TopicManagerPrx;
  readonly #log: Logger;

  constructor(topicManager: IceStorm.TopicManagerPrx, log: Logger) {
    this.topicManager = topicManager;
    this.#log = log;
  }

  static fromProxy(communicator: Ice.Communicator, proxy: string, log: Logger): Topics {
    return new Topics(IceStorm.TopicManagerPrx.uncheckedCast(communicator.stringToProxy(proxy)), log);
  }

  /** The topic named `name`, created if it does not exist. */
  async topic(name: string): Promise<IceStorm.TopicPrx> {
    try {
      return await callDroppingStuckConnection(this.topicManager, (tm) => tm.retrieve(name));
    } catch (e) {
      if (!(e instanceof IceStorm.NoSuchTopic)) throw e;
    }
    try {
      return await this.topicManager.create(name);
    } catch (e) {
      if (!(e instanceof IceStorm.TopicExists)) throw e;
      return await this.topicManager.retrieve(name);
    }
  }

  /** Destroys a topic; a topic that is already gone is fine. */
  async destroyTopic(name: string): Promise<void> {
    try {
      const t = await this.topicManager.retrieve(name);
      await t.destroy();
    } catch (e) {
      if (!(e instanceof IceStorm.NoSuchTopic) && !(e instanceof Ice.ObjectNotExistException)) throw e;
    }
  }

  /**
   * A publisher for `name`. `cast` turns the topic's publisher object into the typed proxy.
   * Calls go twoway to the broker (so a failure is seen) and re-resolve the publisher once after
   * a failure, which covers a broker restart.
   */
  publisher<P extends Ice.ObjectPrx>(name: string, cast: (prx: Ice.ObjectPrx) => P): TopicPublisher<P> {
    return new TopicPublisher(this, name, cast, this.#log);
  }

  /** Subscribes `subscriber` to `name`; see Subscription. */
  async subscribe(name: string, subscriber: Ice.ObjectPrx): Promise<Subscription> {
    const s = new Subscription(this, name, subscriber, this.#log);
    await s.ensure();
    return s;
  }
}

export class TopicPublisher<P extends Ice.ObjectPrx> {
  #publisher: P | undefined;
  constructor(
    private readonly topics: Topics,
    readonly topicName: string,
    private readonly cast: (prx: Ice.ObjectPrx) => P,
    private readonly log: Logger,
  ) {}

  async #resolve(): Promise<P> {
    const topic = await this.topics.topic(this.topicName);
    const pub = await topic.getPublisher();
    if (!pub) throw new Error(`topic ${this.topicName} has no publisher`);
    this.#publisher = this.cast(pub);
    return this.#publisher;
  }

  /**
   * Runs `send` with the publisher proxy; on failure re-resolves the publisher and tries once
   * more (the retry is signed afresh by the caller's `send`).
   */
  async publish(send: (publisher: P) => PromiseLike<unknown>): Promise<void> {
    try {
      await callDroppingStuckConnection(this.#publisher ?? (await this.#resolve()), send);
    } catch (first) {
      if (!(first instanceof Ice.LocalException)) throw first;
      this.log.debug({ topic: this.topicName, error: String(first) }, "publish failed, re-resolving publisher");
      await send(await this.#resolve());
    }
    metrics.eventsPublished.inc({ topic: this.topicName });
  }

  /**
   * Publishes `operation(args)` signed per spec §7.1: `send` receives the publisher and the
   * request context carrying the signature.
   */
  async publishSigned(
    signer: { sign(topic: string, operation: string, args: readonly EventArg[]): Map<string, string> },
    operation: string,
    args: readonly EventArg[],
    send: (publisher: P, ctx: Map<string, string>) => PromiseLike<unknown>,
  ): Promise<void> {
    await this.publish((publisher) => send(publisher, signer.sign(this.topicName, operation, args)));
  }
}

/**
 * A subscription that can be re-asserted: ensure() is idempotent (AlreadySubscribed is success),
 * so calling it periodically restores the subscription after a broker restart or a topic reset.
 */
export class Subscription {
  #active = true;
  #topic: IceStorm.TopicPrx | undefined;
  #timer: NodeJS.Timeout | undefined;
  #healthy = true;

  constructor(
    private readonly topics: Topics,
    readonly topicName: string,
    readonly subscriber: Ice.ObjectPrx,
    private readonly log: Logger,
  ) {}

  async ensure(): Promise<void> {
    if (!this.#active) return;
    const topic = await this.topics.topic(this.topicName);
    this.#topic = topic;
    try {
      await topic.subscribeAndGetPublisher(new Map(), this.subscriber);
    } catch (e) {
      if (!(e instanceof IceStorm.AlreadySubscribed)) throw e;
    }
  }

  /** Re-asserts the subscription every periodMs until unsubscribe(). */
  keepAlive(periodMs: number): this {
    const tick = async () => {
      try {
        await this.ensure();
        if (!this.#healthy) this.log.info({ topic: this.topicName }, "subscription restored");
        this.#healthy = true;
      } catch (e) {
        if (this.#healthy) this.log.warn({ topic: this.topicName, error: String(e) }, "cannot reach the broker; will retry");
        this.#healthy = false;
      }
      if (this.#active) this.#timer = setTimeout(tick, periodMs).unref();
    };
    this.#timer = setTimeout(tick, periodMs).unref();
    return this;
  }

  /** Stops re-asserting and unsubscribes (best effort: the broker may be gone). */
  async unsubscribe(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    clearTimeout(this.#timer);
    try {
      const topic = this.#topic ?? (await this.topics.topic(this.topicName));
      await topic.unsubscribe(this.subscriber);
    } catch (e) {
      this.log.debug({ topic: this.topicName, error: String(e) }, "unsubscribe failed");
    }
  }
}
