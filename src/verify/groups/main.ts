/**
 * Main: hand-outs are live and of the right type, round-robin over the instances announced, and
 * TemporaryUnavailable when none is alive (with operator commands that stop and start them).
 */
import { Ice, IceFlix } from "../../slice/index.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { exceptionName, sleep, timed } from "../expect.js";
import type { ServiceKind } from "../events.js";
import { runHook } from "../hooks.js";

/** The two hand-outs, what they hand out, and the kind it is announced as. */
interface HandOut {
  op: string;
  noun: string;
  typeId: string;
  kind: ServiceKind;
  get(ctx: VerifyContext): PromiseLike<Ice.ObjectPrx | null>;
}
const HAND_OUTS: readonly HandOut[] = [
  { op: "getAuthenticator", noun: "Authenticator", typeId: IceFlix.Authenticator.ice_staticId(), kind: "authenticator", get: (ctx) => ctx.main.getAuthenticator() },
  { op: "getCatalogService", noun: "MediaCatalog", typeId: IceFlix.MediaCatalog.ice_staticId(), kind: "catalog", get: (ctx) => ctx.main.getCatalogService() },
];

const ROUND_ROBIN_CALLS = 10;
/** How long Main may keep handing out stopped services before it must say TemporaryUnavailable. */
const UNAVAILABLE_WAIT_MS = 8000;
/** How long the services may take to be handed out again after the start command. */
const BACK_WAIT_MS = 30_000;

/** Distinct ids announced for `kind`, waiting (within the announce window) until there are `atLeast`. */
async function announcedIds(ctx: VerifyContext, kind: ServiceKind, atLeast: number): Promise<string[]> {
  const events = ctx.events!;
  if (events.announcedIds(kind).length < atLeast && events.msUntilSettled > 1000) {
    ctx.progress(`main: waiting up to ${Math.ceil(events.msUntilSettled / 1000)} s for announcements on ServiceAvailability`);
  }
  await events.announcements.waitFor(() => events.announcedIds(kind).length >= atLeast, events.msUntilSettled);
  return events.announcedIds(kind);
}

/** Polls a hand-out until it raises TemporaryUnavailable; fails on anything else once the wait is over. */
async function untilUnavailable(ctx: VerifyContext, h: HandOut): Promise<string> {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    try {
      const p = await h.get(ctx);
      if (!p) throw new CheckFailed(`${h.op} returned a null proxy instead of raising TemporaryUnavailable`, `${h.op}() -> null`);
      const state = await p.ice_ping().then(
        () => "live",
        (e: unknown) => `dead (${exceptionName(e)})`,
      );
      last = `${h.op}() -> ${p.toString()}, ${state}`;
    } catch (e) {
      if (e instanceof CheckFailed) throw e;
      if (e instanceof IceFlix.TemporaryUnavailable) return `${h.op}() -> TemporaryUnavailable ${Date.now() - t0} ms after the stop`;
      // A Main still waiting on a stopped peer's ping may time out: ask again.
      if (!(e instanceof Ice.TimeoutException)) throw new CheckFailed(`${h.op} raised ${exceptionName(e)}, not TemporaryUnavailable`, `${h.op}() -> ${exceptionName(e)}`);
      last = `${h.op}() -> ${exceptionName(e)}`;
    }
    if (Date.now() - t0 >= UNAVAILABLE_WAIT_MS) break;
    await sleep(250);
  }
  const live = last.endsWith("live");
  throw new CheckFailed(
    live
      ? `${h.op} still hands out a live ${h.noun} ${UNAVAILABLE_WAIT_MS / 1000} s after the stop command (did it stop the services?)`
      : `${h.op} did not raise TemporaryUnavailable within ${UNAVAILABLE_WAIT_MS / 1000} s of the stop command`,
    last,
  );
}

/** Ms until both hand-outs give live proxies again. */
async function untilBack(ctx: VerifyContext): Promise<number> {
  const t0 = Date.now();
  let last = "";
  while (Date.now() - t0 < BACK_WAIT_MS) {
    try {
      for (const h of HAND_OUTS) await (await h.get(ctx))!.ice_ping();
      return Date.now() - t0;
    } catch (e) {
      last = exceptionName(e);
    }
    await sleep(250);
  }
  throw new CheckFailed(`the services are not handed out again ${BACK_WAIT_MS / 1000} s after the start command`, `last hand-out -> ${last}`);
}

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
    {
      name: "hand-outs round-robin over several instances",
      async run(ctx) {
        const lines: string[] = [];
        let several = false;
        for (const h of HAND_OUTS) {
          const seen = new Set<string>();
          for (let i = 0; i < ROUND_ROBIN_CALLS; i++) {
            const p = await h.get(ctx);
            if (p) seen.add(p.toString());
          }
          const line = `${h.op}: ${seen.size} distinct over ${ROUND_ROBIN_CALLS} calls`;
          if (seen.size >= 2) {
            several = true;
            lines.push(line);
            continue;
          }
          if (!ctx.events) {
            lines.push(line);
            continue;
          }
          const announced = await announcedIds(ctx, h.kind, 2);
          const ev = `${line}; ${announced.length} ${h.noun}s announced (${announced.map((id) => id.slice(0, 8)).join(", ")})`;
          if (announced.length >= 2) throw new CheckFailed(`${announced.length} ${h.noun}s announced, but ${h.op} handed out the same one ${ROUND_ROBIN_CALLS} times`, ev);
          lines.push(ev);
        }
        if (!several) {
          const how = ctx.events ? "announced and handed out" : "handed out (give --topic-manager to count the announced ones)";
          throw new CheckSkipped(`only one Authenticator and one MediaCatalog ${how}`);
        }
        return { reason: "several instances handed out in turn", evidence: lines.join("; ") };
      },
    },
    {
      name: "TemporaryUnavailable when no Authenticator or MediaCatalog is alive",
      async run(ctx) {
        const { stopServices: stop, startServices: start } = ctx.hooks;
        if (!stop || !start) throw new CheckSkipped("needs --stop-services-command and --start-services-command");
        // Stopping tells nothing when the hand-outs are not right to begin with.
        for (const h of HAND_OUTS) {
          const p = await Promise.resolve(h.get(ctx)).catch(() => null);
          if (!p || !(await p.ice_isA(h.typeId).catch(() => false))) throw new CheckSkipped(`${h.op} does not hand out a live ${h.noun} to begin with (see above)`);
        }
        let started: Promise<unknown> | undefined;
        const startAgain = () => (started ??= runHook("start-services", start, {}));
        // Also on Ctrl+C: the services must not stay stopped.
        ctx.undo.add("start the services again", startAgain);
        const evidence: string[] = [];
        let failure: unknown;
        try {
          const stopped = await runHook("stop-services", stop, {});
          evidence.push(`stop command ${stopped.ms} ms`);
          ctx.progress(`main: services stopped; waiting up to ${UNAVAILABLE_WAIT_MS / 1000} s for TemporaryUnavailable`);
          for (const h of HAND_OUTS) evidence.push(await untilUnavailable(ctx, h));
        } catch (e) {
          failure = e;
        }
        await startAgain();
        const backMs = await untilBack(ctx);
        if (failure) throw failure;
        evidence.push(`handed out again ${backMs} ms after the start command`);
        return { reason: "both hand-outs raise it while stopped, and recover", evidence: evidence.join("; ") };
      },
    },
  ],
};
