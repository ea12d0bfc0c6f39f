/**
 * The live StreamControllers of one provider: registers each under a unique identity, enforces
 * IceFlix.Stream.MaxConcurrent (Busy, spec §5), unregisters a controller when it is destroyed,
 * hands revoked tokens to them, and destroys them all when the provider stops.
 */
import { IceFlix, IceFlixExt } from "../../slice/index.js";
import type { ServerAdapter } from "../../ice-server/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { MediaFile } from "./mediaLibrary.js";
import type { TokenOwner } from "./streamAuth.js";
import { StreamControllerI, type ControllerDeps } from "./streamController.js";

export class StreamControllers {
  readonly #live = new Map<string, StreamControllerI>();

  constructor(
    private readonly server: ServerAdapter,
    private readonly deps: ControllerDeps,
    readonly maxConcurrent: number,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.#live.size;
  }

  /** A new controller of `media` for `owner`; IceFlixExt.Busy at the limit. */
  create(media: MediaFile, owner: TokenOwner): IceFlix.StreamControllerPrx {
    if (this.#live.size >= this.maxConcurrent) {
      this.log.warn({ limit: this.maxConcurrent }, "stream limit reached");
      throw new IceFlixExt.Busy(`this provider is serving its limit of ${this.maxConcurrent} streams; try again later`);
    }
    const controller = new StreamControllerI(media, owner, this.deps, (c) => {
      this.#live.delete(c.key);
      this.server.remove(c.identity);
    });
    this.#live.set(controller.key, controller);
    const proxy = IceFlix.StreamControllerPrx.uncheckedCast(this.server.add(controller, controller.identity));
    this.log.info({ controller: controller.key, media: media.id, user: owner.user }, "stream controller created");
    return proxy;
  }

  /** A revoke event that passed the provider's gate (each controller checks whether it is its token). */
  tokenRevoked(token: string): void {
    for (const c of this.#live.values()) c.tokenRevoked(token);
  }

  async destroyAll(reason: string): Promise<void> {
    await Promise.all([...this.#live.values()].map((c) => c.destroy(reason)));
  }
}
