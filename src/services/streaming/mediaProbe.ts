/**
 * What a media file contains (container, first video stream's codec), asked of ffprobe once per
 * media id and cached: the id is the SHA-256 of the content, so the answer never goes stale.
 * ffprobe reads the caller's open descriptor (as fd 3, SERVED_FD_PATH), like the pipeline.
 */
import { spawn } from "node:child_process";
import { SERVED_FD_PATH } from "./servedFile.js";

export const FFPROBE = "ffprobe";

export interface MediaProbe {
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"; "" when ffprobe could not read it. */
  container: string;
  /**
   * Playing time in seconds: the video stream's, else the container's, when they say (a stream
   * that ends well before it ended early).
   */
  durationS?: number;
  /** The first video stream, if any (cover art is not video). */
  video?: { codec: string; width?: number; height?: number };
  /** Why ffprobe could not read the file, if it could not. */
  problem?: string;
}

interface FfprobeJson {
  format?: { format_name?: string; duration?: string };
  streams?: Array<{ codec_type?: string; codec_name?: string; duration?: string; width?: number; height?: number; disposition?: { attached_pic?: number } }>;
}

const PROBE_TIMEOUT_MS = 10_000;
const MAX_OUTPUT = 1024 * 1024;

/** Runs ffprobe on the open descriptor `fd`. Rejects only when ffprobe cannot be run or hangs. */
export function probeMedia(fd: number): Promise<MediaProbe> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      FFPROBE,
      ["-v", "error", "-show_entries", "format=format_name,duration:stream=codec_type,codec_name,width,height,duration:stream_disposition=attached_pic", "-of", "json", SERVED_FD_PATH],
      { stdio: ["ignore", "pipe", "pipe", fd], timeout: PROBE_TIMEOUT_MS, killSignal: "SIGKILL" }, // 3: the media
    );
    let out = "";
    let err = "";
    child.stdout!.on("data", (b: Buffer) => (out = (out + b.toString("utf8")).slice(0, MAX_OUTPUT)));
    child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString("utf8")).slice(-4096)));
    child.once("error", (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === "ENOENT" ? `${FFPROBE} is not installed (install ffmpeg: scripts/setup.sh)` : `cannot run ${FFPROBE}: ${e.message}`)),
    );
    child.once("close", (code, signal) => {
      if (signal) return reject(new Error(`${FFPROBE} did not finish (${signal})`));
      if (code !== 0) return resolve({ container: "", problem: lastLine(err) || `${FFPROBE} exited with ${code}` });
      try {
        resolve(fromJson(JSON.parse(out) as FfprobeJson));
      } catch {
        reject(new Error(`${FFPROBE} printed no JSON`));
      }
    });
  });
}

function fromJson(json: FfprobeJson): MediaProbe {
  const video = json.streams?.find((s) => s.codec_type === "video" && !s.disposition?.attached_pic);
  const duration = seconds(video?.duration) ?? seconds(json.format?.duration);
  return {
    container: json.format?.format_name ?? "",
    ...(duration !== undefined ? { durationS: duration } : {}),
    video: video ? { codec: video.codec_name ?? "unknown", width: video.width, height: video.height } : undefined,
  };
}

/** ffprobe's "12.345000" as a positive number; "N/A" and the like as undefined. */
function seconds(text: string | undefined): number | undefined {
  const n = Number(text);
  return text !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.replace(`${SERVED_FD_PATH}: `, "") ?? "";
}

/** Probes by media id, once: concurrent asks share one ffprobe run; failures to run are not kept. */
export class MediaProbes {
  readonly #cache = new Map<string, Promise<MediaProbe>>();

  constructor(
    private readonly probe: (fd: number) => Promise<MediaProbe> = probeMedia,
    /** Most ids remembered; the oldest are forgotten first. */
    private readonly maxEntries = 10_000,
  ) {}

  get(id: string, fd: number): Promise<MediaProbe> {
    let result = this.#cache.get(id);
    if (!result) {
      result = this.probe(fd);
      this.#cache.set(id, result);
      result.catch(() => this.#cache.delete(id));
      if (this.#cache.size > this.maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return result;
  }
}
