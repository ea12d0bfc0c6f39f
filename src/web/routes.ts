/**
 * The JSON API the page calls. Each route checks its input (spec §10 limits; the services check
 * again) and calls the deployment through the Main link with the session's token.
 */
import type { IncomingMessage } from "node:http";
import { IceFlix, IceFlixExt } from "../slice/index.js";
import { HttpError, readJsonBody } from "../runtime/httpJson.js";
import { proxyText } from "../runtime/iceValues.js";
import type { MainLink } from "../mainlink/mainLink.js";
import type { Ice } from "../slice/index.js";
import { CLEAR_COOKIE, sessionCookie, type Session, type Sessions } from "./sessions.js";
import { providerLoads } from "./providerLoad.js";

export const MAX_BODY_BYTES = 16 * 1024;
const MAX_RESULTS = 100;

export interface RouteContext {
  link: MainLink;
  sessions: Sessions;
  communicator: Ice.Communicator;
  /** <data>/metrics.urls: where the status view reads what each provider serves (providerLoad.ts). */
  metricsUrlsFile: string;
}

export interface Answer {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

type Handler = (req: IncomingMessage, url: URL, ctx: RouteContext, params: string[]) => Promise<Answer>;

const text = (v: unknown, what: string, max: number, min = 0): string => {
  if (typeof v !== "string") throw new HttpError(400, `${what} must be a string`, "invalid");
  if (v.length > max || v.length < min) throw new HttpError(400, `${what} must be ${min}–${max} characters`, "invalid");
  return v;
};
const tagList = (v: unknown): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 1000) throw new HttpError(400, "tags must be a list of at most 1000", "invalid");
  return v.map((t) => text(t, "a tag", 128, 1));
};

function session(req: IncomingMessage, ctx: RouteContext): Session {
  const s = ctx.sessions.of(req);
  if (!s || !s.keeper.loggedIn) throw new HttpError(401, "log in first", "login");
  return s;
}

async function tile(ctx: RouteContext, id: string): Promise<{ id: string; name: string; tags: string[]; available: boolean }> {
  try {
    const m = await ctx.link.withCatalog((c) => c.getTile(id));
    return { id, name: m.info.name, tags: [...m.info.tags], available: m.provider !== null };
  } catch (e) {
    if (e instanceof IceFlix.TemporaryUnavailable) return { id, name: "", tags: [], available: false };
    throw e;
  }
}

const routes: Array<{ method: string; path: RegExp; handler: Handler }> = [
  {
    method: "POST",
    path: /^\/api\/login$/,
    handler: async (req, _url, ctx) => {
      const body = await readJsonBody(req, MAX_BODY_BYTES);
      const user = text(body.user, "the user name", 64, 1);
      const hash = text(body.passwordHash, "the password hash", 64, 64);
      if (!/^[0-9a-f]{64}$/.test(hash)) throw new HttpError(400, "the password hash must be 64 lowercase hex digits", "invalid");
      const old = ctx.sessions.of(req);
      if (old) ctx.sessions.end(old.id);
      const s = ctx.sessions.create();
      try {
        await s.keeper.login(user, hash);
      } catch (e) {
        ctx.sessions.end(s.id);
        if (e instanceof IceFlix.Unauthorized) throw new HttpError(401, "wrong user name or password", "wrong-password");
        throw e;
      }
      return { body: { user }, headers: { "Set-Cookie": sessionCookie(s.id) } };
    },
  },
  {
    method: "POST",
    path: /^\/api\/logout$/,
    handler: async (req, _url, ctx) => {
      const s = ctx.sessions.of(req);
      if (s) ctx.sessions.end(s.id);
      return { body: { ok: true }, headers: { "Set-Cookie": CLEAR_COOKIE } };
    },
  },
  {
    method: "GET",
    path: /^\/api\/session$/,
    handler: async (req, _url, ctx) => {
      const s = ctx.sessions.of(req);
      return { body: { user: s?.keeper.loggedIn ? s.keeper.user : null } };
    },
  },
  {
    method: "GET",
    path: /^\/api\/search$/,
    handler: async (req, url, ctx) => {
      session(req, ctx);
      const q = url.searchParams;
      const mode = q.get("mode") ?? "name";
      let ids: string[];
      if (mode === "name" || mode === "exact") {
        const name = text(q.get("q") ?? "", "the search text", 512);
        ids = await ctx.link.withCatalog((c) => c.getTilesByName(name, mode === "exact"));
      } else if (mode === "all" || mode === "any") {
        const tags = text(q.get("q") ?? "", "the tags", 4096).split(",").map((t) => t.trim()).filter(Boolean);
        ids = await ctx.link.withCatalog((c) => c.getTilesByTags(tagList(tags), mode === "all"));
      } else throw new HttpError(400, "mode must be name, exact, all or any", "invalid");
      const results = [];
      for (const id of ids.slice(0, MAX_RESULTS)) results.push(await tile(ctx, id));
      return { body: { results, total: ids.length } };
    },
  },
  {
    method: "GET",
    path: /^\/api\/titles\/([0-9a-f]{64})$/,
    handler: async (req, _url, ctx, [id]) => {
      session(req, ctx);
      return { body: await tile(ctx, id!) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/titles\/([0-9a-f]{64})\/rename$/,
    handler: async (req, _url, ctx, [id]) => {
      const s = session(req, ctx);
      const name = text((await readJsonBody(req, MAX_BODY_BYTES)).name, "the name", 512, 1);
      await s.keeper.withToken((t) => ctx.link.withCatalog((c) => c.renameTile(id!, name, t)));
      return { body: await tile(ctx, id!) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/titles\/([0-9a-f]{64})\/tags$/,
    handler: async (req, _url, ctx, [id]) => {
      const s = session(req, ctx);
      const body = await readJsonBody(req, MAX_BODY_BYTES);
      const add = tagList(body.add);
      const remove = tagList(body.remove);
      if (add.length) await s.keeper.withToken((t) => ctx.link.withCatalog((c) => c.addTags(id!, add, t)));
      if (remove.length) await s.keeper.withToken((t) => ctx.link.withCatalog((c) => c.removeTags(id!, remove, t)));
      return { body: await tile(ctx, id!) };
    },
  },
  {
    method: "POST",
    path: /^\/api\/titles\/([0-9a-f]{64})\/play$/,
    handler: async (req, _url, ctx, [id]) => {
      const s = session(req, ctx);
      const media = await ctx.link.withCatalog((c) => c.getTile(id!));
      const provider = media.provider ? await IceFlixExt.StreamProviderExtPrx.checkedCast(media.provider) : null;
      if (!provider) throw new HttpError(501, "the provider of this title cannot serve browsers (not an IceFlix provider)", "unsupported");
      const ticket = await s.keeper.withToken((t) => provider.getPlaybackUrl(id!, t));
      // The ticket follows the session's token renewals while this play is the session's current one.
      s.playing = { refresh: (token) => provider.refreshPlayback(ticket.url, token) };
      return {
        body: {
          url: ticket.url,
          mimeType: ticket.mimeType,
          width: ticket.width,
          height: ticket.height,
          durationSeconds: ticket.durationSeconds,
          expiresAt: ticket.expiresAt.toNumber(),
        },
      };
    },
  },
  {
    method: "POST",
    path: /^\/api\/play\/stop$/,
    handler: async (req, _url, ctx) => {
      session(req, ctx).playing = undefined;
      return { body: { ok: true } };
    },
  },
  {
    method: "GET",
    path: /^\/api\/status$/,
    handler: async (req, _url, ctx) => {
      session(req, ctx);
      const main = await ctx.link.ensureConnected();
      const ext = IceFlixExt.MainExtPrx.uncheckedCast(main);
      const [instances, loads] = await Promise.all([ctx.link.facts?.ext ? ext.listInstances() : [], providerLoads(ctx.metricsUrlsFile)]);
      return {
        body: {
          main: ctx.link.proxyText,
          instances: instances.map((i) => ({
            kind: i.kind,
            id: i.id,
            endpoint: i.proxy ? proxyText(ctx.communicator, i.proxy) : "",
            lastSeen: i.lastSeen.toNumber(),
            healthy: i.healthy,
            // A provider's RTP streams and browser tickets; null when its /metrics is not known here.
            ...(i.kind === "streaming" ? { load: loads.get(i.id) ?? null } : {}),
          })),
          sessions: ctx.sessions.size,
          playing: ctx.sessions.playing,
        },
      };
    },
  },
];

/** The handler of a request, or an HttpError 404 / 405. */
export function route(method: string, pathname: string): { handler: Handler; params: string[] } {
  let pathKnown = false;
  for (const r of routes) {
    const m = r.path.exec(pathname);
    if (!m) continue;
    pathKnown = true;
    if (r.method === method) return { handler: r.handler, params: m.slice(1) };
  }
  if (pathKnown) throw new HttpError(405, `${method} is not allowed here`, "method");
  throw new HttpError(404, "no such API route", "not-found");
}
