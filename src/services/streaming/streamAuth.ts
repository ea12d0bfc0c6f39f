/**
 * Token checks on the streaming side. Validity always comes from an Authenticator (TokenValidator:
 * every replica tried, none reachable → Unauthorized, spec §0); the user comes from the token
 * itself (TokenCodec with the deployment secret), so a controller can be bound to its user.
 * A token in another implementation's format is as valid as the Authenticator says, with an
 * unknown user.
 */
import { IceFlix } from "../../slice/index.js";
import { MAX_TOKEN_LENGTH, type TokenValidator } from "../../runtime/tokenValidator.js";
import type { TokenCodec } from "../authenticator/tokens.js";
import { ConfirmedTokens } from "./confirmedTokens.js";

export interface TokenOwner {
  /** undefined for a token we cannot read (issued by another implementation). */
  user: string | undefined;
  /** When the token expires (ms since the epoch); undefined when we cannot read it. */
  expiresAt?: number;
}

export class StreamAuth {
  /** Confirmations of the last second (getStream then getSDP ask once; revoke drops one). */
  readonly #confirmed = new ConfirmedTokens();
  /** Revokes seen so far: a confirmation whose check overlapped one is not kept. */
  #revokes = 0;

  constructor(
    private readonly validator: TokenValidator,
    private readonly codec: TokenCodec,
  ) {}

  /**
   * The owner of a valid token; IceFlix.Unauthorized otherwise (also beyond 4 KiB, spec §10).
   * A token an Authenticator confirmed within the last second is not asked about again.
   */
  async authorize(token: string): Promise<TokenOwner> {
    if (typeof token !== "string" || Buffer.byteLength(token, "utf8") > MAX_TOKEN_LENGTH) throw new IceFlix.Unauthorized();
    const claims = this.codec.decode(token);
    if (!this.#confirmed.has(token)) {
      const revokesBefore = this.#revokes;
      if (!(await this.validator.isValid(token))) throw new IceFlix.Unauthorized();
      if (this.#revokes === revokesBefore) this.#confirmed.confirm(token, claims?.expiresAt);
    }
    return { user: claims?.user, expiresAt: claims?.expiresAt };
  }

  /** A signed revoke of `token` arrived: its next check asks an Authenticator. */
  tokenRevoked(token: string): void {
    this.#revokes++;
    this.#confirmed.forget(token);
  }

  /** Whether an Authenticator still calls `token` valid (false with none reachable); always asks. */
  isValid(token: string): Promise<boolean> {
    return this.validator.isValid(token);
  }

  /** A valid token of `owner`'s user; IceFlix.Unauthorized for an invalid one or another user's. */
  async authorizeAs(token: string, owner: TokenOwner): Promise<TokenOwner> {
    const other = await this.authorize(token);
    if (other.user !== owner.user) throw new IceFlix.Unauthorized();
    return other;
  }
}
