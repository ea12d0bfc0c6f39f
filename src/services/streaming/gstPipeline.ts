/**
 * One `gst-launch-1.0 -e` process (spec §6): started from an argument array (never a shell),
 * ready when it reports PLAYING, stopped with SIGINT (EOS) and SIGKILL after a grace. It only
 * reports how it ended; what to do about it is the StreamController's business.
 *
 * No gst-launch may outlive the service:
 * - stop() and the SupervisedChild exit handler cover clean shutdowns and crashes that run
 *   'exit' handlers (each pipeline leads its own process group);
 * - `kill -9` of the service runs no handler at all, so every pipeline is started through
 *   `setpriv --pdeathsig KILL` (util-linux): the kernel kills it when the service dies. (The
 *   "parent" is the forking thread: Node spawns from its main thread, which lives as long as the
 *   process. A service killed in the microseconds between fork and setpriv's prctl would miss.)
 *   This costs no extra process per stream (a Node watchdog per pipeline would add ~43 MB and a
 *   Node start of ~0.2 s to each).
 *
 * The media file is handed over as an open descriptor (fd 3, SERVED_FD_PATH in the pipeline):
 * the file checked by the caller is the one played, and no file name (user data) is ever parsed
 * by gst-launch's pipeline syntax.
 */
import type { Logger } from "../../runtime/logger.js";
import { SupervisedChild } from "../../runtime/childProcess.js";

export const GST_LAUNCH = "gst-launch-1.0";
export const SETPRIV = "setpriv";

/** gst-launch prints this on stdout when packets start to flow. */
const PLAYING_LINE = "Setting pipeline to PLAYING";
const STDERR_TAIL = 20;

export type PipelineEnd =
  /** The media played to its end (EOS, exit 0). */
  | { kind: "ended" }
  /** stop() ended it. */
  | { kind: "stopped" }
  /** It failed, or was killed by someone else. */
  | { kind: "died"; code: number | null; signal: NodeJS.Signals | null; stderrTail: string[] };

export interface GstPipelineOptions {
  /** Pipeline description as gst-launch arguments (after `-e`). */
  args: readonly string[];
  /** Open descriptor of the media, read through SERVED_FD_PATH. The caller may close it once start() returns. */
  mediaFd: number;
  /** For logs. */
  name: string;
  log: Logger;
  /** Longest wait for PLAYING (a transcode prerolls by encoding a first frame). @default 15000 */
  readyTimeoutMs?: number;
}

/** The pipeline did not reach PLAYING; `detail` is what gst-launch said (its stderr tail). */
export class PipelineStartError extends Error {
  override name = "PipelineStartError";
  constructor(
    message: string,
    readonly detail: string[],
  ) {
    super(message);
  }
}

export class GstPipeline {
  /** Settles once the process is gone (never rejects). */
  readonly finished: Promise<PipelineEnd>;
  readonly #child: SupervisedChild;
  #stopRequested = false;

  private constructor(child: SupervisedChild, finished: Promise<PipelineEnd>) {
    this.#child = child;
    this.finished = finished;
  }

  /** Spawns the pipeline; resolves when it is PLAYING, rejects with PipelineStartError otherwise. */
  static async start(options: GstPipelineOptions): Promise<GstPipeline> {
    const stderrTail: string[] = [];
    let onPlaying: () => void = () => {};
    const playing = new Promise<void>((resolve) => (onPlaying = resolve));
    const child = SupervisedChild.spawn({
      name: options.name,
      command: SETPRIV,
      args: ["--pdeathsig", "KILL", "--", GST_LAUNCH, "-e", ...options.args],
      extraFds: [options.mediaFd],
      log: options.log,
      onStdoutLine: (line) => {
        if (line.startsWith(PLAYING_LINE)) onPlaying();
      },
      onStderrLine: (line) => {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
      },
    });
    // stderr is read to its end before the outcome is judged (the last lines say why).
    const stdioClosed = new Promise<void>((resolve) => child.process.once("close", () => resolve()));
    let pipeline: GstPipeline | undefined;
    const finished = child.exited.then(async (exit): Promise<PipelineEnd> => {
      await Promise.race([stdioClosed, new Promise((r) => setTimeout(r, 500).unref())]);
      if (pipeline !== undefined && pipeline.#stopRequested) return { kind: "stopped" };
      if (exit.code === 0) return { kind: "ended" };
      return { kind: "died", code: exit.code, signal: exit.signal, stderrTail: [...stderrTail] };
    });
    pipeline = new GstPipeline(child, finished);

    const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      playing.then(() => "playing" as const),
      finished.then((end) => end),
      new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), readyTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === "playing") return pipeline;
    if (outcome === "timeout") {
      await pipeline.stop(0);
      throw new PipelineStartError(`the pipeline was not playing after ${readyTimeoutMs} ms`, [...stderrTail]);
    }
    const why =
      outcome.kind === "died" && (outcome.code === 126 || outcome.code === 127)
        ? `cannot run ${SETPRIV} ${GST_LAUNCH} (install util-linux and gstreamer1.0-tools: scripts/setup.sh)`
        : outcome.kind === "ended"
          ? "the pipeline ended before it played"
          : "the pipeline failed to start";
    throw new PipelineStartError(why, outcome.kind === "died" ? outcome.stderrTail : []);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * SIGINT (gst-launch -e sends EOS and exits), SIGKILL to its group after graceMs. Idempotent;
   * resolves when the process is gone.
   */
  async stop(graceMs = 2000): Promise<PipelineEnd> {
    if (this.#child.running) this.#stopRequested = true;
    await this.#child.stop(graceMs, "SIGINT");
    return this.finished;
  }
}
