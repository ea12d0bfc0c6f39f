/**
 * Events on IceStorm: announcements on ServiceAvailability, revoke(token) on AuthenticationStatus
 * at the token's expiry, and (information only: the original contract does not sign events)
 * whether an unsigned or forged revocation is obeyed.
 */
import { randomBytes } from "node:crypto";
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { exceptionName, masked, needCredentials, needEvents, needLifetime, sleep } from "../expect.js";
import { RevocationRecorder, TOPIC_AUTHENTICATION_STATUS, type EventWatch, type ServiceKind } from "../events.js";

const ANNOUNCED: Array<{ kind: ServiceKind; op: string; typeId: string }> = [
  { kind: "authenticator", op: "authenticationService", typeId: IceFlix.Authenticator.ice_staticId() },
  { kind: "catalog", op: "catalogService", typeId: IceFlix.MediaCatalog.ice_staticId() },
  { kind: "provider", op: "mediaService", typeId: IceFlix.StreamProvider.ice_staticId() },
];
/** After the token's expiry, how long the Authenticator has to publish revoke(token). */
const REVOKE_SLACK_MS = 3000;
/** How long a revocation may take to reach the Authenticator through the broker. */
const OBEY_WAIT_MS = 2000;

const login = (ctx: VerifyContext, user: string, hash: string) => ctx.link.withAuthenticator((a) => a.refreshAuthorization(user, hash));
const authorized = (ctx: VerifyContext, token: string) => ctx.link.withAuthenticator((a) => a.isAuthorized(token));

/** Signature entries of spec §7.1 with a MAC no key made. */
function forgedSignature(): Map<string, string> {
  return new Map([
    ["iceflix-sig-v", "1"],
    ["iceflix-sig-ts", String(Date.now())],
    ["iceflix-sig-nonce", randomBytes(16).toString("hex")],
    ["iceflix-sig-mac", randomBytes(32).toString("hex")],
  ]);
}

async function announcementsOfEveryKind(ctx: VerifyContext, events: EventWatch): Promise<void> {
  const everyKind = () => ANNOUNCED.every((a) => events.announcedIds(a.kind).length > 0);
  if (!everyKind() && events.msUntilSettled > 1000) ctx.progress(`events: waiting up to ${Math.ceil(events.msUntilSettled / 1000)} s for announcements on ServiceAvailability`);
  await events.announcements.waitFor(everyKind, events.msUntilSettled);
}

export const eventsGroup: CheckGroup = {
  name: "events",
  checks: [
    {
      name: "services announce themselves on ServiceAvailability",
      async run(ctx) {
        const events = needEvents(ctx);
        await announcementsOfEveryKind(ctx, events);
        const items = events.announcements.items;
        const counts = ANNOUNCED.map((a) => `${a.op}: ${events.announcedIds(a.kind).length}`).join(", ");
        const signed = `${items.filter((i) => i.event.signed).length} of ${items.length} events signed`;
        const missing = ANNOUNCED.filter((a) => events.announcedIds(a.kind).length === 0).map((a) => a.op);
        if (missing.length) throw new CheckFailed(`no ${missing.join(", ")} heard within one announce period (${ctx.announcePeriodSeconds} s) + 1 s`, `${counts}; ${signed}`);
        for (const a of ANNOUNCED) {
          const first = items.find((i) => i.event.kind === a.kind)!.event;
          if (!first.proxy) throw new CheckFailed(`${a.op} announced a null proxy`, `${a.op}(null, ${JSON.stringify(first.id)})`);
          let isA: boolean;
          try {
            isA = await first.proxy.ice_isA(a.typeId);
          } catch (e) {
            throw new CheckFailed(`the proxy announced by ${a.op} does not answer (${exceptionName(e)})`, `${a.op}(${first.proxy.toString()}, …)`);
          }
          if (!isA) throw new CheckFailed(`the proxy announced by ${a.op} is not a ${a.typeId}`, `${a.op}(${first.proxy.toString()}, …)`);
        }
        return { reason: "every kind announced, with a live proxy of its type", evidence: `${counts} distinct ids; ${signed}` };
      },
    },
    {
      name: "a token is revoked on AuthenticationStatus at its lifetime",
      slow: true,
      async run(ctx) {
        const events = needEvents(ctx);
        const { user, hash } = needCredentials(ctx);
        const lifetime = needLifetime(ctx);
        const heard = new RevocationRecorder();
        const listening = await events.listen(TOPIC_AUTHENTICATION_STATUS, heard);
        try {
          const token = await login(ctx, user, hash);
          const issued = Date.now();
          ctx.progress(`events: waiting up to ${lifetime + REVOKE_SLACK_MS / 1000} s for revoke(token) on AuthenticationStatus`);
          const hit = await heard.log.waitFor((t) => t === token, lifetime * 1000 + REVOKE_SLACK_MS);
          if (!hit) {
            throw new CheckFailed(
              `no revoke of the token within ${REVOKE_SLACK_MS / 1000} s of its expiry (lifetime ${lifetime} s)`,
              `refreshAuthorization -> ${masked(token)}; ${heard.log.items.length} revocations of other tokens heard in ${Date.now() - issued} ms`,
            );
          }
          const at = hit.at - issued;
          if (at < lifetime * 1000 - 1000) throw new CheckFailed(`revoked ${at} ms after issue, before its lifetime (${lifetime} s)`, `revoke(${masked(token)}) at ${at} ms`);
          return { reason: `revoked ${at} ms after issue (lifetime ${lifetime} s)`, evidence: `revoke(${masked(token)}) on AuthenticationStatus at ${at} ms` };
        } finally {
          await listening.stop();
        }
      },
    },
    {
      // Information only, never a failure: signing is our extension (spec §7), not the contract's.
      name: "unsigned and forged revocations: obeyed or dropped (information)",
      async run(ctx) {
        const events = needEvents(ctx);
        const { user, hash } = needCredentials(ctx);
        try {
          const unsigned = await login(ctx, user, hash);
          const forged = await login(ctx, user, hash);
          if (!(await authorized(ctx, unsigned)) || !(await authorized(ctx, forged))) throw new CheckSkipped("fresh tokens are not authorized (see the auth group)");
          const publisher = IceFlix.TokenRevocationPrx.uncheckedCast(await events.publisher(TOPIC_AUTHENTICATION_STATUS));
          await publisher.revoke(unsigned);
          await publisher.revoke(forged, forgedSignature());
          const t0 = Date.now();
          let obeyed = { unsigned: false, forged: false };
          do {
            await sleep(200);
            obeyed = { unsigned: !(await authorized(ctx, unsigned)), forged: !(await authorized(ctx, forged)) };
          } while (!(obeyed.unsigned && obeyed.forged) && Date.now() - t0 < OBEY_WAIT_MS);
          const what = (yes: boolean) => (yes ? "obeyed (the token is refused after it)" : "dropped or not heard (the token is still valid)");
          return {
            reason: `info: an unsigned revoke was ${what(obeyed.unsigned)}; one with a forged signature was ${what(obeyed.forged)}`,
            evidence: `revoke(${masked(unsigned)}) without a signature, revoke(${masked(forged)}) with a made-up iceflix-sig-mac; isAuthorized ${Date.now() - t0} ms later -> unsigned one's token ${!obeyed.unsigned}, forged one's ${!obeyed.forged}`,
          };
        } catch (e) {
          if (e instanceof CheckSkipped) throw e;
          throw new CheckSkipped(`could not tell (${exceptionName(e)})`);
        }
      },
    },
  ],
};
