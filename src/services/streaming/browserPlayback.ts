/**
 * Browser playback on a provider (StreamProviderExt.getPlaybackUrl / refreshPlayback): ties the
 * ticket store, the HTTP endpoint, the probe of each file (what a browser can decode) and the
 * browser copies together. A ticket is issued only for a valid token and a file held here; the
 * endpoint opens, per request, either the original (checked by openServedFile) or its copy.
 */
import { IceFlix, IceFlixExt } from "../../slice/index.js";
import { toIceLong } from "../../runtime/iceValues.js";
import { metrics } from "../../runtime/metrics.js";
import { wrongMediaId } from "../../runtime/wrongMediaId.js";
import type { Logger } from "../../runtime/logger.js";
import { open } from "node:fs/promises";
import { BrowserCopies } from "./browserCopies.js";
import { browserFormat } from "./browserFormat.js";
import { MediaHttp, type OpenedMedia, type TicketBinding } from "./mediaHttp.js";
import type { MediaLibrary, MediaFile } from "./mediaLibrary.js";
import type { MediaProbe, MediaProbes } from "./mediaProbe.js";
import { PlaybackTickets, TicketRefused, type TicketRecord } from "./playbackTickets.js";
import { openServedFile } from "./servedFile.js";
import type { StreamAuth } from "./streamAuth.js";

export interface BrowserPlaybackOptions {
  library: MediaLibrary;
  auth: StreamAuth;
  probes: MediaProbes;
  mediaDir: string;
  dataDir: string;
  secret: Buffer;
  /** Where the HTTP endpoint listens (IceFlix.Stream.HttpEndpoint). */
  host: string;
  port: number;
  /** What a ticket's first use binds it to (IceFlix.Stream.TicketBinding). */
  binding: TicketBinding;
  checkEveryMs: number;
  maxTickets: number;
  maxConnections: number;
  log: Logger;
}

export class BrowserPlayback {
  readonly tickets: PlaybackTickets;
  readonly copies: BrowserCopies;
  #http: MediaHttp | undefined;
  readonly #untrack: () => void;

  private constructor(private readonly options: BrowserPlaybackOptions) {
    this.tickets = new PlaybackTickets({
      secret: options.secret,
      isValid: (token) => options.auth.isValid(token),
      checkEveryMs: options.checkEveryMs,
      maxTickets: options.maxTickets,
      log: options.log,
    });
    this.copies = new BrowserCopies(options.dataDir, options.log);
    this.#untrack = metrics.playbackTickets.track({}, () => this.tickets.size);
  }

  static async start(options: BrowserPlaybackOptions): Promise<BrowserPlayback> {
    const playback = new BrowserPlayback(options);
    playback.#http = await MediaHttp.start({
      host: options.host,
      port: options.port,
      tickets: playback.tickets,
      binding: options.binding,
      open: (record) => playback.#openFor(record),
      maxConnections: options.maxConnections,
      log: options.log,
    });
    return playback;
  }

  get baseUrl(): string {
    return this.#http!.baseUrl;
  }

  async stop(): Promise<void> {
    this.#untrack();
    this.tickets.clear();
    await this.#http?.stop();
  }

  /** Unauthorized before WrongMediaId before Busy (a browser copy still being made). */
  async getPlaybackUrl(id: string, token: string): Promise<IceFlixExt.PlaybackTicket> {
    const owner = await this.options.auth.authorize(token);
    let media = this.options.library.get(id);
    if (!media) {
      await this.options.library.whenFirstScanned(3000);
      media = this.options.library.get(id);
    }
    if (!media) throw wrongMediaId(id);
    const probe = await this.#probe(media);
    const format = browserFormat(probe);
    if (!format.direct) {
      const copy = this.copies.state(media.id, probe.durationS, () => openServedFile(media, this.options.mediaDir));
      if (!copy.ready) {
        throw new IceFlixExt.Busy(`preparing a browser copy (${format.why}): ${copy.percent}%${copy.failed ? `; the last try failed: ${copy.failed}` : ""}`);
      }
    }
    const record = this.tickets.issue(media.id, owner, token);
    return this.#describe(record, probe, format.direct ? format.mimeType : "video/mp4");
  }

  /** Same user, newer token: the ticket lives on. Unauthorized for anything else. */
  async refreshPlayback(url: string, token: string): Promise<IceFlixExt.PlaybackTicket> {
    const owner = await this.options.auth.authorize(token);
    const ticket = this.#http!.ticketOf(url);
    if (ticket === undefined) throw new IceFlix.Unauthorized();
    let record: TicketRecord;
    try {
      record = this.tickets.refresh(ticket, owner, token);
    } catch (e) {
      if (e instanceof TicketRefused) throw new IceFlix.Unauthorized();
      throw e;
    }
    const media = this.options.library.get(record.mediaId);
    const probe = media ? await this.#probe(media) : { container: "" };
    const format = browserFormat(probe);
    return this.#describe(record, probe, format.direct ? format.mimeType : "video/mp4");
  }

  async #probe(media: MediaFile): Promise<MediaProbe> {
    const handle = await openServedFile(media, this.options.mediaDir).catch(() => {
      throw wrongMediaId(media.id);
    });
    try {
      return await this.options.probes.get(media.id, handle.fd);
    } finally {
      await handle.close();
    }
  }

  #describe(record: TicketRecord, probe: MediaProbe, mimeType: string): IceFlixExt.PlaybackTicket {
    return new IceFlixExt.PlaybackTicket(
      this.#http!.urlOf(record.ticket),
      mimeType,
      toIceLong(record.expiresAt),
      probe.video?.width ?? 0,
      probe.video?.height ?? 0,
      probe.durationS ?? 0,
    );
  }

  /** The bytes a ticket plays: the checked original, or its browser copy. */
  async #openFor(record: TicketRecord): Promise<OpenedMedia> {
    const media = this.options.library.get(record.mediaId);
    if (!media) throw new Error("the file was withdrawn");
    const copyPath = this.copies.pathOf(media.id);
    const handle = await openServedFile(media, this.options.mediaDir);
    const probe = await this.options.probes.get(media.id, handle.fd).catch(async (e) => {
      await handle.close();
      throw e;
    });
    const format = browserFormat(probe);
    if (format.direct) return { handle, size: media.size, mimeType: format.mimeType };
    await handle.close();
    const copy = await open(copyPath, "r");
    return { handle: copy, size: (await copy.stat()).size, mimeType: "video/mp4" };
  }
}
