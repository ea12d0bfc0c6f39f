/**
 * MediaCatalogI: the MediaCatalog servant (spec §4). Searches read the index; edits check the
 * token with an Authenticator, then the limits (§10), then apply in one transaction. getTile hands
 * out a live provider of the media, round-robin, pinging it first like the registries do (§2).
 */
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import type { TokenValidator } from "../../runtime/tokenValidator.js";
import { TagLimitError, type CatalogDb } from "./catalogDb.js";
import { checkMediaIdArgument, checkSearchText, checkTags, checkTitleName } from "./catalogLimits.js";
import type { MediaAvailability } from "./mediaAvailability.js";

export interface MediaCatalogDeps {
  db: CatalogDb;
  availability: MediaAvailability;
  providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  tokens: TokenValidator;
  /** Bound of the liveness ping of a provider before it is handed out. */
  pingTimeoutMs: number;
  /**
   * Until then (ms since the epoch) the catalog is still learning the providers and their media:
   * getTile of a known title with no live provider waits for one instead of TemporaryUnavailable.
   */
  warmUntil?: number;
}

export class MediaCatalogI extends IceFlix.MediaCatalog {
  constructor(private readonly deps: MediaCatalogDeps) {
    super();
  }

  async getTile(id: string, _current: Ice.Current): Promise<IceFlix.Media> {
    checkMediaIdArgument(id);
    const title = this.deps.db.get(id);
    if (!title) throw new IceFlix.WrongMediaId(id);
    let provider = await this.#liveProvider(id);
    const warmUpLeft = (this.deps.warmUntil ?? 0) - Date.now();
    if (!provider && warmUpLeft > 0) {
      await this.deps.availability.whenAdded(id, warmUpLeft);
      provider = await this.#liveProvider(id);
    }
    if (!provider) throw new IceFlix.TemporaryUnavailable();
    return new IceFlix.Media(id, provider, new IceFlix.MediaInfo(title.name, [...title.tags]));
  }

  getTilesByName(name: string, exact: boolean, _current: Ice.Current): string[] {
    checkSearchText(name);
    return this.deps.db.searchByName(name, exact);
  }

  getTilesByTags(tags: string[], includeAllTags: boolean, _current: Ice.Current): string[] {
    return this.deps.db.searchByTags(checkTags(tags), includeAllTags);
  }

  async renameTile(id: string, name: string, authentication: string, _current: Ice.Current): Promise<void> {
    await this.deps.tokens.require(authentication);
    checkMediaIdArgument(id);
    const newName = checkTitleName(name);
    if (!this.deps.db.rename(id, newName)) throw new IceFlix.WrongMediaId(id);
  }

  async addTags(id: string, tags: string[], authentication: string, _current: Ice.Current): Promise<void> {
    await this.deps.tokens.require(authentication);
    checkMediaIdArgument(id);
    const wanted = checkTags(tags);
    let known: boolean;
    try {
      known = this.deps.db.addTags(id, wanted);
    } catch (e) {
      if (e instanceof TagLimitError) throw new IceFlixExt.InvalidArgument(e.message);
      throw e;
    }
    if (!known) throw new IceFlix.WrongMediaId(id);
  }

  async removeTags(id: string, tags: string[], authentication: string, _current: Ice.Current): Promise<void> {
    await this.deps.tokens.require(authentication);
    checkMediaIdArgument(id);
    if (!this.deps.db.removeTags(id, checkTags(tags))) throw new IceFlix.WrongMediaId(id);
  }

  /** The next live provider of the media; a provider that does not answer leaves the registry. */
  async #liveProvider(mediaId: string): Promise<IceFlix.StreamProviderPrx | undefined> {
    for (const providerId of this.deps.availability.providersInTurn(mediaId)) {
      const registered = this.deps.providers.get(providerId);
      if (!registered) {
        this.deps.availability.removeProvider(providerId);
        continue;
      }
      try {
        await registered.proxy.ice_invocationTimeout(this.deps.pingTimeoutMs).ice_ping();
        return registered.proxy;
      } catch (e) {
        if (!(e instanceof Ice.LocalException)) throw e;
        // Removal tells every listener (the availability map among them) that it is gone.
        this.deps.providers.remove(providerId, "liveness ping failed");
      }
    }
    return undefined;
  }
}
