/**
 * Token checks for services that are not the Authenticator (spec §0, §2): ask the registry's
 * Authenticators round-robin (the call itself is the liveness check); every candidate is tried
 * before giving up, and with none reachable the token is refused (Unauthorized), never accepted.
 */
import { Ice, IceFlix } from "../slice/index.js";
import type { ServiceRegistry } from "./serviceRegistry.js";
import { callDroppingStuckConnection } from "./staleConnection.js";

/** Where Authenticators publish revoke(token) (signed), at expiry and on user changes (spec §3). */
export const TOPIC_AUTHENTICATION_STATUS = "AuthenticationStatus";

/** Spec §10: token arguments beyond 4 KiB are refused without a call. */
export const MAX_TOKEN_LENGTH = 4096;

export class TokenValidator {
  constructor(private readonly authenticators: ServiceRegistry<IceFlix.AuthenticatorPrx>) {}

  /** True iff an Authenticator says the token is valid. */
  async isValid(token: string): Promise<boolean> {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) return false;
    // The isAuthorized call is each Authenticator's liveness check (callOne: no ping first).
    const valid = await this.authenticators.callOne((auth) => callDroppingStuckConnection(auth, (a) => a.isAuthorized(token)));
    return valid === true;
  }

  /** Throws IceFlix.Unauthorized unless the token is valid. */
  async require(token: string): Promise<void> {
    if (!(await this.isValid(token))) throw new IceFlix.Unauthorized();
  }
}
