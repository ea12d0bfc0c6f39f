/**
 * Decodes an RTP stream described by an SDP file with ffmpeg, as a player would
 * (`ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp -frames:v N -f null -`), bounded in time.
 * Shared by `iceflix verify` and the streaming tests.
 */
import { spawn } from "node:child_process";

export interface DecodeResult {
  /** ffmpeg is not installed. */
  missing: boolean;
  /** Frames decoded (from ffmpeg's -progress lines). */
  frames: number;
  /** Exit code; null when it had to be killed. */
  code: number | null;
  /** It was still running at the time limit and was stopped (SIGINT, then SIGKILL). */
  stoppedAtLimit: boolean;
  ms: number;
  /** ffmpeg's last error line. */
  errorTail: string;
}

/** After the SIGINT at the time limit, how long ffmpeg has to end before it is killed. */
const SOFT_STOP_GRACE_MS = 3000;

export function decodeFrames(sdpFile: string, frames: number, timeoutMs: number): Promise<DecodeResult> {
  const t0 = Date.now();
  const args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdpFile, "-frames:v", String(frames), "-f", "null", "-", "-progress", "pipe:1"];
  return new Promise((resolve) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    let decoded = 0;
    let errors = "";
    let stoppedAtLimit = false;
    child.stdout.on("data", (d: Buffer) => {
      for (const m of d.toString().matchAll(/^frame=(\d+)$/gm)) decoded = Math.max(decoded, Number(m[1]));
    });
    child.stderr.on("data", (d: Buffer) => (errors = (errors + d.toString()).slice(-2000)));
    // SIGINT first: ffmpeg then ends cleanly and prints its last progress block, so the frames
    // decoded up to the limit are all counted.
    const soft = setTimeout(() => {
      stoppedAtLimit = true;
      child.kill("SIGINT");
    }, timeoutMs);
    const hard = setTimeout(() => child.kill("SIGKILL"), timeoutMs + SOFT_STOP_GRACE_MS);
    const settle = (result: Omit<DecodeResult, "ms" | "stoppedAtLimit">) => {
      clearTimeout(soft);
      clearTimeout(hard);
      resolve({ ...result, stoppedAtLimit, ms: Date.now() - t0 });
    };
    child.on("error", (e: NodeJS.ErrnoException) => settle({ missing: e.code === "ENOENT", frames: 0, code: null, errorTail: e.message }));
    child.on("close", (code) => settle({ missing: false, frames: decoded, code, errorTail: errors.trim().split("\n").pop()?.slice(0, 200) ?? "" }));
  });
}
