/**
 * Publishing IceFlix events on a deployment's topics from the test, as an attacker or as a
 * legitimate publisher would (spec §7): unsigned, signed with another secret, signed and then
 * tampered with, stale, or signed properly and replayed.
 */
import { randomBytes } from "node:crypto";
import { Ice, IceFlix, IceStorm } from "../../../src/slice/index.js";
import { EventSigner, type EventArg } from "../../../src/runtime/eventSignature.js";

export type Topic = "ServiceAvailability" | "MediaAnnouncements" | "AuthenticationStatus";

export type Forgery = "unsigned" | "otherSecret" | "tampered" | "stale" | "replayed";

export interface PublishedEvent {
  topic: Topic;
  operation: string;
  args: EventArg[];
}

export class EventInjector {
  readonly #signer: EventSigner;
  readonly #other = new EventSigner(randomBytes(32));
  readonly #publishers = new Map<Topic, Ice.ObjectPrx>();

  constructor(
    private readonly topicManager: IceStorm.TopicManagerPrx,
    secret: Buffer,
  ) {
    this.#signer = new EventSigner(secret);
  }

  async #publisher(topic: Topic): Promise<Ice.ObjectPrx> {
    let p = this.#publishers.get(topic);
    if (!p) {
      let t: IceStorm.TopicPrx;
      try {
        t = await this.topicManager.retrieve(topic);
      } catch (e) {
        if (!(e instanceof IceStorm.NoSuchTopic)) throw e;
        t = await this.topicManager.create(topic);
      }
      // Twoway: the call returns once IceStorm has the event, so order and completion are known.
      p = (await t.getPublisher())!.ice_twoway();
      this.#publishers.set(topic, p);
    }
    return p;
  }

  /** Sends one event with exactly this context (undefined: none). */
  async send(event: PublishedEvent, ctx: Map<string, string> | undefined): Promise<void> {
    const publisher = await this.#publisher(event.topic);
    const a = event.args as never[];
    switch (event.operation) {
      case "revoke":
        return IceFlix.TokenRevocationPrx.uncheckedCast(publisher).revoke(a[0]!, ctx);
      case "newMedia":
        return IceFlix.StreamAnnouncesPrx.uncheckedCast(publisher).newMedia(a[0]!, a[1]!, a[2]!, ctx);
      case "authenticationService":
        return IceFlix.ServiceAvailabilityPrx.uncheckedCast(publisher).authenticationService(a[0]!, a[1]!, ctx);
      case "catalogService":
        return IceFlix.ServiceAvailabilityPrx.uncheckedCast(publisher).catalogService(a[0]!, a[1]!, ctx);
      case "mediaService":
        return IceFlix.ServiceAvailabilityPrx.uncheckedCast(publisher).mediaService(a[0]!, a[1]!, ctx);
      default:
        throw new Error(`unknown operation ${event.operation}`);
    }
  }

  /** Properly signed with the deployment secret, now. */
  signed(event: PublishedEvent, now = Date.now()): Map<string, string> {
    return this.#signer.sign(event.topic, event.operation, event.args, now);
  }

  /** Publishes a properly signed event once. */
  async publishSigned(event: PublishedEvent): Promise<void> {
    await this.send(event, this.signed(event));
  }

  /**
   * Publishes `event` the way `forgery` says. "tampered" signs `event` and sends it with its
   * first string argument changed; "replayed" sends one properly signed event twice (the first
   * copy is legitimate and is obeyed). Resolves with how many copies were sent.
   */
  async forge(event: PublishedEvent, forgery: Forgery, tamperedArgs?: EventArg[]): Promise<number> {
    switch (forgery) {
      case "unsigned":
        await this.send(event, undefined);
        return 1;
      case "otherSecret":
        await this.send(event, this.#other.sign(event.topic, event.operation, event.args));
        return 1;
      case "tampered": {
        const ctx = this.signed(event);
        await this.send({ ...event, args: tamperedArgs ?? event.args }, ctx);
        return 1;
      }
      case "stale":
        await this.send(event, this.signed(event, Date.now() - 10 * 60_000));
        return 1;
      case "replayed": {
        const ctx = this.signed(event);
        await this.send(event, ctx);
        await this.send(event, new Map(ctx));
        return 2;
      }
    }
  }
}
