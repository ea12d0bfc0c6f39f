/** Authenticator: login with the SHA-256 hash, fresh tokens, refusals, isAuthorized, expiry. */
import { randomBytes } from "node:crypto";
import { IceFlix } from "../../slice/index.js";
import { passwordHash } from "../../common/password.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { exceptionName, expectRaises, masked, needCredentials, needLifetime, sleep, timed, unwrap } from "../expect.js";
import { runHook } from "../hooks.js";

const login = (ctx: VerifyContext, user: string, hash: string) => ctx.link.withAuthenticator((a) => a.refreshAuthorization(user, hash));
const authorized = (ctx: VerifyContext, token: string) => ctx.link.withAuthenticator((a) => a.isAuthorized(token));
/** "At once" (spec §3), with room for an implementation that rereads its users file now and then. */
const NEW_USER_WAIT_MS = 5000;

/** A login that may be refused: the token, or undefined for Unauthorized. */
async function tryLogin(ctx: VerifyContext, user: string, hash: string): Promise<string | undefined> {
  try {
    return await login(ctx, user, hash);
  } catch (e) {
    if (unwrap(e) instanceof IceFlix.Unauthorized) return undefined;
    throw new CheckFailed(`refreshAuthorization raised ${exceptionName(e)}`, `refreshAuthorization(<new user>, sha256) -> ${exceptionName(e)}`);
  }
}

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
      name: "a user added while running can log in",
      async run(ctx) {
        const add = ctx.hooks.addUser;
        if (!add) throw new CheckSkipped("needs --add-user-command");
        // A throwaway account: the command gets it in its environment, the evidence never shows it.
        const user = `verify-${process.pid}-${randomBytes(3).toString("hex")}`;
        const password = randomBytes(12).toString("hex");
        const hash = passwordHash(password);
        const env = { ICEFLIX_VERIFY_USER: user, ICEFLIX_VERIFY_PASSWORD: password, ICEFLIX_VERIFY_PASSWORD_HASH: hash };
        if (await tryLogin(ctx, user, hash)) throw new CheckFailed("a user not added yet already logs in", `refreshAuthorization(${user}, sha256) before adding -> token`);
        const remove = ctx.hooks.removeUser;
        // Registered first: a command that fails half-way may still have added the user.
        if (remove) ctx.undo.add(`remove user ${user}`, () => runHook("remove-user", remove, env, [password, hash]));
        const ran = await runHook("add-user", add, env, [password, hash]);
        const t0 = Date.now();
        let token: string | undefined;
        while (!(token = await tryLogin(ctx, user, hash)) && Date.now() - t0 < NEW_USER_WAIT_MS) await sleep(200);
        const ev = `add-user command ${ran.ms} ms; refreshAuthorization(${user}, sha256)`;
        if (!token) throw new CheckFailed(`the added user cannot log in within ${NEW_USER_WAIT_MS / 1000} s (a restart needed?)`, `${ev} -> Unauthorized for ${Date.now() - t0} ms`);
        const loggedInMs = Date.now() - t0;
        if (!(await authorized(ctx, token))) throw new CheckFailed("the added user's token is not authorized", `${ev} -> ${masked(token)}; isAuthorized -> false`);
        return {
          reason: `logs in ${loggedInMs} ms after the command${remove ? " (removed at the end)" : " (left in place: no --remove-user-command)"}`,
          evidence: `${ev} -> ${masked(token)} after ${loggedInMs} ms; isAuthorized -> true`,
        };
      },
    },
    {
      name: "token expires at the lifetime (valid before, invalid after)",
      slow: true,
      async run(ctx) {
        const { user, hash } = needCredentials(ctx);
        const lifetime = needLifetime(ctx);
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
