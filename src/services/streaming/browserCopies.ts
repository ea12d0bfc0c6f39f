/**
 * Browser copies of media a browser cannot decode (e.g. MPEG-4 Part 2 in AVI): H.264 + AAC in MP4
 * (faststart, so playback and seeking start before the end is fetched), made once per media id by
 * ffmpeg from the served descriptor and kept in `<data>/browser-copies/<id>.mp4` (the id is the
 * content's hash: a copy never goes stale). Written under a temporary name and renamed, so a copy
 * cut short is never served. Progress is logged (every 10 %); one ffmpeg per id however many ask,
 * at most `maxParallel` at once (the others wait their turn).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { FileHandle } from "node:fs/promises";
import type { Logger } from "../../runtime/logger.js";
import { SERVED_FD_PATH } from "./servedFile.js";

export type CopyState = { ready: true; path: string; size: number } | { ready: false; percent: number; failed?: string };

interface Job {
  percent: number;
  failed?: string;
  done: Promise<void>;
}

export class BrowserCopies {
  readonly #dir: string;
  readonly #jobs = new Map<string, Job>();
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(
    dataDir: string,
    private readonly log: Logger,
    private readonly maxParallel = 1,
  ) {
    this.#dir = join(dataDir, "browser-copies");
  }

  pathOf(id: string): string {
    return join(this.#dir, `${id}.mp4`);
  }

  /**
   * The copy of `id` if made; else starts making it (from `open()`, a checked descriptor of the
   * original, closed when done) and says how far it is. A failed copy is tried again on the next ask.
   */
  state(id: string, durationS: number | undefined, open: () => Promise<FileHandle>): CopyState {
    const path = this.pathOf(id);
    if (existsSync(path)) return { ready: true, path, size: statSync(path).size };
    const job = this.#jobs.get(id);
    if (job && !job.failed) return { ready: false, percent: job.percent };
    if (job?.failed) this.#jobs.delete(id);
    const fresh: Job = { percent: 0, done: Promise.resolve() };
    fresh.done = this.#turn(() => this.#make(id, durationS, open, fresh)).catch((e: Error) => {
      fresh.failed = e.message;
      this.log.warn({ mediaId: id, error: e.message }, "browser copy failed");
    });
    this.#jobs.set(id, fresh);
    return { ready: false, percent: 0, ...(job?.failed ? { failed: job.failed } : {}) };
  }

  /** Resolves when the copy of `id` now being made is done (or failed); for tests. */
  async settled(id: string): Promise<void> {
    await this.#jobs.get(id)?.done;
  }

  async #turn(work: () => Promise<void>): Promise<void> {
    if (this.#running >= this.maxParallel) await new Promise<void>((r) => this.#queue.push(r));
    this.#running++;
    try {
      await work();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }

  async #make(id: string, durationS: number | undefined, open: () => Promise<FileHandle>, job: Job): Promise<void> {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.#dir, `.partial-${process.pid}-${id}.mp4`);
    const handle = await open();
    const started = Date.now();
    this.log.info({ mediaId: id }, "making a browser copy (H.264 MP4)");
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(
          "ffmpeg",
          ["-nostdin", "-v", "error", "-y", "-i", SERVED_FD_PATH, "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", "-progress", "pipe:1", "-nostats", "-f", "mp4", tmp],
          { stdio: ["ignore", "pipe", "pipe", handle.fd] },
        );
        let err = "";
        let logged = 0;
        let pending = "";
        child.stdout!.on("data", (b: Buffer) => {
          pending += b.toString("utf8");
          const lines = pending.split("\n");
          pending = lines.pop() ?? "";
          for (const line of lines) {
            const m = /^out_time_us=(\d+)/.exec(line);
            if (!m || !durationS) continue;
            job.percent = Math.min(99, Math.floor(Number(m[1]) / 1e4 / durationS));
            if (job.percent >= logged + 10) {
              logged = job.percent - (job.percent % 10);
              this.log.info({ mediaId: id, percent: job.percent }, "browser copy progress");
            }
          }
        });
        child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString("utf8")).slice(-2000)));
        child.once("error", (e) => reject(new Error(`cannot run ffmpeg: ${e.message}`)));
        child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}: ${err.trim().split("\n").pop() ?? ""}`))));
      });
      renameSync(tmp, this.pathOf(id));
      job.percent = 100;
      this.log.info({ mediaId: id, ms: Date.now() - started }, "browser copy ready");
    } finally {
      rmSync(tmp, { force: true });
      await handle.close();
    }
  }
}
