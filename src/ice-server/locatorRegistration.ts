/**
 * Registers an adapter's published endpoints with the locator registry (IceGrid), as a C++
 * adapter does on activate(): `setAdapterDirectProxy(AdapterId)`, or
 * `setReplicatedAdapterDirectProxy(AdapterId, ReplicaGroupId)` for a replica.
 *
 * A C++ adapter registers once. A registry that restarts with its database lost (a replaced
 * host, an in-memory test registry) would then never resolve it again, so the registration is
 * checked every period against what the locator answers for our adapter id and made again when
 * it differs; a stale registry proxy is re-fetched through the locator each time.
 */
import { Ice } from "../slice/index.js";

/** Thrown when the first registration fails: the service must not say it is ready. */
export class LocatorRegistrationError extends Error {
  override name = "LocatorRegistrationError";
}

export type LocatorEvent =
  | { type: "registered"; adapterId: string; again: boolean }
  | { type: "registry-unreachable"; adapterId: string; error: string }
  | { type: "unregistered"; adapterId: string };

export interface LocatorRegistrationOptions {
  /** The adapter's configuration name, for error messages. */
  adapterName: string;
  adapterId: string;
  /** Set for a replica of a replica group. */
  replicaGroupId: string;
  /** How often the registration is checked (and restored). */
  checkPeriodMs: number;
  /** Bound of the unregistration call on stop (the registry may be gone). */
  unregisterTimeoutMs: number;
  onEvent?: (event: LocatorEvent) => void;
}

export class LocatorRegistration {
  readonly #locator: Ice.LocatorPrx;
  readonly #directProxy: Ice.ObjectPrx;
  readonly #options: LocatorRegistrationOptions;
  /** Our endpoints as the locator prints them, to compare with what it answers. */
  readonly #endpoints: string;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  /** Set while the registry does not answer, so the failure is reported once per outage. */
  #unreachable = false;
  #stopped: Promise<void> | undefined;

  private constructor(locator: Ice.LocatorPrx, directProxy: Ice.ObjectPrx, options: LocatorRegistrationOptions) {
    this.#locator = locator;
    this.#directProxy = directProxy;
    this.#options = options;
    this.#endpoints = endpointKey(directProxy);
  }

  /**
   * Registers `directProxy`'s endpoints (a proxy of the adapter's published endpoints) and starts
   * the periodic check. Throws a LocatorRegistrationError naming the adapter and the locator.
   */
  static async register(locator: Ice.LocatorPrx, directProxy: Ice.ObjectPrx, options: LocatorRegistrationOptions): Promise<LocatorRegistration> {
    const registration = new LocatorRegistration(locator, directProxy, options);
    try {
      await registration.#set(directProxy);
    } catch (e) {
      throw new LocatorRegistrationError(`${options.adapterName}: cannot register adapter ${options.adapterId} with the locator ${locator.toString()}: ${describe(e)}`, {
        cause: e,
      });
    }
    options.onEvent?.({ type: "registered", adapterId: options.adapterId, again: false });
    registration.#schedule();
    return registration;
  }

  /** Stops checking and removes our endpoints from the registry (bounded; a gone registry is fine). Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#checking;
      try {
        await this.#set(null, this.#options.unregisterTimeoutMs);
        this.#options.onEvent?.({ type: "unregistered", adapterId: this.#options.adapterId });
      } catch {
        // Registry unreachable on the way out: it forgets us when the node or an operator clears it.
      }
    })();
    return this.#stopped;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#checking = this.#check().finally(() => {
        this.#checking = undefined;
        this.#schedule();
      });
    }, this.#options.checkPeriodMs);
    this.#timer.unref();
  }

  /** Registers again when the locator no longer answers our endpoints for our adapter id. */
  async #check(): Promise<void> {
    const { adapterId, onEvent } = this.#options;
    try {
      if (!(await this.#isRegistered())) {
        await this.#set(this.#directProxy);
        onEvent?.({ type: "registered", adapterId, again: true });
      }
      this.#unreachable = false;
    } catch (e) {
      if (!this.#unreachable) onEvent?.({ type: "registry-unreachable", adapterId, error: describe(e) });
      this.#unreachable = true;
    }
  }

  async #isRegistered(): Promise<boolean> {
    try {
      const found = await this.#bounded(this.#locator).findAdapterById(this.#options.adapterId);
      return found !== null && endpointKey(found) === this.#endpoints;
    } catch (e) {
      if (e instanceof Ice.AdapterNotFoundException) return false;
      throw e;
    }
  }

  /** Sets (or, with null, clears) our entry; the registry proxy is asked for each time (its endpoints may change on restart). */
  async #set(proxy: Ice.ObjectPrx | null, timeoutMs?: number): Promise<void> {
    const { adapterId, replicaGroupId } = this.#options;
    const registry = await this.#bounded(this.#locator, timeoutMs).getRegistry();
    if (!registry) throw new Error("the locator has no registry");
    const bounded = this.#bounded(registry, timeoutMs);
    // A null proxy clears the entry (Slice proxies are nullable; the typings omit it).
    const entry = proxy as Ice.ObjectPrx;
    if (replicaGroupId) await bounded.setReplicatedAdapterDirectProxy(adapterId, replicaGroupId, entry);
    else await bounded.setAdapterDirectProxy(adapterId, entry);
  }

  #bounded<P extends Ice.ObjectPrx>(proxy: P, timeoutMs?: number): P {
    return timeoutMs === undefined ? proxy : (proxy.ice_invocationTimeout(timeoutMs) as P);
  }
}

function endpointKey(proxy: Ice.ObjectPrx): string {
  return proxy
    .ice_getEndpoints()
    .map((e) => e.toString())
    .sort()
    .join(":");
}

/** A registry's answer in a few words: the user exception's or local exception's name. */
function describe(e: unknown): string {
  if (e instanceof Ice.AdapterNotFoundException) return "the registry does not know this adapter (deploy it, or set IceGrid.Registry.DynamicRegistration=1)";
  if (e instanceof Ice.InvalidReplicaGroupIdException) return "the replica group id is not the one the registry has for this adapter";
  if (e instanceof Ice.AdapterAlreadyActiveException) return "another process already registered this adapter id";
  if (e instanceof Ice.Exception) return e.ice_id().replace(/^::Ice::/, "");
  return e instanceof Error ? e.message : String(e);
}
