/**
 * What a browser can play of a media file as it is (direct play), from its ffprobe answer. Chromium
 * (Debian 12's 156 measured: canPlayType "probably") decodes H.264 and AV1 in MP4, and VP8, VP9
 * and AV1 in WebM; anything else needs a browser copy (browserCopies.ts: H.264 in MP4, made once).
 */
import type { MediaProbe } from "./mediaProbe.js";

export type BrowserFormat = { direct: true; mimeType: string } | { direct: false; why: string };

const MP4_CODECS = new Set(["h264", "av1"]);
const WEBM_CODECS = new Set(["vp8", "vp9", "av1"]);

export function browserFormat(probe: MediaProbe): BrowserFormat {
  const codec = probe.video?.codec;
  if (!codec) return { direct: false, why: probe.problem ?? "no video stream" };
  const containers = probe.container.split(",");
  if (containers.includes("mp4") && MP4_CODECS.has(codec)) return { direct: true, mimeType: "video/mp4" };
  if (containers.includes("webm") && WEBM_CODECS.has(codec)) return { direct: true, mimeType: "video/webm" };
  return { direct: false, why: `${codec} in ${containers[0] || "an unknown container"}` };
}
