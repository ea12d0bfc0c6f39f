/**
 * One stream being watched (spec §6, §8): the StreamController, the client's StreamerSync servant
 * subscribed to the controller's sync topic (so a `requestAuthentication` gets a fresh token
 * back), the SDP file and the local player. Starting returns as soon as the player runs; the end
 * of the stream (player gone, or no video for a while) is noticed in the background.
 */
import { Ice, IceFlix } from "../slice/index.js";
import type { ServerAdapter } from "../ice-server/index.js";
import type { Subscription, Topics } from "../runtime/topics.js";
import type { Logger } from "../runtime/logger.js";
import { ClientError, describeError } from "./errors.js";
import { choosePlayer, Player, type PlayerSettings } from "./player.js";
import { pickRtpPort, sdpProblem, writeSdpFile } from "../mainlink/rtpReceiver.js";
import { terminalSafe } from "./resultTable.js";
import { join } from "node:path";

/** The controller's requests for a fresh token arrive here (through IceStorm). */
export class StreamerSyncI extends IceFlix.StreamerSync {
  constructor(private readonly onRequest: () => void) {
    super();
  }

  requestAuthentication(_current: Ice.Current): void {
    this.onRequest();
  }
}

/** How long without video before the stream counts as ended. */
export interface StallLimits {
  /** No first frame within this: nothing is arriving. */
  firstFrameMs: number;
  /** No new frame for this long after frames arrived: the stream ended. */
  idleMs: number;
}

export const DEFAULT_STALL: Readonly<StallLimits> = { firstFrameMs: 30_000, idleMs: 5_000 };

/** Why a headless stream should count as ended now, or undefined while it is fine. */
export function stallReason(now: number, startedAt: number, lastFrameAt: number | undefined, limits: StallLimits): string | undefined {
  if (lastFrameAt === undefined) {
    return now - startedAt > limits.firstFrameMs ? `no video arrived within ${Math.round(limits.firstFrameMs / 1000)} s` : undefined;
  }
  return now - lastFrameAt > limits.idleMs ? "the stream ended" : undefined;
}

export interface PlaybackDeps {
  log: Logger;
  /** Runs a call with the session token, renewing it once after Unauthorized. */
  withToken<T>(call: (token: string) => PromiseLike<T>): Promise<T>;
  /** A fresh token for the stream (the controller asked). */
  renewForStream(): Promise<string>;
  /** The adapter hosting StreamerSync, and the broker's topics (undefined: no broker known). */
  syncHost(): Promise<{ adapter: ServerAdapter; topics: Topics | undefined }>;
  /** Where SDP files and player logs go. */
  workDir: string;
  player: PlayerSettings;
  stall: StallLimits;
  /** Something to tell the user in the background (stream ended, refresh failed). */
  notice(line: string): void;
  /** Called once when the playback ends by itself (not by stop()). */
  ended(playback: Playback, reason: string): void;
}

export interface PlaybackStatus {
  id: string;
  name: string;
  player: string;
  frames?: number;
  seconds: number;
  record?: string;
  /** Fresh tokens the stream was given (on its request or by scheduled renewal). */
  tokenRefreshes: number;
  /** The controller's sync topic, once known. */
  syncTopic?: string;
  /** Whether the client hears the sync topic (why not, otherwise). */
  sync: string;
}

let streamsStarted = 0;

export class Playback {
  readonly id: string;
  readonly name: string;
  #controller!: IceFlix.StreamControllerPrx;
  #player!: Player;
  #syncProxy: Ice.ObjectPrx | undefined;
  #subscription: Subscription | undefined;
  #syncState = "not subscribed";
  #syncTopic: string | undefined;
  #refreshes = 0;
  #watch: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;
  #adapter: ServerAdapter | undefined;

  private constructor(
    media: { id: string; name: string },
    private readonly deps: PlaybackDeps,
  ) {
    this.id = media.id;
    this.name = media.name;
  }

  /** Asks the provider for a stream, starts the player, and returns (the stream plays on). */
  static async start(media: { id: string; name: string }, provider: IceFlix.StreamProviderPrx, deps: PlaybackDeps): Promise<Playback> {
    const playback = new Playback(media, deps);
    try {
      await playback.#start(provider);
    } catch (e) {
      await playback.stop();
      throw e;
    }
    return playback;
  }

  async #start(provider: IceFlix.StreamProviderPrx): Promise<void> {
    const port = await pickRtpPort();
    const controller = await this.deps.withToken((token) => provider.getStream(this.id, token));
    if (!controller) throw new ClientError("the provider returned no stream");
    this.#controller = controller;
    // Listen for refresh requests before the stream starts, so none is missed.
    await this.#subscribeSync();
    const sdp = await this.deps.withToken((token) => controller.getSDP(token, port));
    const problem = sdpProblem(sdp);
    if (problem) throw new ClientError(problem);
    const name = `stream-${process.pid}-${++streamsStarted}`;
    const sdpFile = writeSdpFile(this.deps.workDir, name, sdp);
    this.#player = Player.start({
      choice: choosePlayer(this.deps.player, process.env),
      sdpFile,
      title: `IceFlix: ${terminalSafe(this.name)}`,
      record: this.deps.player.record,
      logFile: join(this.deps.workDir, `${name}.log`),
      log: this.deps.log,
    });
    void this.#player.exited.then((exit) => {
      if (this.#stopped) return;
      const why = this.#player.lastError();
      const how = exit.code === 127 ? `${this.#player.kind} is not installed (run scripts/setup.sh)` : why ? `the player stopped: ${why}` : "the player closed";
      this.#end(how);
    });
    if (this.#player.kind === "ffmpeg") {
      this.#watch = setInterval(() => {
        const reason = stallReason(Date.now(), this.#player.startedAt, this.#player.lastFrameAt, this.deps.stall);
        if (reason) this.#end(reason);
      }, 500).unref();
    }
  }

  async #subscribeSync(): Promise<void> {
    try {
      const topicName = await this.#controller.getSyncTopic();
      this.#syncTopic = topicName;
      const host = await this.deps.syncHost();
      if (!host.topics) {
        this.#syncState = "no broker known (set IceStorm.TopicManager.Proxy)";
        return;
      }
      this.#adapter = host.adapter;
      this.#syncProxy = host.adapter.addWithUUID(new StreamerSyncI(() => void this.#onRefreshRequest()));
      this.#subscription = (await host.topics.subscribe(topicName, this.#syncProxy)).keepAlive(10_000);
      this.#syncState = "listening";
    } catch (e) {
      // Playback still works; scheduled renewals keep the stream's token fresh.
      this.#syncState = `not listening (${describeError(e)})`;
      this.deps.log.debug({ error: String(e) }, "cannot subscribe to the sync topic");
    }
  }

  async #onRefreshRequest(): Promise<void> {
    if (this.#stopped) return;
    try {
      const token = await this.deps.renewForStream();
      await this.#controller.refreshAuthentication(token);
      this.#refreshes++;
    } catch (e) {
      if (this.#stopped) return;
      this.deps.notice(`could not renew the stream's authorization: ${describeError(e)}`);
    }
  }

  /** Hands a token renewed on schedule to the controller, so it never has to ask. */
  async refresh(token: string): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#controller.refreshAuthentication(token);
      this.#refreshes++;
    } catch (e) {
      if (this.#stopped) return;
      if (e instanceof Ice.ObjectNotExistException) this.#end("the provider closed the stream");
      else this.deps.log.debug({ error: describeError(e) }, "refreshAuthentication failed");
    }
  }

  #end(reason: string): void {
    if (this.#stopped) return;
    void this.stop();
    this.deps.ended(this, reason);
  }

  get playing(): boolean {
    return !this.#stopped;
  }

  status(): PlaybackStatus {
    return {
      id: this.id,
      name: this.name,
      player: this.#player ? `${this.#player.kind} (${this.#player.why})` : "starting",
      frames: this.#player?.frames,
      seconds: this.#player ? Math.round((Date.now() - this.#player.startedAt) / 1000) : 0,
      record: this.deps.player.record,
      tokenRefreshes: this.#refreshes,
      ...(this.#syncTopic ? { syncTopic: this.#syncTopic } : {}),
      sync: this.#syncState,
    };
  }

  /** Ends the stream (controller.stop()), the player and the subscription. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#watch);
      const controller = this.#controller as IceFlix.StreamControllerPrx | undefined;
      // The player first: while the stream still flows it ends at once, and a recording is complete.
      const started = Date.now();
      await this.#player?.stop().catch(() => undefined);
      const playerMs = Date.now() - started;
      const [stopped, unsubscribed] = await Promise.allSettled([controller?.stop(), this.#subscription?.unsubscribe()]);
      this.deps.log.debug(
        { player: playerMs, controller: stopped.status, unsubscribe: unsubscribed.status, ms: Date.now() - started },
        "playback stopped",
      );
      if (this.#syncProxy) this.#adapter?.remove(this.#syncProxy);
    })();
    return this.#stopped;
  }
}
