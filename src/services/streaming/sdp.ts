/**
 * The SDP getSDP returns (spec §6, RFC 4566): one H.264 video stream, payload 96, sent to the
 * caller's address and port. ffplay and `ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp` play
 * it as-is; packetization-mode=1 is what rtph264pay sends (FU-A, STAP-A). SPS/PPS travel in-band,
 * so sprop-parameter-sets are optional: the in-process passthrough, which reads them from the
 * avcC before it starts, adds them and the profile-level-id (RFC 6184 §8.1).
 */
import { randomInt } from "node:crypto";
import { isIPv6 } from "node:net";
import { RTP_PAYLOAD_TYPE, type RtpDestination } from "./pipelinePlan.js";

export interface SdpOptions {
  destination: RtpDestination;
  /** The provider's address on the caller's connection (the o= line). */
  origin: string;
  /** Session name (ASCII, no line breaks): the media id. */
  name: string;
  /** The stream's parameter sets, when known before it starts. */
  h264?: { profileLevelId: string; sps: readonly Buffer[]; pps: readonly Buffer[] };
}

const addressLine = (address: string) => `IN ${isIPv6(address) ? "IP6" : "IP4"} ${address}`;

export function sessionDescription({ destination, origin, name, h264 }: SdpOptions): string {
  const pt = RTP_PAYLOAD_TYPE;
  const sets = h264 ? [...h264.sps, ...h264.pps].map((b) => b.toString("base64")).join(",") : "";
  const h264Params = h264 ? `;profile-level-id=${h264.profileLevelId}${sets ? `;sprop-parameter-sets=${sets}` : ""}` : "";
  return [
    "v=0",
    `o=- ${randomInt(1, 2 ** 31)} 1 ${addressLine(origin)}`,
    `s=IceFlix ${name.replace(/[^\x20-\x7e]/g, "?")}`,
    `c=${addressLine(destination.host)}`,
    "t=0 0",
    `m=video ${destination.port} RTP/AVP ${pt}`,
    `a=rtpmap:${pt} H264/90000`,
    `a=fmtp:${pt} packetization-mode=1${h264Params}`,
    "",
  ].join("\r\n");
}
