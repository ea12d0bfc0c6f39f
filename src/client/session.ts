/**
 * What one client session knows and does, independent of how commands are typed: the Main link,
 * the login (TokenKeeper), the last search results, the selection and the playback. The
 * interactive prompt and the non-interactive commands both drive this; every failure leaves as a
 * ClientError with a clear message.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix, IceStorm } from "../slice/index.js";
import { ServerAdapter } from "../ice-server/index.js";
import { defaultTopicManagerProxy, intProperty, PROP } from "../runtime/config.js";
import { Topics } from "../runtime/topics.js";
import type { Logger } from "../runtime/logger.js";
import { proxyText } from "../runtime/iceValues.js";
import { ClientError, describeError, isTransportFailure, UsageError } from "./errors.js";
import { MainLink, type MainFacts } from "../mainlink/mainLink.js";
import type { RetryPolicy, Sleep } from "../mainlink/retry.js";
import { CredentialsRefused, NotLoggedIn, TokenKeeper, systemClock, type Clock } from "../mainlink/tokenKeeper.js";
import { Playback, type PlaybackStatus, type StallLimits } from "./playback.js";
import type { PlayerSettings } from "./player.js";
import type { ResultRow } from "./resultTable.js";

/** Spec §10, checked here too so the user gets a precise message before any call. */
const LIMITS = { nameChars: 512, tagChars: 128, tagsPerCall: 1000, searchChars: 512, userChars: 64 } as const;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** A media id shortened as the search table shows it (full ids are 64 hex characters). */
const SHORT_ID = /^[0-9a-f]{6,63}$/;
/** Titles whose name and tags are remembered (the oldest are forgotten first). */
const KNOWN_TITLES = 10_000;

export interface SessionSettings {
  retry: RetryPolicy;
  player: PlayerSettings;
  stall: StallLimits;
  /** Most titles a search shows with details. */
  resultLimit: number;
}

export interface SessionOptions {
  communicator: Ice.Communicator;
  props: Ice.Properties;
  log: Logger;
  settings: SessionSettings;
  /** Background news for the user (stream ended, renewal failing, …). */
  notice: (line: string) => void;
  /** Progress while connecting (retries). */
  progress: (line: string) => void;
  clock?: Clock;
  sleep?: Sleep;
}

export interface SearchResult {
  /** How many titles matched in all. */
  total: number;
  rows: ResultRow[];
}

export interface TitleInfo {
  id: string;
  name?: string;
  tags?: string[];
  available?: boolean;
}

export interface SessionStatus {
  main?: { proxy: string; label: string; reachable: boolean; error?: string; implementation?: "IceFlix MainExt" | "IceFlix Main" };
  broker?: string;
  tokenLifetimeSeconds?: number;
  user?: string;
  tokenRenewals?: number;
  nextRenewalInSeconds?: number;
  selection?: TitleInfo & { n?: number };
  playback?: PlaybackStatus;
}

export class ClientSession {
  readonly #options: SessionOptions;
  readonly keeper: TokenKeeper;
  #link: MainLink | undefined;
  #results: ResultRow[] = [];
  /** Names and tags seen, for titles the catalog cannot describe while they have no provider. */
  readonly #known = new Map<string, { name: string; tags: string[] }>();
  #selection: (TitleInfo & { n?: number }) | undefined;
  #playback: Playback | undefined;
  #lastPlayback: PlaybackStatus | undefined;
  #server: Promise<ServerAdapter> | undefined;
  #workDir: string | undefined;
  #renewalWarned = false;
  #closed: Promise<void> | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.keeper = new TokenKeeper(
      (user, hash) => this.#requireLink().withAuthenticator((a) => a.refreshAuthorization(user, hash)),
      options.clock ?? systemClock,
      {
        renewed: (token, reason) => {
          this.#renewalWarned = false;
          if (reason !== "stream") void this.#playback?.refresh(token);
        },
        renewalFailed: (e) => {
          if (!this.#renewalWarned) this.#options.notice(`cannot renew the session token (${describeError(e)}); retrying`);
          this.#renewalWarned = true;
        },
        credentialsRefused: (user) => {
          this.#options.notice(`the login of ${user} is no longer accepted (password changed or user removed); log in again`);
          void this.#stopPlayback();
        },
      },
    );
  }

  // ---- state, for the prompt -------------------------------------------------------------

  get link(): MainLink | undefined {
    return this.#link;
  }

  get user(): string | undefined {
    return this.keeper.loggedIn ? this.keeper.user : undefined;
  }

  get selection(): (TitleInfo & { n?: number }) | undefined {
    return this.#selection;
  }

  get playing(): boolean {
    return this.#playback?.playing ?? false;
  }

  get results(): readonly ResultRow[] {
    return this.#results;
  }

  /** Every tag seen in results (for completion). */
  knownTags(): string[] {
    return [...new Set([...this.#known.values()].flatMap((k) => k.tags))].sort();
  }

  #requireLink(): MainLink {
    if (!this.#link) throw new ClientError("not connected: connect <proxy> first (or start IceFlix with iceflix up)");
    return this.#link;
  }

  // ---- connection ------------------------------------------------------------------------

  /** Connects to `proxy` (with retries). Another Main than before ends the login and playback. */
  async connect(proxy: string): Promise<MainFacts> {
    const link = new MainLink(this.#options.communicator, proxy, this.#options.settings.retry, this.#options.progress, this.#options.sleep);
    if (this.#link && this.#link.proxyText !== link.proxyText) {
      await this.#stopPlayback();
      this.keeper.logout();
      this.#results = [];
      this.#selection = undefined;
    }
    this.#link = link;
    const facts = await link.connect();
    this.#learn(facts);
    return facts;
  }

  /** Reaches Main again (with retries) if it was lost; a ClientError if it cannot. */
  async ensureConnected(): Promise<void> {
    await this.#connected();
  }

  /** Connected (reconnecting if Main was lost), or a ClientError. */
  async #connected(): Promise<MainLink> {
    const link = this.#requireLink();
    if (link.state !== "connected") this.#learn(await link.connect());
    return link;
  }

  #learn(facts: MainFacts): void {
    this.keeper.setLifetime(facts.tokenLifetimeSeconds ?? this.#configuredLifetime());
  }

  /** IceFlix.Token.LifetimeSeconds when set explicitly: for Mains that do not tell. */
  #configuredLifetime(): number | undefined {
    return this.#options.props.getProperty(PROP.tokenLifetime) ? intProperty(this.#options.props, PROP.tokenLifetime, 30, 1, 86_400) : undefined;
  }

  /** The broker: from MainExt.getTopicManager(), else the IceStorm.TopicManager.Proxy property. */
  #topicManager(): IceStorm.TopicManagerPrx {
    const fromMain = this.#link?.facts?.topicManager;
    if (fromMain) return fromMain;
    const text = this.#options.props.getProperty(PROP.topicManager) || defaultTopicManagerProxy();
    return IceStorm.TopicManagerPrx.uncheckedCast(this.#options.communicator.stringToProxy(text));
  }

  // ---- login -----------------------------------------------------------------------------

  async login(user: string, passwordHash: string): Promise<void> {
    if (!user || user.length > LIMITS.userChars || CONTROL.test(user)) throw new UsageError(`a user name has 1–${LIMITS.userChars} characters and no control characters`);
    await this.#connected();
    const previous = this.user;
    try {
      await this.keeper.login(user, passwordHash);
    } catch (e) {
      if (e instanceof IceFlix.Unauthorized) throw new ClientError("wrong user name or password");
      throw e;
    }
    if (previous !== undefined && previous !== user) await this.#stopPlayback();
  }

  /** Forgets the token and the password hash; stops playback (it was the user's). */
  async logout(): Promise<string | undefined> {
    const user = this.user;
    await this.#stopPlayback();
    this.keeper.logout();
    return user;
  }

  /** Runs `call` with the token; after Unauthorized logs in again with the held hash and retries once. */
  async withToken<T>(call: (token: string) => PromiseLike<T>): Promise<T> {
    try {
      return await this.keeper.withToken(call);
    } catch (e) {
      if (e instanceof NotLoggedIn) throw new ClientError(e.message);
      if (e instanceof CredentialsRefused) {
        await this.#stopPlayback();
        throw new ClientError(e.message);
      }
      if (e instanceof IceFlix.Unauthorized) {
        throw new ClientError("not authorized: the service refused even a fresh token (can it reach an authentication service?)");
      }
      throw e;
    }
  }

  // ---- catalog ---------------------------------------------------------------------------

  async #catalog<T>(fn: (catalog: IceFlix.MediaCatalogPrx) => PromiseLike<T>): Promise<T> {
    const link = await this.#connected();
    return link.withCatalog(fn);
  }

  /** Name, tags and availability of one title; what we knew before when it has no provider now. */
  async #describe(catalog: IceFlix.MediaCatalogPrx, id: string): Promise<TitleInfo | undefined> {
    try {
      const media = await catalog.getTile(id);
      const info = { name: media.info.name, tags: [...media.info.tags] };
      this.#remember(id, info);
      return { id, ...info, available: media.provider !== null };
    } catch (e) {
      if (e instanceof IceFlix.TemporaryUnavailable) return { id, ...this.#known.get(id), available: false };
      if (e instanceof IceFlix.WrongMediaId) return undefined; // removed since the search
      throw e;
    }
  }

  #remember(id: string, info: { name: string; tags: string[] }): void {
    this.#known.delete(id); // re-inserted as the newest
    this.#known.set(id, info);
    if (this.#known.size > KNOWN_TITLES) this.#known.delete(this.#known.keys().next().value!);
  }

  async #rows(ids: string[]): Promise<SearchResult> {
    const shown = ids.slice(0, this.#options.settings.resultLimit);
    const described = await this.#catalog((c) => Promise.all(shown.map((id) => this.#describe(c, id))));
    const rows = described.filter((d): d is TitleInfo => d !== undefined).map((d, i) => ({ n: i + 1, ...d }));
    this.#results = rows;
    return { total: ids.length - (shown.length - rows.length), rows };
  }

  async search(text: string, exact: boolean): Promise<SearchResult> {
    if (text.length > LIMITS.searchChars) throw new UsageError(`a search text has at most ${LIMITS.searchChars} characters`);
    const ids = await this.#catalog((c) => c.getTilesByName(text, exact));
    return this.#rows(ids);
  }

  async tagSearch(tags: string[], all: boolean): Promise<SearchResult> {
    checkTags(tags);
    const ids = await this.#catalog((c) => c.getTilesByTags(tags, all));
    return this.#rows(ids);
  }

  select(n: number): TitleInfo & { n: number } {
    if (this.#results.length === 0) throw new ClientError("no results to select from: search first");
    const row = this.#results[n - 1];
    if (!row) {
      throw new ClientError(`there is no result ${n} (the last search shows ${this.#results.length === 1 ? "1 result" : `results 1–${this.#results.length}`})`);
    }
    this.#selection = { ...row };
    return { ...row };
  }

  deselect(): TitleInfo | undefined {
    const was = this.#selection;
    this.#selection = undefined;
    return was;
  }

  /** The title an edit or play applies to: `id` when given (non-interactive; the short id a
   * search table shows is enough), else the selection. */
  async #target(id?: string): Promise<{ id: string; name?: string }> {
    if (id !== undefined) {
      const full = SHORT_ID.test(id) ? await this.#expandShortId(id) : id;
      return { id: full, name: this.#known.get(full)?.name };
    }
    if (!this.#selection) throw new ClientError("select a title first (search, then select <n>)");
    return this.#selection;
  }

  /** The one catalog id that starts with `prefix` (from the list of all titles). */
  async #expandShortId(prefix: string): Promise<string> {
    const ids = await this.#catalog((c) => c.getTilesByName("", false));
    const matches = ids.filter((id) => id.startsWith(prefix));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) throw new ClientError(`no title's id starts with ${prefix}`);
    throw new ClientError(`${prefix} is the start of ${matches.length} ids: give more of it`);
  }

  /** After an edit: the title as the catalog now has it (or as we expect it, if it cannot say). */
  async #afterEdit(id: string, expect: (before: { name?: string; tags?: string[] }) => { name?: string; tags?: string[] }): Promise<TitleInfo> {
    let info: TitleInfo | undefined;
    try {
      info = await this.#catalog((c) => this.#describe(c, id));
    } catch {
      info = undefined;
    }
    if (!info || info.name === undefined) {
      const before = this.#known.get(id) ?? {};
      info = { id, ...expect(before), available: info?.available };
      if (info.name !== undefined && info.tags !== undefined) this.#remember(id, { name: info.name, tags: info.tags });
    }
    for (const row of this.#results) if (row.id === id) Object.assign(row, info, { n: row.n });
    if (this.#selection?.id === id) this.#selection = { ...this.#selection, ...info };
    return info;
  }

  async rename(newName: string, id?: string): Promise<TitleInfo> {
    const name = newName.trim();
    if (!name || [...name].length > LIMITS.nameChars || CONTROL.test(name)) {
      throw new UsageError(`a title has 1–${LIMITS.nameChars} characters and no control characters`);
    }
    const target = await this.#target(id);
    this.#requireLogin();
    await this.withToken((token) => this.#catalog((c) => c.renameTile(target.id, name, token)));
    return this.#afterEdit(target.id, (before) => ({ name, tags: before.tags }));
  }

  async addTags(tags: string[], id?: string): Promise<TitleInfo> {
    checkTags(tags);
    const target = await this.#target(id);
    this.#requireLogin();
    await this.withToken((token) => this.#catalog((c) => c.addTags(target.id, tags, token)));
    return this.#afterEdit(target.id, (before) => ({ name: before.name, tags: [...new Set([...(before.tags ?? []), ...tags])] }));
  }

  async removeTags(tags: string[], id?: string): Promise<TitleInfo> {
    checkTags(tags);
    const target = await this.#target(id);
    this.#requireLogin();
    await this.withToken((token) => this.#catalog((c) => c.removeTags(target.id, tags, token)));
    return this.#afterEdit(target.id, (before) => ({ name: before.name, tags: (before.tags ?? []).filter((t) => !tags.includes(t)) }));
  }

  #requireLogin(): void {
    if (!this.keeper.loggedIn) throw new ClientError("log in first (login <user>)");
  }

  // ---- playback --------------------------------------------------------------------------

  /** Starts streaming the selected title (or `id`); returns once the player runs. */
  async play(id?: string): Promise<PlaybackStatus> {
    const target = await this.#target(id);
    this.#requireLogin();
    const media = await this.#catalog(async (c) => {
      try {
        return await c.getTile(target.id);
      } catch (e) {
        if (e instanceof IceFlix.TemporaryUnavailable) throw new ClientError(`"${target.name ?? target.id}" is not available right now (no provider serves it)`);
        if (e instanceof IceFlix.WrongMediaId) throw new ClientError(`"${target.name ?? target.id}" is no longer in the catalog`);
        throw e;
      }
    });
    if (!media.provider) throw new ClientError(`"${media.info.name}" has no provider right now`);
    this.#remember(media.id, { name: media.info.name, tags: [...media.info.tags] });
    if (this.#playback) await this.#stopPlayback();
    try {
      this.#playback = await Playback.start({ id: media.id, name: media.info.name }, media.provider, {
        log: this.#options.log,
        withToken: (call) => this.withToken(call),
        renewForStream: async () => {
          try {
            return await this.keeper.renew("stream");
          } catch (e) {
            // Without a login the stream cannot go on; the controller would stop it after its grace.
            if (e instanceof CredentialsRefused) void this.#stopPlayback();
            throw e;
          }
        },
        syncHost: () => this.#syncHost(),
        workDir: this.#ensureWorkDir(),
        player: this.#options.settings.player,
        stall: this.#options.settings.stall,
        notice: this.#options.notice,
        ended: (playback, reason) => {
          if (this.#playback !== playback) return;
          this.#playback = undefined;
          this.#lastPlayback = playback.status();
          const frames = this.#lastPlayback.frames;
          this.#options.notice(`playback of "${playback.name}" ended: ${reason}` + (frames !== undefined ? ` (${frames} frames received)` : ""));
        },
      });
    } catch (e) {
      if (e instanceof IceFlix.WrongMediaId) throw new ClientError("the provider no longer has this title");
      if (isTransportFailure(e)) throw new ClientError(`the provider does not answer (${describeError(e)})`);
      throw e;
    }
    return this.#playback.status();
  }

  /** Stops playback; the status it had, or undefined when nothing was playing. */
  async stop(): Promise<PlaybackStatus | undefined> {
    const status = this.#playback?.status();
    await this.#stopPlayback();
    return status;
  }

  async #stopPlayback(): Promise<void> {
    const playback = this.#playback;
    this.#playback = undefined;
    await playback?.stop();
  }

  /** Waits until the playback ends by itself, or `ms` pass (non-interactive play). */
  async waitForPlaybackEnd(ms: number | undefined): Promise<void> {
    const deadline = ms === undefined ? Infinity : Date.now() + ms;
    while (this.#playback?.playing && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, deadline - Date.now()))));
    }
  }

  /** The status of the playback that ended last by itself. */
  get lastPlayback(): PlaybackStatus | undefined {
    return this.#lastPlayback;
  }

  #syncHost(): Promise<{ adapter: ServerAdapter; topics: Topics | undefined }> {
    this.#server ??= ServerAdapter.create(this.#options.communicator, "ClientAdapter", {
      endpoints: this.#options.props.getProperty("ClientAdapter.Endpoints") || "tcp -h 127.0.0.1 -p 0",
      closeGraceMs: 1000,
    });
    this.#server.catch(() => (this.#server = undefined));
    return this.#server.then((adapter) => ({ adapter, topics: new Topics(this.#topicManager(), this.#options.log) }));
  }

  #ensureWorkDir(): string {
    this.#workDir ??= mkdtempSync(join(tmpdir(), "iceflix-client-"));
    return this.#workDir;
  }

  // ---- status and shutdown ---------------------------------------------------------------

  async status(): Promise<SessionStatus> {
    const out: SessionStatus = {};
    const link = this.#link;
    if (link) {
      const reachable = await link.ping().catch(() => false);
      const facts = link.facts;
      out.main = {
        proxy: link.proxyText,
        label: link.label,
        reachable,
        ...(reachable ? {} : { error: link.lastError }),
        ...(facts ? { implementation: facts.ext ? "IceFlix MainExt" : "IceFlix Main" } : {}),
      };
      if (facts) {
        out.broker = proxyText(this.#options.communicator, this.#topicManager());
        out.tokenLifetimeSeconds = facts.tokenLifetimeSeconds ?? this.#configuredLifetime();
      }
    }
    if (this.user) {
      out.user = this.user;
      out.tokenRenewals = this.keeper.renewals;
      const next = this.keeper.nextRenewalAt;
      if (next !== undefined) out.nextRenewalInSeconds = Math.max(0, Math.round((next - Date.now()) / 1000));
    }
    if (this.#selection) out.selection = { ...this.#selection };
    if (this.#playback) out.playback = this.#playback.status();
    return out;
  }

  /**
   * Stops everything this session started; the communicator is destroyed last. Each step is
   * bounded, so leaving never hangs on a peer that does not answer. Idempotent.
   */
  close(): Promise<void> {
    const log = this.#options.log;
    const step = async (name: string, ms: number, work: () => Promise<unknown> | undefined) => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        Promise.resolve(work()).then(() => "done", (e: unknown) => `failed: ${describeError(e)}`),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve("timed out"), ms))),
      ]);
      clearTimeout(timer);
      log.debug({ step: name, outcome, ms: Date.now() - started }, "closing");
    };
    this.#closed ??= (async () => {
      await step("playback", 10_000, () => this.#stopPlayback());
      this.keeper.logout();
      await step("adapter", 3000, async () => (await this.#server?.catch(() => undefined))?.destroy());
      await step("communicator", 3000, () => this.#options.communicator.destroy());
      if (this.#workDir) rmSync(this.#workDir, { recursive: true, force: true });
    })();
    return this.#closed;
  }
}

function checkTags(tags: string[]): void {
  if (tags.length === 0) throw new UsageError("give at least one tag");
  if (tags.length > LIMITS.tagsPerCall) throw new UsageError(`at most ${LIMITS.tagsPerCall} tags at a time`);
  for (const t of tags) {
    if (!t || [...t].length > LIMITS.tagChars || CONTROL.test(t)) throw new UsageError(`a tag has 1–${LIMITS.tagChars} characters and no control characters`);
  }
}
