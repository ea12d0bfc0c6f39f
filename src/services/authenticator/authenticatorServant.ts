/** AuthenticatorI: logins and token checks, translated into the AuthenticatorService. */
import { Ice, IceFlix } from "../../slice/index.js";
import type { AuthenticatorService } from "./authenticatorService.js";

export class AuthenticatorI extends IceFlix.Authenticator {
  constructor(private readonly service: AuthenticatorService) {
    super();
  }

  async refreshAuthorization(user: string, passwordHash: string, _current: Ice.Current): Promise<string> {
    const token = await this.service.login(user, passwordHash);
    if (token === undefined) throw new IceFlix.Unauthorized();
    return token;
  }

  isAuthorized(authentication: string, _current: Ice.Current): boolean {
    return this.service.isValid(authentication);
  }
}

/** Receives revocations published by any replica on AuthenticationStatus. */
export class TokenRevocationI extends IceFlix.TokenRevocation {
  constructor(private readonly service: AuthenticatorService) {
    super();
  }

  revoke(authentication: string, current: Ice.Current): void {
    this.service.onRevokeEvent(authentication, current.ctx);
  }
}
