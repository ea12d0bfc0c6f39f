/**
 * The local player of a stream (spec §8): ffplay in a window when there is a display; otherwise
 * ffmpeg receives on its own and reports frames (`-progress pipe:1`), or records the stream
 * (`-c copy`). Players run in their own process group (SupervisedChild), so stopping one, or the
 * client exiting, leaves nothing behind.
 */
import { readFileSync } from "node:fs";
import { SupervisedChild, type ChildExit } from "../runtime/childProcess.js";
import type { Logger } from "../runtime/logger.js";

export type PlayerKind = "ffplay" | "ffmpeg";

export interface PlayerSettings {
  /** Never open a window, even with a display. */
  headless: boolean;
  /** Save the stream to this file (with ffmpeg, no window). */
  record?: string;
}

export interface PlayerChoice {
  kind: PlayerKind;
  /** How it was chosen, for `status`. */
  why: string;
}

/** ffplay with a display (DISPLAY or WAYLAND_DISPLAY) unless headless or recording; else ffmpeg. */
export function choosePlayer(settings: PlayerSettings, env: NodeJS.ProcessEnv): PlayerChoice {
  if (settings.record) return { kind: "ffmpeg", why: `recording to ${settings.record}` };
  if (settings.headless) return { kind: "ffmpeg", why: "headless" };
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return { kind: "ffplay", why: "in a window" };
  return { kind: "ffmpeg", why: "headless (no display)" };
}

const INPUT = ["-protocol_whitelist", "file,udp,rtp"];

/** The player's command line for an SDP file. */
export function playerArgs(kind: PlayerKind, sdpFile: string, options: { title: string; record?: string }): string[] {
  if (kind === "ffplay") {
    return ["-hide_banner", "-loglevel", "error", ...INPUT, "-window_title", options.title, "-fflags", "nobuffer", "-framedrop", "-i", sdpFile];
  }
  const output = options.record ? ["-c", "copy", "-y", options.record] : ["-c", "copy", "-f", "null", "-"];
  return ["-nostdin", "-hide_banner", "-loglevel", "error", ...INPUT, "-i", sdpFile, ...output, "-progress", "pipe:1", "-nostats"];
}

/** The frame count of an ffmpeg `-progress` line (`frame=123`), if it is one. */
export function progressFrames(line: string): number | undefined {
  const m = /^frame=\s*(\d+)\s*$/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** The last line of a player log that is not a `-progress` key=value line. */
export function lastErrorLine(logText: string): string | undefined {
  const lines = logText.split(/\r?\n/).filter((l) => l.trim() && !/^[a-z_0-9]+=/.test(l));
  return lines.at(-1)?.trim();
}

export interface PlayerStart {
  choice: PlayerChoice;
  sdpFile: string;
  title: string;
  record?: string;
  /** The player's stdout and stderr go here. */
  logFile: string;
  log: Logger;
  /** Overrides the executables (tests). */
  command?: string;
}

export class Player {
  readonly kind: PlayerKind;
  readonly why: string;
  readonly startedAt = Date.now();
  #frames = 0;
  #lastFrameAt: number | undefined;
  readonly #child: SupervisedChild;
  readonly #logFile: string;
  readonly #recording: boolean;

  private constructor(options: PlayerStart) {
    this.kind = options.choice.kind;
    this.#recording = options.record !== undefined;
    this.why = options.choice.why;
    this.#logFile = options.logFile;
    this.#child = SupervisedChild.spawn({
      name: this.kind,
      command: options.command ?? this.kind,
      args: playerArgs(this.kind, options.sdpFile, { title: options.title, record: options.record }),
      logFile: options.logFile,
      log: options.log,
      onStdoutLine: (line) => {
        const frames = progressFrames(line);
        if (frames !== undefined && frames > this.#frames) {
          this.#frames = frames;
          this.#lastFrameAt = Date.now();
        }
      },
    });
  }

  static start(options: PlayerStart): Player {
    return new Player(options);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.running;
  }

  /** Frames received so far (ffmpeg only; ffplay does not report them). */
  get frames(): number | undefined {
    return this.kind === "ffmpeg" ? this.#frames : undefined;
  }

  get lastFrameAt(): number | undefined {
    return this.#lastFrameAt;
  }

  get exited(): Promise<ChildExit> {
    return this.#child.exited;
  }

  /** What the player last complained about, if anything. */
  lastError(): string | undefined {
    try {
      return lastErrorLine(readFileSync(this.#logFile, "utf8"));
    } catch {
      return undefined;
    }
  }

  /**
   * Ends the player. ffmpeg finishes its output on the first SIGTERM, but notices it only between
   * packets; a second one interrupts a read that waits for a stream that has stopped (a third
   * would make it quit without writing the recording's trailer). SIGKILL only if it still hangs.
   */
  async stop(): Promise<void> {
    if (!this.#child.running) return;
    this.#child.signal("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const pause = new Promise<void>((resolve) => (timer = setTimeout(resolve, 500)));
    await Promise.race([this.#child.exited, pause]);
    clearTimeout(timer);
    await this.#child.stop(this.#recording ? 5000 : 1000);
  }
}
