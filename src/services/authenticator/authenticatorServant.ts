/** AuthenticatorI: logins and token checks, translated into calls on the service behind them. */
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import { KdfBusyError } from "./kdfLimiter.js";
import { busyFor, StorageFault } from "../../runtime/storageErrors.js";

/** What the servants need of the Authenticator service (it implements this; no import back). */
export interface TokenAuthority {
  login(user: string, passwordHash: string): Promise<string | undefined>;
  isValid(token: string): boolean;
  onRevokeEvent(token: string, context: Map<string, string> | undefined): void;
}

export class AuthenticatorI extends IceFlix.Authenticator {
  constructor(private readonly service: TokenAuthority) {
    super();
  }

  async refreshAuthorization(user: string, passwordHash: string, _current: Ice.Current): Promise<string> {
    let token: string | undefined;
    try {
      token = await this.service.login(user, passwordHash);
    } catch (e) {
      // A login flood: refused at once rather than left to time out (spec §9 Busy).
      if (e instanceof KdfBusyError) throw new IceFlixExt.Busy(e.message);
      // The users store cannot be read (a database down): refused as temporary, no path or URL.
      if (e instanceof StorageFault) throw busyFor(e);
      throw e;
    }
    if (token === undefined) throw new IceFlix.Unauthorized();
    return token;
  }

  isAuthorized(authentication: string, _current: Ice.Current): boolean {
    return this.service.isValid(authentication);
  }
}

/** Receives revocations published by any replica on AuthenticationStatus. */
export class TokenRevocationI extends IceFlix.TokenRevocation {
  constructor(private readonly service: TokenAuthority) {
    super();
  }

  revoke(authentication: string, current: Ice.Current): void {
    this.service.onRevokeEvent(authentication, current.ctx);
  }
}
