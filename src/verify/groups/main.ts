/** Main: hand-outs are live and of the right type; several calls may round-robin. */
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, type CheckGroup } from "../types.js";
import { exceptionName, timed } from "../expect.js";

async function handOut(name: string, get: () => PromiseLike<IceFlix.AuthenticatorPrx | IceFlix.MediaCatalogPrx | null>, typeId: string) {
  let got;
  try {
    got = await timed(get);
  } catch (e) {
    throw new CheckFailed(`${name} raised ${exceptionName(e)}`, `${name}() -> ${exceptionName(e)}`);
  }
  if (!got.value) throw new CheckFailed(`${name} returned a null proxy`, `${name}() -> null`);
  const proxy = got.value.toString();
  let isA: boolean;
  try {
    isA = await got.value.ice_isA(typeId);
  } catch (e) {
    throw new CheckFailed(`the proxy ${name} handed out does not answer (${exceptionName(e)})`, `${name}() -> ${proxy}; ice_isA -> ${exceptionName(e)}`);
  }
  if (!isA) throw new CheckFailed(`the proxy ${name} handed out is not a ${typeId}`, `${name}() -> ${proxy}`);
  return { reason: `live ${typeId}`, evidence: `${name}() -> ${proxy} in ${got.ms} ms; ice_isA(${typeId}) -> true` };
}

export const mainGroup: CheckGroup = {
  name: "main",
  checks: [
    {
      name: "getAuthenticator hands out a live Authenticator",
      run: (ctx) => handOut("getAuthenticator", () => ctx.main.getAuthenticator(), IceFlix.Authenticator.ice_staticId()),
    },
    {
      name: "getCatalogService hands out a live MediaCatalog",
      run: (ctx) => handOut("getCatalogService", () => ctx.main.getCatalogService(), IceFlix.MediaCatalog.ice_staticId()),
    },
    {
      name: "every hand-out over 10 calls is live (no dead proxies)",
      async run(ctx) {
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++) {
          for (const [name, get] of [
            ["getAuthenticator", () => ctx.main.getAuthenticator()],
            ["getCatalogService", () => ctx.main.getCatalogService()],
          ] as const) {
            const p = await get();
            if (!p) throw new CheckFailed(`${name} returned null on call ${i + 1}`);
            const text = p.toString();
            if (!seen.has(text)) {
              seen.add(text);
              try {
                await p.ice_ping();
              } catch (e) {
                throw new CheckFailed(`${name} handed out a dead proxy on call ${i + 1}`, `${text} -> ${exceptionName(e)}`);
              }
            }
          }
        }
        return { reason: `${seen.size} distinct proxies handed out, all answer`, evidence: [...seen].join("; ") };
      },
    },
  ],
};
