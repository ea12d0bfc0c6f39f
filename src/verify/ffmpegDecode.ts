/**
 * Decodes an RTP stream described by an SDP file with ffmpeg, as a player would
 * (`ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp -frames:v N -f null -`), bounded in time.
 */
import { spawn } from "node:child_process";

export interface DecodeResult {
  /** ffmpeg is not installed. */
  missing: boolean;
  /** Frames decoded (from ffmpeg's -progress lines). */
  frames: number;
  /** Exit code; null when it was killed at the time limit. */
  code: number | null;
  ms: number;
  /** ffmpeg's last error line. */
  errorTail: string;
}

export function decodeFrames(sdpFile: string, frames: number, timeoutMs: number): Promise<DecodeResult> {
  const t0 = Date.now();
  const args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp", "-i", sdpFile, "-frames:v", String(frames), "-f", "null", "-", "-progress", "pipe:1"];
  return new Promise((resolve) => {
    const child = spawn("ffmpeg", args, { stdio: ["ignore", "pipe", "pipe"] });
    let decoded = 0;
    let errors = "";
    child.stdout.on("data", (d: Buffer) => {
      for (const m of d.toString().matchAll(/^frame=(\d+)$/gm)) decoded = Math.max(decoded, Number(m[1]));
    });
    child.stderr.on("data", (d: Buffer) => (errors = (errors + d.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const errorTail = () => errors.trim().split("\n").pop()?.slice(0, 200) ?? "";
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ missing: e.code === "ENOENT", frames: 0, code: null, ms: Date.now() - t0, errorTail: e.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ missing: false, frames: decoded, code, ms: Date.now() - t0, errorTail: errorTail() });
    });
  });
}
