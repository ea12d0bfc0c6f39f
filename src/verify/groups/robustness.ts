/** Robustness: odd inputs get a declared exception or an answer, never Unknown*; the service stays alive. */
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, type CheckGroup, type VerifyContext } from "../types.js";
import { exceptionName, isUnknown } from "../expect.js";

const INPUTS: Array<[string, string]> = [
  ["empty", ""],
  ["huge (100 kB)", "x".repeat(100_000)],
  ["unicode", "Ñandú 🎬 名前 \u202e"],
  ["NUL", "a\u0000b"],
];

async function probe(ctx: VerifyContext, label: string, call: (input: string) => PromiseLike<unknown>): Promise<string> {
  const lines: string[] = [];
  for (const [kind, input] of INPUTS) {
    try {
      await call(input);
      lines.push(`${kind}: answer`);
    } catch (e) {
      if (isUnknown(e)) throw new CheckFailed(`${label} with a ${kind} input raised ${exceptionName(e)}`, `${label}(${kind}) -> ${exceptionName(e)}`);
      if (!(e instanceof IceFlix.Unauthorized || e instanceof IceFlix.WrongMediaId || e instanceof IceFlix.TemporaryUnavailable || e instanceof Error))
        throw new CheckFailed(`${label} with a ${kind} input failed`, exceptionName(e));
      lines.push(`${kind}: ${exceptionName(e)}`);
    }
  }
  await ctx.main.ice_ping();
  return `${label}: ${lines.join(", ")}; Main still answers`;
}

export const robustnessGroup: CheckGroup = {
  name: "robustness",
  checks: [
    { name: "getTile with odd ids", run: async (ctx) => ({ reason: "no Unknown*", evidence: await probe(ctx, "getTile", (s) => ctx.link.withCatalog((c) => c.getTile(s))) }) },
    { name: "getTilesByName with odd names", run: async (ctx) => ({ reason: "no Unknown*", evidence: await probe(ctx, "getTilesByName", (s) => ctx.link.withCatalog((c) => c.getTilesByName(s, false))) }) },
    { name: "getTilesByTags with odd tags", run: async (ctx) => ({ reason: "no Unknown*", evidence: await probe(ctx, "getTilesByTags", (s) => ctx.link.withCatalog((c) => c.getTilesByTags([s], true))) }) },
    { name: "refreshAuthorization with odd users", run: async (ctx) => ({ reason: "no Unknown*", evidence: await probe(ctx, "refreshAuthorization", (s) => ctx.link.withAuthenticator((a) => a.refreshAuthorization(s, s))) }) },
    { name: "isAuthorized with odd tokens", run: async (ctx) => ({ reason: "no Unknown*", evidence: await probe(ctx, "isAuthorized", (s) => ctx.link.withAuthenticator((a) => a.isAuthorized(s))) }) },
  ],
};
