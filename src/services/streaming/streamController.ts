/**
 * StreamControllerI: one client's handle on one stream of one media file (spec §6), bound to the
 * user of the token it was created with.
 *
 * - getSDP checks the token and the port, re-checks the file, starts the RTP/H.264 stream to the
 *   caller's IP and returns the SDP: an InProcessStream for H.264 in MP4/MOV when the provider
 *   passes through in-process (IceFlix.Stream.Passthrough=inprocess), else a GstPipeline. One stream per controller: a second getSDP
 *   to the same address and port returns the same SDP (a retry after a lost reply is harmless);
 *   any other destination is refused with InvalidArgument (stop, then getStream again).
 * - While it streams, a TokenWatch follows its token; when the token lapses (revoked, expired,
 *   or no longer valid) it publishes a signed requestAuthentication() on its sync topic and waits
 *   ReauthGraceSeconds for refreshAuthentication(valid token of the same user).
 * - While it streams it keeps the checked descriptor of the file open and looks at it (fstat)
 *   every FILE_CHECK_MS: the stream reads that same inode, so a file deleted or renamed away
 *   mid-stream (the inode lives on) plays to its end, while one truncated or modified in place
 *   (the stream would no longer be the media its id names) stops the stream. A stream that stops
 *   for such a reason, or reaches its end well before the media's duration, is logged once as
 *   "stream ended early" with the reason.
 * - It is destroyed by stop(), at the end of the media, when the pipeline dies, when it ends
 *   early, when the grace runs out, when the stream cannot start, and when never given getSDP for
 *   UnusedControllerSeconds: the pipeline is stopped, the descriptor closed, the servant removed
 *   (later calls, getSDP and stop() included: ObjectNotExistException; the client asks getStream
 *   again, which answers WrongMediaId while the file is not the media any more) and the sync topic
 *   destroyed. Nothing depends on the caller's Ice connection staying open.
 */
import { metrics } from "../../runtime/metrics.js";
import { randomUUID } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { Ice, IceFlix, IceFlixExt } from "../../slice/index.js";
import type { EventSigner } from "../../runtime/eventSignature.js";
import type { Logger } from "../../runtime/logger.js";
import type { Topics, TopicPublisher } from "../../runtime/topics.js";
import { GstPipeline, PipelineStartError } from "./gstPipeline.js";
import { InProcessStream } from "./inprocessStream.js";
import type { MediaFile } from "./mediaLibrary.js";
import type { MediaProbes } from "./mediaProbe.js";
import { Mp4DemuxError, type H264SampleTables } from "./mp4SampleTable.js";
import type { PacingScheduler } from "./pacingScheduler.js";
import { gstLaunchArgs, planFor, RTP_PAYLOAD_TYPE, type PipelinePlan, type RtpDestination } from "./pipelinePlan.js";
import type { RtpStream, StreamEnd } from "./rtpStream.js";
import { callerRoute, type CallerRoute } from "./rtpDestination.js";
import { sessionDescription } from "./sdp.js";
import { MediaUnavailableError, openServedFile } from "./servedFile.js";
import type { StreamAuth, TokenOwner } from "./streamAuth.js";
import { TokenWatch, type LapseReason } from "./tokenWatch.js";

export interface ControllerDeps {
  auth: StreamAuth;
  topics: Topics;
  /** Signs requestAuthentication on the sync topic (spec §7). */
  signer: EventSigner;
  probes: MediaProbes;
  log: Logger;
  /** The media folder: a file is re-checked to be inside it before it is streamed. */
  mediaDir: string;
  /** A controller never given an SDP is destroyed after this (IceFlix.Stream.UnusedControllerSeconds). */
  unusedMs: number;
  /** Time to answer requestAuthentication (IceFlix.Stream.ReauthGraceSeconds). */
  reauthGraceMs: number;
  /** How often a streaming token is checked with an Authenticator (the announce period). */
  tokenCheckMs: number;
  /** Set when H.264 in MP4/MOV is passed through in-process (IceFlix.Stream.Passthrough=inprocess). */
  inProcess?: InProcessPassthrough;
}

/** What in-process streams of one provider share. */
export interface InProcessPassthrough {
  tables: H264SampleTables;
  scheduler: PacingScheduler;
}

/** The demuxer of the gst plan that the in-process passthrough replaces (MP4/MOV). */
const INPROCESS_DEMUXER = "qtdemux";

/** How often a streaming controller looks at its file (one fstat of an open descriptor). */
export const FILE_CHECK_MS = 500;

interface ActiveStream {
  pipeline: RtpStream;
  sdp: string;
  /** The checked descriptor the stream reads (gst-launch: its own copy): kept open to watch the inode. */
  file: FileHandle;
  /** When the pipeline reported PLAYING (ms since the epoch). */
  playingSince: number;
  /** The media's duration, when its container says. */
  durationS?: number;
}

/** What the first getSDP set going: where to, and the stream once it plays. */
interface StreamRequest {
  to: RtpDestination;
  playing: Promise<ActiveStream>;
}

export class StreamControllerI extends IceFlix.StreamController {
  /** Unique per controller: names its identity and its sync topic. */
  readonly key = randomUUID();
  readonly syncTopic = `StreamSync-${this.key}`;
  readonly identity = `StreamController/${this.key}`;
  #owner: TokenOwner;
  readonly #log: Logger;
  readonly #watch: TokenWatch;
  #unusedTimer: NodeJS.Timeout | undefined;
  #reauthTimer: NodeJS.Timeout | undefined;
  #fileCheckTimer: NodeJS.Timeout | undefined;
  #stream: StreamRequest | undefined;
  #topicCreated: Promise<boolean> | undefined;
  /** The sync topic may exist (created, or published on): destroy it with the controller. */
  #topicUsed = false;
  #syncPublisher: TopicPublisher<IceFlix.StreamerSyncPrx> | undefined;
  /** The last requestAuthentication publication (never rejects): the topic goes after it. */
  #publishing: Promise<void> | undefined;
  #destroyed: Promise<void> | undefined;

  constructor(
    readonly media: MediaFile,
    owner: TokenOwner,
    private readonly deps: ControllerDeps,
    /** Unregisters the servant (so later calls get ObjectNotExistException). */
    private readonly onDestroyed: (controller: StreamControllerI, reason: string) => void,
  ) {
    super();
    this.#owner = owner;
    this.#log = deps.log.child({ controller: this.key, media: media.id });
    this.#watch = new TokenWatch({
      isValid: (token) => deps.auth.isValid(token),
      checkEveryMs: deps.tokenCheckMs,
      onLapse: (reason) => this.#onTokenLapsed(reason),
      log: this.#log,
    });
    this.#unusedTimer = setTimeout(() => void this.destroy(`unused for ${Math.round(deps.unusedMs / 1000)} s`), deps.unusedMs).unref();
  }

  get user(): string | undefined {
    return this.#owner.user;
  }

  get destroyed(): boolean {
    return this.#destroyed !== undefined;
  }

  async getSDP(authentication: string, port: number, current: Ice.Current): Promise<string> {
    // The first getSDP opens and checks the file while the Authenticator answers (each is a round
    // trip of a stream's start); the file is used only once the token holds, else closed.
    let opening = this.#stream ? undefined : openServedFile(this.media, this.deps.mediaDir);
    opening?.catch(() => undefined); // awaited by #startStream, or closed below
    try {
      const owner = await this.deps.auth.authorizeAs(authentication, this.#owner);
      this.#assertAlive(current);
      const route = callerRoute(current, port);
      if (!this.#stream) {
        this.#owner = owner;
        clearTimeout(this.#unusedTimer);
        this.#watch.follow(authentication, owner.expiresAt);
        this.#stream = { to: route.destination, playing: this.#startStream(route, opening ?? openServedFile(this.media, this.deps.mediaDir)) };
        opening = undefined;
      } else if (this.#stream.to.host !== route.destination.host || this.#stream.to.port !== route.destination.port) {
        throw new IceFlixExt.InvalidArgument("this controller already streams to another port or address; stop() it and call getStream again");
      }
    } finally {
      // Not used (refused, or another getSDP started the stream meanwhile).
      void opening?.then((file) => file.close(), () => undefined);
    }
    try {
      return (await this.#stream.playing).sdp;
    } catch (e) {
      void this.destroy(`the stream could not start: ${e instanceof IceFlixExt.InvalidArgument ? e.reason : (e as Error).message}`);
      throw this.#callerError(e);
    }
  }

  async getSyncTopic(current: Ice.Current): Promise<string> {
    this.#assertAlive(current);
    await this.#ensureTopic();
    return this.syncTopic;
  }

  async refreshAuthentication(authentication: string, current: Ice.Current): Promise<void> {
    const owner = await this.deps.auth.authorizeAs(authentication, this.#owner);
    this.#assertAlive(current);
    this.#owner = owner;
    if (this.#stream) this.#watch.follow(authentication, owner.expiresAt);
    if (this.#reauthTimer) {
      clearTimeout(this.#reauthTimer);
      this.#reauthTimer = undefined;
      this.#log.info({ user: owner.user }, "stream re-authenticated");
    }
  }

  async stop(_current: Ice.Current): Promise<void> {
    await this.destroy("stopped by the client");
  }

  /** A revoke event (already through the provider's gate): lapses the stream if it runs on `token`. */
  tokenRevoked(token: string): void {
    this.#watch.revoked(token);
  }

  /**
   * Unregisters the controller at once, then stops its pipeline (SIGINT, SIGKILL after a grace)
   * and removes its sync topic. Idempotent; resolves when all is done.
   */
  destroy(reason: string): Promise<void> {
    this.#destroyed ??= (async () => {
      clearTimeout(this.#unusedTimer);
      clearTimeout(this.#reauthTimer);
      clearInterval(this.#fileCheckTimer);
      this.#watch.stop();
      this.onDestroyed(this, reason);
      this.#log.info({ user: this.#owner.user, reason }, "stream controller destroyed");
      const stream = await this.#stream?.playing.catch(() => undefined);
      await stream?.pipeline.stop();
      await stream?.file.close().catch(() => undefined);
      await this.#publishing;
      if (this.#topicCreated) await this.#topicCreated;
      if (this.#topicUsed) {
        await this.deps.topics.destroyTopic(this.syncTopic).catch((e) =>
          this.#log.warn({ topic: this.syncTopic, error: String(e) }, "cannot destroy a sync topic"),
        );
      }
    })();
    return this.#destroyed;
  }

  async #startStream(route: CallerRoute, opening: Promise<FileHandle>): Promise<ActiveStream> {
    const file = await opening;
    try {
      const probe = await this.deps.probes.get(this.media.id, file.fd);
      const plan = planFor(probe);
      if ("refused" in plan) throw new IceFlixExt.InvalidArgument(`media ${this.media.id} cannot be streamed: ${plan.refused}`);
      const startedAt = Date.now();
      const { pipeline, via, h264 } = await this.#startSender(plan, file, route.destination);
      const stream: ActiveStream = {
        pipeline,
        sdp: sessionDescription({ destination: route.destination, origin: route.origin, name: this.media.id, h264 }),
        file,
        playingSince: Date.now(),
        durationS: probe.durationS,
      };
      metrics.streamStarts.inc({ plan: plan.kind, via });
      metrics.streamsActive.inc();
      void pipeline.finished.then((end) => {
        metrics.streamsActive.dec();
        return this.#onPipelineEnd(stream, end);
      });
      if (!this.#destroyed) this.#fileCheckTimer = setInterval(() => void this.#checkFile(stream), FILE_CHECK_MS).unref();
      this.#log.info(
        { user: this.#owner.user, plan: plan.kind, via, codec: probe.video?.codec, durationS: probe.durationS, port: route.destination.port, pid: pipeline.pid, ms: Date.now() - startedAt },
        "stream started",
      );
      return stream;
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /**
   * The in-process passthrough when the provider has it and the file is H.264 in MP4/MOV that
   * mp4box can read (a fragmented MP4, say, goes to gst-launch instead); else a gst-launch pipeline.
   */
  async #startSender(
    plan: PipelinePlan,
    file: FileHandle,
    to: RtpDestination,
  ): Promise<{ pipeline: RtpStream; via: "inprocess" | "gst"; h264?: { profileLevelId: string; sps: Buffer[]; pps: Buffer[] } }> {
    const inProcess = this.deps.inProcess;
    if (inProcess && plan.kind === "passthrough" && plan.demuxer === INPROCESS_DEMUXER) {
      try {
        const table = await inProcess.tables.get(this.media.id, file, this.media.size);
        const pipeline = await InProcessStream.start({ table, file, destination: to, scheduler: inProcess.scheduler, payloadType: RTP_PAYLOAD_TYPE });
        return { pipeline, via: "inprocess", h264: { profileLevelId: table.profileLevelId, sps: table.sps, pps: table.pps } };
      } catch (e) {
        if (!(e instanceof Mp4DemuxError)) throw e;
        this.#log.info({ reason: e.message }, "in-process passthrough cannot read this file; it goes through gst-launch");
      }
    }
    const pipeline = await GstPipeline.start({ args: gstLaunchArgs(plan, to), mediaFd: file.fd, name: `gst-launch ${this.key}`, log: this.#log });
    return { pipeline, via: "gst" };
  }

  /** How the file under the stream differs from the announced media, if it does (no paths: may be logged). */
  async #fileChange(stream: ActiveStream): Promise<string | undefined> {
    let size: number;
    let mtimeNs: string;
    try {
      const st = await stream.file.stat({ bigint: true });
      size = Number(st.size);
      mtimeNs = st.mtimeNs.toString();
    } catch {
      return undefined; // closed by destroy() meanwhile
    }
    if (size < this.media.size) return `the media file was truncated while it was streamed (${size} of ${this.media.size} bytes left)`;
    if (size !== this.media.size || mtimeNs !== this.media.mtimeNs) return "the media file was modified while it was streamed";
    return undefined;
  }

  /** The periodic look at the file: a stream of a file changed in place ends now. */
  async #checkFile(stream: ActiveStream): Promise<void> {
    if (this.#destroyed) return;
    const change = await this.#fileChange(stream);
    if (change) this.#endEarly(stream, change);
  }

  /** The one log line of a stream that ended before the media did, then the controller goes. */
  #endEarly(stream: ActiveStream, reason: string, detail: Record<string, unknown> = {}): void {
    if (this.#destroyed) return;
    this.#log.warn(
      { user: this.#owner.user, reason, playedMs: Date.now() - stream.playingSince, durationS: stream.durationS, ...detail },
      "stream ended early",
    );
    void this.destroy(`the stream ended early: ${reason}`);
  }

  /** What a failed start looks like to the caller (spec §0: declared or typed exceptions, no paths). */
  #callerError(e: unknown): unknown {
    if (e instanceof MediaUnavailableError) {
      this.#log.warn({ reason: e.message }, "media no longer servable");
      return new IceFlixExt.InvalidArgument(`media ${this.media.id} is no longer served here: ${e.message}`);
    }
    if (e instanceof PipelineStartError) this.#log.warn({ reason: e.message, stderr: e.detail }, "stream pipeline failed to start");
    return e; // Ice exceptions as they are; anything else becomes InternalError at the boundary
  }

  async #onPipelineEnd(stream: ActiveStream, end: StreamEnd): Promise<void> {
    if (end.kind === "stopped" || this.#destroyed) return;
    const change = await this.#fileChange(stream);
    const died = end.kind === "died" ? { code: end.code, signal: end.signal, stderr: end.stderrTail } : {};
    if (change) return this.#endEarly(stream, change, died);
    if (end.kind === "damaged") return this.#endEarly(stream, `the media file is damaged: ${end.reason}`);
    if (end.kind === "ended") {
      const playedMs = Date.now() - stream.playingSince;
      const expectedMs = (stream.durationS ?? 0) * 1000;
      // Real-time playback (sync=true) takes the media's duration; much less means data was missing.
      if (expectedMs > 0 && playedMs < expectedMs - Math.max(2000, expectedMs / 10)) {
        return this.#endEarly(stream, `the pipeline reached the end after ${(playedMs / 1000).toFixed(1)} s of ${(expectedMs / 1000).toFixed(1)} s (the file may be damaged)`);
      }
      void this.destroy("the media ended");
      return;
    }
    this.#log.warn({ ...died }, "stream pipeline died");
    void this.destroy("the pipeline died");
  }

  #onTokenLapsed(reason: LapseReason): void {
    if (this.#destroyed || this.#reauthTimer) return;
    const graceMs = this.deps.reauthGraceMs;
    this.#log.info({ user: this.#owner.user, reason, graceMs }, "stream token lapsed; asking for re-authentication");
    this.#reauthTimer = setTimeout(
      () => void this.destroy(`not re-authenticated within ${Math.round(graceMs / 1000)} s (token ${reason})`),
      graceMs,
    ).unref();
    this.#publishing = this.#requestAuthentication().catch((e) =>
      this.#log.warn({ topic: this.syncTopic, error: String(e) }, "cannot publish requestAuthentication"),
    );
  }

  /** A signed requestAuthentication() on the sync topic (spec §7.1: topic = its name, no arguments). */
  async #requestAuthentication(): Promise<void> {
    await this.#ensureTopic();
    this.#syncPublisher ??= this.deps.topics.publisher(this.syncTopic, (p) => IceFlix.StreamerSyncPrx.uncheckedCast(p));
    await this.#syncPublisher.publishSigned(this.deps.signer, "requestAuthentication", [], (pub, ctx) => pub.requestAuthentication(ctx));
  }

  /** A call that was already dispatched when the controller went away ends like a later call would. */
  #assertAlive(current: Ice.Current): void {
    // The runtime fills in only null fields, and the constructor's defaults are not null.
    if (this.#destroyed) throw new Ice.ObjectNotExistException(current.id, current.facet, current.operation);
  }

  /** Creates the sync topic once, so a client can subscribe before anything is published on it. */
  #ensureTopic(): Promise<boolean> {
    this.#topicUsed = true;
    this.#topicCreated ??= this.#createTopic();
    return this.#topicCreated;
  }

  /** A broker that is away is logged, not raised: the name is still the controller's. */
  async #createTopic(): Promise<boolean> {
    try {
      await this.deps.topics.topic(this.syncTopic);
      return true;
    } catch (e) {
      this.#log.warn({ topic: this.syncTopic, error: String(e) }, "cannot create a sync topic");
      this.#topicCreated = undefined; // the next getSyncTopic tries again
      return false;
    }
  }
}
