/**
 * The ServiceAvailability subscriber every service uses: feeds announcements into the
 * registries of the kinds it cares about and ignores the rest (and its own announcements).
 * Given an EventGate, it obeys only events the gate accepts (signed, spec §7). `onPeer` hears
 * every accepted announcement of another service, of any kind (ServiceLifecycle welcomes newcomers).
 */
import { Ice, IceFlix } from "../slice/index.js";
import type { EventGate } from "./eventSignature.js";
import type { ServiceRegistry } from "./serviceRegistry.js";
import { TOPIC_SERVICE_AVAILABILITY } from "./announcer.js";

export interface AvailabilityRegistries {
  authenticator?: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  catalog?: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  streaming?: ServiceRegistry<IceFlix.StreamProviderPrx>;
}

export class ServiceAvailabilityI extends IceFlix.ServiceAvailability {
  constructor(
    private readonly registries: AvailabilityRegistries,
    private readonly selfId?: string,
    private readonly gate?: EventGate,
    private readonly onPeer?: (id: string) => void,
  ) {
    super();
  }

  authenticationService(service: IceFlix.AuthenticatorPrx | null, id: string, current: Ice.Current): void {
    this.#record("authenticationService", this.registries.authenticator, service, id, current);
  }

  catalogService(service: IceFlix.MediaCatalogPrx | null, id: string, current: Ice.Current): void {
    this.#record("catalogService", this.registries.catalog, service, id, current);
  }

  mediaService(service: IceFlix.StreamProviderPrx | null, id: string, current: Ice.Current): void {
    this.#record("mediaService", this.registries.streaming, service, id, current);
  }

  #record<P extends Ice.ObjectPrx>(
    operation: string,
    registry: ServiceRegistry<P> | undefined,
    service: P | null,
    id: string,
    current: Ice.Current,
  ): void {
    // Kinds we neither track nor welcome are ignored before the gate, so they are not counted as dropped.
    if (!registry && !this.onPeer) return;
    if (this.gate && !this.gate.accept(TOPIC_SERVICE_AVAILABILITY, operation, [service, id], current.ctx)) return;
    // A null proxy or an empty id cannot be handed out; drop it quietly (it is an event, no reply).
    if (!service || !id || id === this.selfId) return;
    registry?.announce(id, service);
    this.onPeer?.(id);
  }
}
