/** MediaCatalog: lookups by id, name (exact / case-insensitive substring) and tags; edits with a token, undone. */
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { IceFlix } from "../../slice/index.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { expectRaises, needCredentials, sleep } from "../expect.js";
import { AnnouncesRecorder, TOPIC_MEDIA_ANNOUNCEMENTS } from "../events.js";

const catalog = <T>(ctx: VerifyContext, fn: (c: IceFlix.MediaCatalogPrx) => PromiseLike<T>) => ctx.link.withCatalog(fn);
const BAD_ID = "0".repeat(63) + "f";

/** A title to work on: the first one whose name is at least 3 characters. */
export async function someTitle(ctx: VerifyContext): Promise<IceFlix.Media> {
  const ids = await catalog(ctx, (c) => c.getTilesByName("", false));
  for (const id of ids.slice(0, 20)) {
    try {
      const m = await catalog(ctx, (c) => c.getTile(id));
      if (m.info.name.length >= 3) return m;
    } catch {
      // Its provider may be gone (TemporaryUnavailable): try the next one.
    }
  }
  throw new CheckSkipped(`no title with a live provider found (getTilesByName("", false) -> ${ids.length} ids)`);
}

export async function token(ctx: VerifyContext): Promise<string> {
  const { user, hash } = needCredentials(ctx);
  return ctx.link.withAuthenticator((a) => a.refreshAuthorization(user, hash));
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
  });
}

/** How long to wait for the provider's newMedia of the title after reannounceMedia. */
export const REANNOUNCE_WAIT_MS = 5000;

const tagOf = (what: string) => `verify-${what}-${process.pid}-${Date.now() % 100000}`;

export const catalogGroup: CheckGroup = {
  name: "catalog",
  checks: [
    {
      name: "getTile with an unknown id raises WrongMediaId",
      async run(ctx) {
        return { reason: "declared exception", evidence: await expectRaises(`getTile(${BAD_ID.slice(0, 8)}…)`, IceFlix.WrongMediaId, () => catalog(ctx, (c) => c.getTile(BAD_ID))) };
      },
    },
    {
      name: "exact name search finds a title",
      async run(ctx) {
        const m = await someTitle(ctx);
        const ids = await catalog(ctx, (c) => c.getTilesByName(m.info.name, true));
        if (!ids.includes(m.id)) throw new CheckFailed("exact search misses the title", `getTilesByName(${JSON.stringify(m.info.name)}, true) -> ${JSON.stringify(ids)}`);
        return { reason: "found", evidence: `getTilesByName(${JSON.stringify(m.info.name)}, true) -> ${ids.length} ids incl. ${m.id.slice(0, 8)}…` };
      },
    },
    {
      name: "substring search is case-insensitive",
      async run(ctx) {
        const m = await someTitle(ctx);
        const part = m.info.name.slice(1, Math.min(m.info.name.length, 6));
        const probe = part.toUpperCase() === part ? part.toLowerCase() : part.toUpperCase();
        const ids = await catalog(ctx, (c) => c.getTilesByName(probe, false));
        if (!ids.includes(m.id)) throw new CheckFailed("case-insensitive substring search misses the title", `getTilesByName(${JSON.stringify(probe)}, false) -> ${JSON.stringify(ids)} (title ${JSON.stringify(m.info.name)})`);
        const exact = await catalog(ctx, (c) => c.getTilesByName(probe, true));
        if (exact.includes(m.id)) throw new CheckFailed("exact search matches a mere substring", `getTilesByName(${JSON.stringify(probe)}, true) -> ${JSON.stringify(exact)}`);
        return { reason: "found by a re-cased part, not by exact", evidence: `getTilesByName(${JSON.stringify(probe)}, false) includes ${m.id.slice(0, 8)}…` };
      },
    },
    {
      name: "edits without a valid token raise Unauthorized",
      async run(ctx) {
        const m = await someTitle(ctx);
        const bad = `made-up-${Date.now()}`;
        const ev = [
          await expectRaises("renameTile(id, name, made-up token)", IceFlix.Unauthorized, () => catalog(ctx, (c) => c.renameTile(m.id, "x", bad))),
          await expectRaises("addTags(id, [t], made-up token)", IceFlix.Unauthorized, () => catalog(ctx, (c) => c.addTags(m.id, ["x"], bad))),
          await expectRaises("removeTags(id, [t], made-up token)", IceFlix.Unauthorized, () => catalog(ctx, (c) => c.removeTags(m.id, ["x"], bad))),
        ];
        return { reason: "all three refused", evidence: ev.join("; ") };
      },
    },
    {
      name: "edits of an unknown id raise WrongMediaId",
      async run(ctx) {
        const t = await token(ctx);
        const ev = [
          await expectRaises("renameTile(unknown id)", IceFlix.WrongMediaId, () => catalog(ctx, (c) => c.renameTile(BAD_ID, "x", t))),
          await expectRaises("addTags(unknown id)", IceFlix.WrongMediaId, () => catalog(ctx, (c) => c.addTags(BAD_ID, ["x"], t))),
          await expectRaises("removeTags(unknown id)", IceFlix.WrongMediaId, () => catalog(ctx, (c) => c.removeTags(BAD_ID, ["x"], t))),
        ];
        return { reason: "all three refused", evidence: ev.join("; ") };
      },
    },
    {
      name: "rename with a token is seen by getTile and name search",
      async run(ctx) {
        const m = await someTitle(ctx);
        const t = await token(ctx);
        const newName = `${m.info.name} (verify ${Date.now() % 100000})`;
        await catalog(ctx, (c) => c.renameTile(m.id, newName, t));
        ctx.undo.add(`rename ${m.id.slice(0, 8)}… back to ${JSON.stringify(m.info.name)}`, async () => catalog(ctx, async (c) => c.renameTile(m.id, m.info.name, await token(ctx))));
        const after = await catalog(ctx, (c) => c.getTile(m.id));
        if (after.info.name !== newName) throw new CheckFailed("getTile does not show the new name", `renameTile -> ok; getTile -> ${JSON.stringify(after.info.name)}`);
        const ids = await catalog(ctx, (c) => c.getTilesByName(newName, true));
        if (!ids.includes(m.id)) throw new CheckFailed("exact search does not find the new name", `getTilesByName(new, true) -> ${JSON.stringify(ids)}`);
        return { reason: "renamed (restored at the end)", evidence: `renameTile(${m.id.slice(0, 8)}…, ${JSON.stringify(newName)}) -> getTile and search agree` };
      },
    },
    {
      name: "a rename survives reannounceMedia",
      async run(ctx) {
        const m = await someTitle(ctx);
        if (!m.provider) throw new CheckFailed("getTile returned a Media with no provider");
        const t = await token(ctx);
        const newName = `${m.info.name} (reannounced ${Date.now() % 100000})`;
        await catalog(ctx, (c) => c.renameTile(m.id, newName, t));
        ctx.undo.add(`rename ${m.id.slice(0, 8)}… back to ${JSON.stringify(m.info.name)}`, async () => catalog(ctx, async (c) => c.renameTile(m.id, m.info.name, await token(ctx))));
        // With the broker we know when the provider's newMedia went out; without, we watch longer.
        const heard = ctx.events ? new AnnouncesRecorder() : undefined;
        const listening = heard ? await ctx.events!.listen(TOPIC_MEDIA_ANNOUNCEMENTS, heard) : undefined;
        try {
          const t0 = Date.now();
          await m.provider.reannounceMedia();
          let what = "newMedia not watched (no --topic-manager)";
          if (heard) {
            const hit = await heard.log.waitFor((e) => e.id === m.id, REANNOUNCE_WAIT_MS);
            what = hit ? `newMedia(${m.id.slice(0, 8)}…, ${JSON.stringify(hit.event.initialName)}) ${hit.at - t0} ms after` : `no newMedia of it within ${REANNOUNCE_WAIT_MS / 1000} s`;
          }
          // The catalog applies the event some time after the broker delivered it: keep looking.
          const until = Date.now() + (heard ? 1000 : 3000);
          let checks = 0;
          do {
            const name = (await catalog(ctx, (c) => c.getTile(m.id))).info.name;
            checks++;
            if (name !== newName) throw new CheckFailed("the rename was lost after reannounceMedia", `renameTile(${JSON.stringify(newName)}); reannounceMedia(); ${what}; getTile -> ${JSON.stringify(name)}`);
            await sleep(250);
          } while (Date.now() < until);
          return { reason: "the new name stays (restored at the end)", evidence: `reannounceMedia(); ${what}; getTile kept ${JSON.stringify(newName)} over ${checks} looks` };
        } finally {
          await listening?.stop();
        }
      },
    },
    {
      name: "tags: add, search all/any, remove",
      async run(ctx) {
        const m = await someTitle(ctx);
        const t = await token(ctx);
        const [a, b, none] = [tagOf("a"), tagOf("b"), tagOf("none")];
        await catalog(ctx, (c) => c.addTags(m.id, [a, b], t));
        ctx.undo.add(`remove tags ${a}, ${b}`, async () => catalog(ctx, async (c) => c.removeTags(m.id, [a, b], await token(ctx))));
        const all = await catalog(ctx, (c) => c.getTilesByTags([a, b], true));
        const allMissing = await catalog(ctx, (c) => c.getTilesByTags([a, none], true));
        const any = await catalog(ctx, (c) => c.getTilesByTags([a, none], false));
        const ev = `all[a,b] -> ${all.length}; all[a,none] -> ${allMissing.length}; any[a,none] -> ${any.length}`;
        if (!all.includes(m.id)) throw new CheckFailed("getTilesByTags(all) misses a title with every tag", ev);
        if (allMissing.includes(m.id)) throw new CheckFailed("getTilesByTags(all) matches a title lacking one tag (acts as any)", ev);
        if (!any.includes(m.id)) throw new CheckFailed("getTilesByTags(any) misses a title with one of the tags", ev);
        await catalog(ctx, (c) => c.removeTags(m.id, [a, b], t));
        const gone = await catalog(ctx, (c) => c.getTilesByTags([a], false));
        if (gone.includes(m.id)) throw new CheckFailed("removeTags did not remove the tag", `${ev}; after removeTags any[a] -> ${gone.length}`);
        return { reason: "all/any and removal behave", evidence: ev };
      },
    },
    {
      name: "every file of --media-dir is found by its SHA-256",
      async run(ctx) {
        if (!ctx.mediaDir) throw new CheckSkipped("needs --media-dir");
        const files = readdirSync(ctx.mediaDir).filter((f) => !f.startsWith(".") && statSync(join(ctx.mediaDir!, f)).isFile());
        const missing: string[] = [];
        for (const f of files) {
          const id = await sha256File(join(ctx.mediaDir, f));
          try {
            await catalog(ctx, (c) => c.getTile(id));
          } catch (e) {
            missing.push(`${f} (${id.slice(0, 8)}…: ${(e as Error).constructor.name})`);
          }
        }
        if (missing.length) throw new CheckFailed(`${missing.length} of ${files.length} files not found by id`, missing.join("; "));
        return { reason: `${files.length} files found`, evidence: files.join(", ") };
      },
    },
  ],
};
