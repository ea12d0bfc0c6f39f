/**
 * MediaCatalogI: the MediaCatalog servant (spec §4). Searches read the index; edits check the
 * token with an Authenticator, then the id (WrongMediaId), then the limits (§10), then apply in
 * one transaction; an edit the
 * disk could not take (full, read-only, I/O error) is refused with Busy{reason} and changes nothing. getTile hands
 * out a live provider of the media, round-robin, checked first like the registries do (§2): the
 * check is the provider's own isAvailable(id) (one call, in place of ice_ping), so a provider
 * that stopped serving the file (deleted from its folder: the contract has no "withdrawn" event)
 * is not handed out for it; the pair is forgotten until the provider announces the media again.
 */
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import { callDroppingStuckConnection } from "../../runtime/staleConnection.js";
import type { Logger } from "../../runtime/logger.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import type { TokenValidator } from "../../runtime/tokenValidator.js";
import { busyFor, StorageFault } from "../../runtime/storageErrors.js";
import { TagLimitError, type CatalogDb } from "./catalogDb.js";
import { wrongMediaId } from "../../runtime/wrongMediaId.js";
import { checkSearchText, checkTags, checkTitleName, mayNameTitle } from "./catalogLimits.js";
import type { MediaAvailability } from "./mediaAvailability.js";

export interface MediaCatalogDeps {
  db: CatalogDb;
  availability: MediaAvailability;
  providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  tokens: TokenValidator;
  /** Withdrawn media are logged here (info). */
  log?: Logger;
  /**
   * Until then (ms since the epoch) the catalog is still learning the providers and their media:
   * getTile of a known title with no live provider waits for one instead of TemporaryUnavailable.
   */
  warmUntil?: number;
}

/** Runs a DB edit; a storage fault (logged once by the DB) reaches the caller as Busy{reason}. */
async function saved<T>(edit: () => Promise<T>): Promise<T> {
  try {
    return await edit();
  } catch (e) {
    if (e instanceof StorageFault) throw busyFor(e);
    throw e;
  }
}

export class MediaCatalogI extends IceFlix.MediaCatalog {
  /**
   * isAvailable(media) calls in flight, by provider and media: getTiles that start while one is
   * in flight share its answer (it arrives after each of them started, so each hand-out is still
   * checked after it was asked for); under load that is one check per round trip, not per call.
   */
  readonly #checks = new Map<string, Promise<boolean>>();

  constructor(private readonly deps: MediaCatalogDeps) {
    super();
  }

  getTile(id: string, _current: Ice.Current): Promise<IceFlix.Media> {
    // The title is read after the provider check, so the requests whose checks one shared
    // isAvailable answered also share one DB poll (titles are never deleted: a pre-check of the
    // index, confirmed by a poll only for an id not seen yet, keeps unknown ids off the providers).
    if (!mayNameTitle(id) || (!this.deps.db.hadAtLastPoll(id) && !this.deps.db.has(id))) return Promise.reject(wrongMediaId(id));
    return this.#liveProvider(id).then((provider) => (provider ? this.#tile(id, provider) : this.#tileAfterWarmUp(id)));
  }

  /** The Media answer: the title as stored now, served by `provider`. */
  #tile(id: string, provider: IceFlix.StreamProviderPrx): IceFlix.Media {
    const title = this.deps.db.get(id);
    if (!title) throw wrongMediaId(id);
    return new IceFlix.Media(id, provider, new IceFlix.MediaInfo(title.name, [...title.tags]));
  }

  /** No live provider: during the warm-up, waits for one to announce the media. */
  async #tileAfterWarmUp(id: string): Promise<IceFlix.Media> {
    const warmUpLeft = (this.deps.warmUntil ?? 0) - Date.now();
    let provider: IceFlix.StreamProviderPrx | undefined;
    if (warmUpLeft > 0) {
      await this.deps.availability.whenAdded(id, warmUpLeft);
      provider = await this.#liveProvider(id);
    }
    if (!this.deps.db.get(id)) throw wrongMediaId(id);
    if (!provider) throw new IceFlix.TemporaryUnavailable();
    return this.#tile(id, provider);
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
    this.#requireTitle(id);
    const newName = checkTitleName(name);
    if (!(await saved(() => this.deps.db.rename(id, newName)))) throw wrongMediaId(id);
  }

  async addTags(id: string, tags: string[], authentication: string, _current: Ice.Current): Promise<void> {
    await this.deps.tokens.require(authentication);
    this.#requireTitle(id);
    const wanted = checkTags(tags);
    let known: boolean;
    try {
      known = await saved(() => this.deps.db.addTags(id, wanted));
    } catch (e) {
      if (e instanceof TagLimitError) throw new IceFlixExt.InvalidArgument(e.message);
      throw e;
    }
    if (!known) throw wrongMediaId(id);
  }

  async removeTags(id: string, tags: string[], authentication: string, _current: Ice.Current): Promise<void> {
    await this.deps.tokens.require(authentication);
    this.#requireTitle(id);
    const unwanted = checkTags(tags);
    if (!(await saved(() => this.deps.db.removeTags(id, unwanted)))) throw wrongMediaId(id);
  }

  /**
   * WrongMediaId unless `id` names a title, checked before the name and tags: the contract's
   * exceptions (Unauthorized, then WrongMediaId) come before InvalidArgument, which an
   * original-contract client cannot catch (spec §0). The edit itself still answers WrongMediaId
   * if the title is gone by then.
   */
  #requireTitle(id: string): void {
    if (!mayNameTitle(id) || !this.deps.db.has(id)) throw wrongMediaId(id);
  }

  /**
   * The next live provider of the media, each candidate asked isAvailable(id) (bounded by the call
   * timeout) before it is handed out:
   * - true: handed out;
   * - false: it no longer serves the media; the pair is forgotten (a later newMedia brings it back)
   *   and the next provider is tried;
   * - no answer (Ice local exception): it leaves the registry, which tells the availability map;
   * - an error reply (Ice unknown exception: it is up but failed): skipped for this call only.
   */
  async #liveProvider(mediaId: string): Promise<IceFlix.StreamProviderPrx | undefined> {
    for (const providerId of this.deps.availability.providersInTurn(mediaId)) {
      const registered = this.deps.providers.get(providerId);
      if (!registered) {
        this.deps.availability.removeProvider(providerId);
        continue;
      }
      try {
        if (await this.#isAvailable(registered.boundedProxy, providerId, mediaId)) return registered.proxy;
        if (this.deps.availability.remove(mediaId, providerId)) {
          this.deps.log?.info({ id: mediaId, providerId }, "media withdrawn by its provider (isAvailable false)");
        }
      } catch (e) {
        if (e instanceof Ice.UnknownException) {
          this.deps.log?.warn({ id: mediaId, providerId, error: e.ice_id() }, "isAvailable failed on the provider; trying another");
          continue;
        }
        if (!(e instanceof Ice.LocalException)) throw e;
        // Removal tells every listener (the availability map among them) that it is gone.
        this.deps.providers.removeUnanswering(providerId, "liveness check (isAvailable) failed");
      }
    }
    return undefined;
  }

  /**
   * The provider's isAvailable(mediaId) through its registry's proxy bounded by the check timeout
   * (the call timeout); shared while in flight.
   */
  #isAvailable(bounded: IceFlix.StreamProviderPrx, providerId: string, mediaId: string): Promise<boolean> {
    const key = `${providerId}\n${mediaId}`;
    let check = this.#checks.get(key);
    if (!check) {
      check = callDroppingStuckConnection(bounded, (p) => p.isAvailable(mediaId)).finally(() => this.#checks.delete(key));
      this.#checks.set(key, check);
    }
    return check;
  }
}
