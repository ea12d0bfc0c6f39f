/** Authenticator: login with the SHA-256 hash, fresh tokens, refusals, isAuthorized, expiry. */
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { expectRaises, needCredentials, sleep, timed } from "../expect.js";

const login = (ctx: VerifyContext, user: string, hash: string) => ctx.link.withAuthenticator((a) => a.refreshAuthorization(user, hash));
const authorized = (ctx: VerifyContext, token: string) => ctx.link.withAuthenticator((a) => a.isAuthorized(token));
const masked = (token: string) => `<token of ${token.length} chars>`;

export const authGroup: CheckGroup = {
  name: "auth",
  checks: [
    {
      name: "login with the password's SHA-256 hash gives a token",
      async run(ctx) {
        const { user, hash } = needCredentials(ctx);
        const { value, ms } = await timed(() => login(ctx, user, hash));
        if (!value) throw new CheckFailed("refreshAuthorization returned an empty token");
        return { reason: "token issued", evidence: `refreshAuthorization(${user}, sha256) -> ${masked(value)} in ${ms} ms` };
      },
    },
    {
      name: "each login gives a new token",
      async run(ctx) {
        const { user, hash } = needCredentials(ctx);
        const a = await login(ctx, user, hash);
        const b = await login(ctx, user, hash);
        if (a === b) throw new CheckFailed("two logins returned the same token", "refreshAuthorization twice -> equal tokens");
        return { reason: "two logins, two different tokens" };
      },
    },
    {
      name: "wrong password hash refused (Unauthorized)",
      async run(ctx) {
        const { user } = needCredentials(ctx);
        return { reason: "refused", evidence: await expectRaises(`refreshAuthorization(${user}, sha256 of a wrong password)`, IceFlix.Unauthorized, () => login(ctx, user, "0".repeat(64))) };
      },
    },
    {
      name: "unknown user refused (Unauthorized)",
      async run(ctx) {
        return { reason: "refused", evidence: await expectRaises("refreshAuthorization(<unknown user>, hash)", IceFlix.Unauthorized, () => login(ctx, `no-such-user-${Date.now()}`, "0".repeat(64))) };
      },
    },
    {
      name: "plain (unhashed) password refused",
      async run(ctx) {
        const { user } = needCredentials(ctx);
        if (!ctx.password) throw new CheckSkipped("needs the password (--password-stdin)");
        return { reason: "refused", evidence: await expectRaises(`refreshAuthorization(${user}, <plain password>)`, IceFlix.Unauthorized, () => login(ctx, user, ctx.password!)) };
      },
    },
    {
      name: "isAuthorized true for a fresh token, false for a made-up one",
      async run(ctx) {
        const { user, hash } = needCredentials(ctx);
        const token = await login(ctx, user, hash);
        const good = await authorized(ctx, token);
        const bad = await authorized(ctx, `made-up-${Date.now()}`);
        if (!good) throw new CheckFailed("isAuthorized(fresh token) -> false");
        if (bad) throw new CheckFailed("isAuthorized(made-up token) -> true");
        return { reason: "as expected", evidence: "isAuthorized(fresh) -> true; isAuthorized(made-up) -> false" };
      },
    },
    {
      name: "token expires at the lifetime (valid before, invalid after)",
      slow: true,
      async run(ctx) {
        const { user, hash } = needCredentials(ctx);
        const lifetime = ctx.tokenLifetimeSeconds;
        if (!lifetime) throw new CheckSkipped("token lifetime unknown: give --token-lifetime S");
        const token = await login(ctx, user, hash);
        const issued = Date.now();
        const before = lifetime * 1000 - Math.min(2000, lifetime * 250);
        ctx.progress(`auth: waiting ${Math.round(before / 1000)} s for the token's lifetime to near its end`);
        await sleep(before - (Date.now() - issued));
        const stillValid = await authorized(ctx, token);
        const atBefore = Date.now() - issued;
        if (!stillValid) throw new CheckFailed(`token already invalid ${atBefore} ms after issue (lifetime ${lifetime} s)`, `isAuthorized at ${atBefore} ms -> false`);
        const after = lifetime * 1000 + 2000;
        ctx.progress(`auth: waiting ${Math.round((after - atBefore) / 1000)} s for the token to expire`);
        await sleep(after - (Date.now() - issued));
        const expired = !(await authorized(ctx, token));
        const atAfter = Date.now() - issued;
        if (!expired) throw new CheckFailed(`token still valid ${atAfter} ms after issue (lifetime ${lifetime} s): tokens do not expire`, `isAuthorized at ${atBefore} ms -> true; at ${atAfter} ms -> true`);
        return { reason: `valid at ${atBefore} ms, expired at ${atAfter} ms`, evidence: `lifetime ${lifetime} s; isAuthorized at ${atBefore} ms -> true; at ${atAfter} ms -> false` };
      },
    },
  ],
};
