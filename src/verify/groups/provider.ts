/** StreamProvider (reached through a title's Media.provider): isAvailable, getStream errors, distinct controllers. */
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, type CheckGroup } from "../types.js";
import { expectRaises, needEvents } from "../expect.js";
import { AnnouncesRecorder, TOPIC_MEDIA_ANNOUNCEMENTS } from "../events.js";
import { REANNOUNCE_WAIT_MS, someTitle, token } from "./catalog.js";

const BAD_ID = "f".repeat(64);

export const providerGroup: CheckGroup = {
  name: "provider",
  checks: [
    {
      name: "isAvailable true for its title, false for an unknown id",
      async run(ctx) {
        const m = await someTitle(ctx);
        if (!m.provider) throw new CheckFailed("getTile returned a Media with no provider");
        const yes = await m.provider.isAvailable(m.id);
        const no = await m.provider.isAvailable(BAD_ID);
        const ev = `isAvailable(${m.id.slice(0, 8)}…) -> ${yes}; isAvailable(unknown) -> ${no}`;
        if (!yes || no) throw new CheckFailed("isAvailable answers wrongly", ev);
        return { reason: "as expected", evidence: ev };
      },
    },
    {
      name: "getStream errors: WrongMediaId for an unknown id, Unauthorized for a bad token",
      async run(ctx) {
        const m = await someTitle(ctx);
        const t = await token(ctx);
        const ev = [
          await expectRaises("getStream(unknown id, token)", IceFlix.WrongMediaId, () => m.provider!.getStream(BAD_ID, t)),
          await expectRaises("getStream(id, made-up token)", IceFlix.Unauthorized, () => m.provider!.getStream(m.id, `made-up-${Date.now()}`)),
        ];
        return { reason: "declared exceptions", evidence: ev.join("; ") };
      },
    },
    {
      name: "reannounceMedia publishes newMedia on MediaAnnouncements",
      async run(ctx) {
        const events = needEvents(ctx);
        const m = await someTitle(ctx);
        const heard = new AnnouncesRecorder();
        const listening = await events.listen(TOPIC_MEDIA_ANNOUNCEMENTS, heard);
        try {
          const t0 = Date.now();
          await m.provider!.reannounceMedia();
          const hit = await heard.log.waitFor((e) => e.id === m.id, REANNOUNCE_WAIT_MS);
          if (!hit) {
            throw new CheckFailed(
              `no newMedia of its title within ${REANNOUNCE_WAIT_MS / 1000} s of reannounceMedia`,
              `reannounceMedia() -> ok; ${heard.log.items.length} newMedia heard, none for ${m.id.slice(0, 8)}…`,
            );
          }
          const { initialName, providerId } = hit.event;
          const ev = `newMedia(${m.id.slice(0, 8)}…, ${JSON.stringify(initialName)}, ${JSON.stringify(providerId.slice(0, 40))}) ${hit.at - t0} ms after reannounceMedia()`;
          if (!initialName || !providerId) throw new CheckFailed("newMedia carries an empty initialName or providerId", ev);
          // providerId is the id the provider announces itself with (wait out one announce period for it).
          await events.announcements.waitFor((a) => a.kind === "provider" && a.id === providerId, events.msUntilSettled);
          const announced = events.announcedIds("provider");
          if (announced.length && !announced.includes(providerId)) {
            throw new CheckFailed("newMedia's providerId is none of the ids announced on ServiceAvailability", `${ev}; announced: ${announced.map((id) => id.slice(0, 8)).join(", ")}`);
          }
          return { reason: "newMedia heard", evidence: `${ev}; ${heard.log.items.length} newMedia in all${announced.length ? "; providerId announced on ServiceAvailability" : ""}` };
        } finally {
          await listening.stop();
        }
      },
    },
    {
      name: "each getStream gives a distinct controller",
      async run(ctx) {
        const m = await someTitle(ctx);
        const t = await token(ctx);
        const a = await m.provider!.getStream(m.id, t);
        const b = await m.provider!.getStream(m.id, t);
        try {
          if (!a || !b) throw new CheckFailed("getStream returned a null controller");
          if (a.ice_getIdentity().name === b.ice_getIdentity().name && a.ice_getIdentity().category === b.ice_getIdentity().category)
            throw new CheckFailed("two getStream calls returned the same controller", `${a.toString()} twice`);
          return { reason: "two controllers", evidence: `${a.ice_getIdentity().name} != ${b.ice_getIdentity().name}` };
        } finally {
          await Promise.allSettled([a?.stop(), b?.stop()]);
        }
      },
    },
  ],
};
