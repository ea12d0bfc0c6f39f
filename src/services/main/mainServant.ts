/** MainI: the Main (and MainExt) servant; translates calls into the registries. */
import { Ice, IceFlix, IceFlixExt, IceStorm } from "../../slice/index.js";
import type { ServiceRegistry } from "../../runtime/serviceRegistry.js";
import { toIceLong } from "../../runtime/iceValues.js";

export interface MainState {
  authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>;
  catalogs: ServiceRegistry<IceFlix.MediaCatalogPrx>;
  providers: ServiceRegistry<IceFlix.StreamProviderPrx>;
  topicManager: IceStorm.TopicManagerPrx;
  tokenLifetimeSeconds: number;
  self: { id: string; proxy: () => Ice.ObjectPrx | undefined };
}

/** A registry's pick, or TemporaryUnavailable when none is alive (a plain then: one promise per call). */
function handedOut<P>(prx: P | undefined): P {
  if (!prx) throw new IceFlix.TemporaryUnavailable();
  return prx;
}

export class MainI extends IceFlixExt.MainExt {
  constructor(private readonly state: MainState) {
    super();
  }

  getAuthenticator(_current: Ice.Current): Promise<IceFlix.AuthenticatorPrx> {
    return this.state.authenticators.pick().then(handedOut);
  }

  getCatalogService(_current: Ice.Current): Promise<IceFlix.MediaCatalogPrx> {
    return this.state.catalogs.pick().then(handedOut);
  }

  getTopicManager(_current: Ice.Current): IceStorm.TopicManagerPrx {
    return this.state.topicManager;
  }

  tokenLifetimeSeconds(_current: Ice.Current): number {
    return this.state.tokenLifetimeSeconds;
  }

  listInstances(_current: Ice.Current): IceFlixExt.InstanceInfo[] {
    const out: IceFlixExt.InstanceInfo[] = [];
    const self = this.state.self.proxy();
    if (self) out.push(new IceFlixExt.InstanceInfo("main", this.state.self.id, self, toIceLong(Date.now()), true));
    const kinds: Array<[string, ServiceRegistry<Ice.ObjectPrx>]> = [
      ["authenticator", this.state.authenticators],
      ["catalog", this.state.catalogs],
      ["streaming", this.state.providers],
    ];
    for (const [kind, registry] of kinds) {
      for (const i of registry.list()) {
        out.push(new IceFlixExt.InstanceInfo(kind, i.id, i.proxy, toIceLong(i.lastSeen), i.healthy));
      }
    }
    return out;
  }
}
