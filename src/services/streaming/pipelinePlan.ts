/**
 * Which pipeline plays a media file as RTP/H.264, payload 96 (spec §6): H.264 in a container we
 * can demux is passed through (demux + parse + payload, ~0.03 CPU-s per 10 s of 720p); any other
 * video is decoded and encoded with x264 (zerolatency: ~0.3 of a core per 720p stream); a file
 * with no video is refused.
 *
 * Every argument is a constant, a number or a checked IP address: the media comes in as
 * SERVED_FD_PATH, so nothing from a file name reaches gst-launch's pipeline syntax.
 */
import { isIP } from "node:net";
import type { MediaProbe } from "./mediaProbe.js";
import { SERVED_FD_PATH } from "./servedFile.js";

export const RTP_PAYLOAD_TYPE = 96;

/** ffprobe's format_name → the GStreamer demuxer for it ("" = raw H.264 elementary stream). */
const DEMUXERS: Readonly<Record<string, string>> = {
  "mov,mp4,m4a,3gp,3g2,mj2": "qtdemux",
  "matroska,webm": "matroskademux",
  mpegts: "tsdemux",
  flv: "flvdemux",
  avi: "avidemux",
  h264: "",
};

export type PipelinePlan = { kind: "passthrough"; demuxer: string } | { kind: "transcode" };

export interface RtpDestination {
  /** Numeric IPv4 or IPv6 address. */
  host: string;
  port: number;
}

/** How to stream what `probe` describes, or why it cannot be streamed. */
export function planFor(probe: MediaProbe): PipelinePlan | { refused: string } {
  if (!probe.video) {
    return { refused: probe.problem ? `it is not a media file (ffprobe: ${probe.problem})` : "it has no video stream" };
  }
  const demuxer = DEMUXERS[probe.container];
  if (probe.video.codec === "h264" && demuxer !== undefined) return { kind: "passthrough", demuxer };
  return { kind: "transcode" };
}

/** The gst-launch arguments (after -e) for `plan`, sending to `to`. */
export function gstLaunchArgs(plan: PipelinePlan, to: RtpDestination): string[] {
  if (isIP(to.host) === 0 || !/^[0-9a-fA-F:.]+$/.test(to.host)) throw new Error(`not a numeric IP address: ${JSON.stringify(to.host)}`);
  if (!Number.isInteger(to.port) || to.port < 1 || to.port > 65_535) throw new Error(`not a port: ${to.port}`);
  const source = ["filesrc", `location=${SERVED_FD_PATH}`];
  const video =
    plan.kind === "passthrough"
      ? [...(plan.demuxer ? ["!", plan.demuxer] : []), "!", "h264parse"]
      : [
          "!", "decodebin",
          "!", "videoconvert",
          // 4:2:0 8-bit: the H.264 every player decodes (x264 would otherwise follow the source, e.g. to 4:4:4).
          "!", "video/x-raw,format=I420",
          "!", "x264enc", "tune=zerolatency", "speed-preset=veryfast", "key-int-max=60",
          "!", "h264parse",
        ];
  // config-interval=1: SPS/PPS before every key frame, so a receiver that starts late can decode.
  // udpsink keeps sync=true (its default): the file is sent in real time, not at disk speed.
  const send = ["!", "rtph264pay", "config-interval=1", `pt=${RTP_PAYLOAD_TYPE}`, "!", "udpsink", `host=${to.host}`, `port=${to.port}`];
  return [...source, ...video, ...send];
}
