/**
 * The catalog's volatile map (spec §4): media id → the providers currently serving it (several
 * providers may serve the same file), and the reverse, so a provider that goes away takes its
 * media with it. Nothing here is persisted: a restarted catalog relearns it from the providers.
 */
export class MediaAvailability {
  readonly #providersOf = new Map<string, Set<string>>();
  readonly #mediaOf = new Map<string, Set<string>>();
  readonly #cursor = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();

  add(mediaId: string, providerId: string): void {
    addTo(this.#providersOf, mediaId, providerId);
    addTo(this.#mediaOf, providerId, mediaId);
    const waiters = this.#waiters.get(mediaId);
    this.#waiters.delete(mediaId);
    for (const w of waiters ?? []) w();
  }

  /** Resolves when a provider of the media is added, or after timeoutMs. */
  whenAdded(mediaId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const set = this.#waiters.get(mediaId);
        set?.delete(done);
        if (set?.size === 0) this.#waiters.delete(mediaId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      addTo(this.#waiters, mediaId, done);
    });
  }

  /**
   * Forgets a provider; its media stay known (and searchable) but may become unavailable.
   * Returns the media ids it was serving.
   */
  removeProvider(providerId: string): string[] {
    const media = this.#mediaOf.get(providerId);
    if (!media) return [];
    this.#mediaOf.delete(providerId);
    for (const mediaId of media) {
      const providers = this.#providersOf.get(mediaId);
      providers?.delete(providerId);
      if (providers?.size === 0) {
        this.#providersOf.delete(mediaId);
        this.#cursor.delete(mediaId);
      }
    }
    return [...media];
  }

  /**
   * Forgets one (media, provider) pair: the provider still runs but no longer serves that media
   * (its file was deleted or changed; the contract has no "withdrawn" event, getTile finds out).
   * A later newMedia of the pair adds it back. Returns whether the pair was known.
   */
  remove(mediaId: string, providerId: string): boolean {
    const providers = this.#providersOf.get(mediaId);
    if (!providers?.delete(providerId)) return false;
    if (providers.size === 0) {
      this.#providersOf.delete(mediaId);
      this.#cursor.delete(mediaId);
    }
    const media = this.#mediaOf.get(providerId);
    media?.delete(mediaId);
    if (media?.size === 0) this.#mediaOf.delete(providerId);
    return true;
  }

  /** The providers of a media, rotated one step per call (round-robin over callers). */
  providersInTurn(mediaId: string): string[] {
    const providers = [...(this.#providersOf.get(mediaId) ?? [])];
    if (providers.length <= 1) return providers;
    const start = (this.#cursor.get(mediaId) ?? 0) % providers.length;
    this.#cursor.set(mediaId, start + 1);
    return [...providers.slice(start), ...providers.slice(0, start)];
  }

  mediaCount(providerId: string): number {
    return this.#mediaOf.get(providerId)?.size ?? 0;
  }
}

function addTo<V>(map: Map<string, Set<V>>, key: string, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
