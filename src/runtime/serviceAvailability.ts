/**
 * The ServiceAvailability subscriber every service uses: feeds announcements into the
 * registries of the kinds it cares about and ignores the rest (and its own announcements).
 */
import { Ice, IceFlix } from "../slice/index.js";
import type { ServiceRegistry } from "./serviceRegistry.js";

export interface AvailabilityRegistries {
  authenticator?: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  catalog?: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  streaming?: ServiceRegistry<IceFlix.StreamProviderPrx>;
}

export class ServiceAvailabilityI extends IceFlix.ServiceAvailability {
  constructor(
    private readonly registries: AvailabilityRegistries,
    private readonly selfId?: string,
  ) {
    super();
  }

  authenticationService(service: IceFlix.AuthenticatorPrx | null, id: string, _current: Ice.Current): void {
    this.#record(this.registries.authenticator, service, id);
  }

  catalogService(service: IceFlix.MediaCatalogPrx | null, id: string, _current: Ice.Current): void {
    this.#record(this.registries.catalog, service, id);
  }

  mediaService(service: IceFlix.StreamProviderPrx | null, id: string, _current: Ice.Current): void {
    this.#record(this.registries.streaming, service, id);
  }

  #record<P extends Ice.ObjectPrx>(registry: ServiceRegistry<P> | undefined, service: P | null, id: string): void {
    // A null proxy or an empty id cannot be handed out; drop it quietly (it is an event, no reply).
    if (!registry || !service || !id || id === this.selfId) return;
    registry.announce(id, service);
  }
}
