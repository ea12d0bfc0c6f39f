/**
 * The provider's one AuthenticationStatus subscriber (spec §6). It passes each revoke event
 * through the service's EventGate once — the gate refuses a nonce it has seen, so one subscriber
 * per controller would drop all but the first copy — and fans the token out to the controllers.
 */
import { Ice, IceFlix } from "../../slice/index.js";
import type { EventGate } from "../../runtime/eventSignature.js";
import { TOPIC_AUTHENTICATION_STATUS } from "../../runtime/tokenValidator.js";

export class StreamRevocationsI extends IceFlix.TokenRevocation {
  constructor(
    private readonly gate: EventGate,
    private readonly onRevoked: (token: string) => void,
  ) {
    super();
  }

  revoke(authentication: string, current: Ice.Current): void {
    if (!this.gate.accept(TOPIC_AUTHENTICATION_STATUS, "revoke", [authentication], current.ctx)) return;
    this.onRevoked(authentication);
  }
}
