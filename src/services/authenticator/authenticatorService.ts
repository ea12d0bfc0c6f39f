/**
 * The Authenticator (spec §3): logins against the users DB, HMAC-signed tokens valid on every
 * replica, revocation published on AuthenticationStatus at expiry and at once when a user is
 * removed or given a new password (seen by polling the DB's data_version, so `iceflix user …`
 * takes effect without a restart).
 */
import { IceFlix } from "../../slice/index.js";
import { ServiceLifecycle, startOrStop } from "../../runtime/lifecycle.js";
import type { ServiceContext } from "../../runtime/serviceContext.js";
import type { TopicPublisher } from "../../runtime/topics.js";
import { TOPIC_AUTHENTICATION_STATUS } from "../../runtime/tokenValidator.js";
import { AuthenticatorI, TokenRevocationI, type TokenAuthority } from "./authenticatorServant.js";
import { IssuedTokens } from "./issuedTokens.js";
import { KdfBusyError } from "./kdfLimiter.js";
import { TOPIC_SERVICE_AVAILABILITY } from "../../runtime/announcer.js";
import { ServiceAvailabilityI } from "../../runtime/serviceAvailability.js";
import { kdfLimiter, normalizePasswordHash } from "./passwordKdf.js";
import { MAX_TOKEN_BYTES, TokenCodec, type TokenClaims } from "./tokens.js";
import { VerifiedTokens } from "./verifiedTokens.js";
import { isValidUserName, type UserStore } from "./userStore.js";
import { openUserStore } from "./userStores.js";
import { postgresBoundsFor } from "../../runtime/postgres.js";
import { metrics } from "../../runtime/metrics.js";

export const AUTHENTICATOR_ADAPTER = "AuthenticatorAdapter";
/** How often expiry and users-DB changes are checked: revocations go out within this of the event. */
const CHECK_INTERVAL_MS = 250;

export class AuthenticatorService extends ServiceLifecycle<IceFlix.AuthenticatorPrx> implements TokenAuthority {
  readonly #ctx: ServiceContext;
  /** Opened by #start (a networked store needs a connection). */
  #users!: UserStore;
  readonly #codec: TokenCodec;
  readonly #tokens = new IssuedTokens();
  /** Tokens whose MAC checked: a repeated check skips the parse and HMAC. */
  readonly #verified = new VerifiedTokens();
  readonly #lifetimeMs: number;
  #revocations: TopicPublisher<IceFlix.TokenRevocationPrx>;
  #dataVersion = -1;

  private constructor(ctx: ServiceContext) {
    super(ctx, "Authenticator");
    this.#ctx = ctx;
    this.#codec = new TokenCodec(ctx.secret);
    this.#lifetimeMs = ctx.settings.tokenLifetimeSeconds * 1000;
    this.#revocations = ctx.topics.publisher(TOPIC_AUTHENTICATION_STATUS, (p) => IceFlix.TokenRevocationPrx.uncheckedCast(p));
  }

  static start(ctx: ServiceContext): Promise<AuthenticatorService> {
    return startOrStop(new AuthenticatorService(ctx), (service) => service.#start());
  }

  /** Stop order is the reverse: announcer, checks, subscription, adapter, users DB. */
  async #start(): Promise<void> {
    this.#users = await openUserStore(this.#ctx.settings.database, {
      dataDir: this.#ctx.settings.dataDir,
      ...postgresBoundsFor(this.#ctx.settings.callTimeoutMs),
      log: this.#ctx.log,
    });
    this.onStop(() => this.#users.close());
    const server = await this.createAdapter(AUTHENTICATOR_ADAPTER, { logConnectionEvents: false });
    const proxy = this.serveAs(IceFlix.AuthenticatorPrx.uncheckedCast(server.add(new AuthenticatorI(this), "Authenticator")));
    await this.subscribe(TOPIC_AUTHENTICATION_STATUS, server.addWithUUID(new TokenRevocationI(this)));
    // No registry of others: it listens to ServiceAvailability only to welcome services that start later.
    await this.subscribe(TOPIC_SERVICE_AVAILABILITY, server.addWithUUID(new ServiceAvailabilityI({}, this.id, this.#ctx.gate, this.welcomePeer)));
    this.#dataVersion = this.#users.dataVersion();
    const timer = setInterval(() => this.#check(), CHECK_INTERVAL_MS);
    this.onStop(() => clearInterval(timer));
    await this.announce("authenticator", proxy);
    this.#ctx.log.info({ id: this.id, proxy: this.proxyString, users: (await this.#users.list()).length, store: this.#users.location }, "Authenticator ready");
  }

  /** A new token for valid credentials, else undefined (the caller raises Unauthorized). */
  async login(user: string, passwordHash: string): Promise<string | undefined> {
    const hash = normalizePasswordHash(passwordHash);
    if (!isValidUserName(user) || !hash) return undefined;
    let result: Awaited<ReturnType<UserStore["login"]>>;
    try {
      result = await this.#users.login(user, hash);
    } catch (e) {
      if (e instanceof KdfBusyError) this.#warnBusy();
      throw e;
    }
    if (!result.ok) {
      this.#ctx.log.info({ user, reason: result.reason }, "login refused");
      return undefined;
    }
    const { token, claims } = this.#codec.issue(user, this.#lifetimeMs);
    this.#tokens.remember(token, claims);
    metrics.tokensIssued.inc();
    return token;
  }

  #lastBusyWarning = 0;

  /** One warning per 10 s while logins are refused for lack of KDF capacity (a flood, or too few cores). */
  #warnBusy(): void {
    const now = Date.now();
    if (now - this.#lastBusyWarning < 10_000) return;
    this.#lastBusyWarning = now;
    this.#ctx.log.warn({ refused: kdfLimiter.refused, waiting: kdfLimiter.queued }, "logins refused: password KDF saturated");
  }

  /** Valid iff the MAC checks, not expired, not revoked, issued after the user's last change. */
  isValid(token: string, now = Date.now()): boolean {
    if (typeof token !== "string" || token.length > MAX_TOKEN_BYTES) return false;
    const claims = this.#verified.get(token, now) ?? this.#verify(token, now);
    if (!claims || claims.expiresAt <= now || this.#tokens.isRevoked(token)) return false;
    const validSince = this.#users.validSince(claims.user);
    return validSince !== undefined && claims.issuedAt >= validSince;
  }

  /** The claims of a token whose MAC checks (remembered until it expires), else undefined. */
  #verify(token: string, now: number): TokenClaims | undefined {
    const claims = this.#codec.decode(token);
    if (claims) this.#verified.add(token, claims, now);
    return claims;
  }

  /** A revoke event from any replica (ours included): remembered if signed and authentic. */
  onRevokeEvent(token: string, context: Map<string, string> | undefined): void {
    if (!this.#ctx.gate.accept(TOPIC_AUTHENTICATION_STATUS, "revoke", [token], context)) return;
    const claims = this.#codec.decode(token);
    if (claims) this.#tokens.revoke(token, claims.expiresAt);
    this.#verified.delete(token); // refused from now on by the revoked set; no need to keep it
  }

  #check(): void {
    const now = Date.now();
    for (const token of this.#tokens.takeExpired(now)) this.#publishRevoke(token, "expired");
    this.#verified.sweep(now);
    const version = this.#users.dataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    for (const [token, claims] of this.#tokens.takeWhere((c) => {
      const since = this.#users.validSince(c.user);
      return since === undefined || c.issuedAt < since;
    })) {
      this.#tokens.revoke(token, claims.expiresAt);
      this.#publishRevoke(token, "user changed");
    }
  }

  #publishRevoke(token: string, reason: "expired" | "user changed"): void {
    metrics.tokensRevoked.inc({ reason: reason.replace(" ", "_") });
    this.#ctx.log.info({ reason }, "publishing token revocation");
    this.#revocations
      .publishSigned(this.#ctx.signer, "revoke", [token], (pub, ctx) => pub.revoke(token, ctx))
      .catch((e: unknown) => this.#ctx.log.warn({ error: String(e) }, "cannot publish a revocation"));
  }
}


