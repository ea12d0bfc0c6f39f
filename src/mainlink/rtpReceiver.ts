/**
 * The receiving end of an RTP stream (spec §6): a free even UDP port (RTP on it, RTCP on the next
 * one, as ffmpeg binds them), the SDP the controller returns, written to a file for the player.
 */
import dgram from "node:dgram";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

function bindUdp(port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    socket.once("error", () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind(port, () => resolve(socket));
  });
}

function close(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/**
 * An even port P such that P and P+1 were both free a moment ago. The kernel picks a candidate;
 * an odd one is moved down to the even port below it.
 */
export async function pickRtpPort(attempts = 50): Promise<number> {
  for (let i = 0; i < attempts; i++) {
    const probe = await bindUdp(0);
    if (!probe) continue;
    const picked = probe.address().port;
    await close(probe);
    const rtp = picked % 2 === 0 ? picked : picked - 1;
    if (rtp < 1024 || rtp + 1 > 65_535) continue;
    const a = await bindUdp(rtp);
    const b = a ? await bindUdp(rtp + 1) : undefined;
    if (a) await close(a);
    if (b) await close(b);
    if (a && b) return rtp;
  }
  throw new Error("no free UDP port pair for the stream");
}

/** The port of the SDP's first `m=video` line. */
export function sdpVideoPort(sdp: string): number | undefined {
  const m = /^m=video (\d+) /m.exec(sdp);
  return m ? Number(m[1]) : undefined;
}

/** Why a player could not open `sdp`, or undefined when it can. */
export function sdpProblem(sdp: string): string | undefined {
  if (!sdp.trim()) return "the provider returned an empty SDP";
  if (sdp.length > 64 * 1024) return "the provider returned an SDP larger than 64 KiB";
  if (sdpVideoPort(sdp) === undefined) return "the provider's SDP has no m=video line";
  return undefined;
}

/** Writes the SDP (CRLF line ends, as RFC 4566 asks) to `<dir>/<name>.sdp`; returns the path. */
export function writeSdpFile(dir: string, name: string, sdp: string): string {
  const file = join(dir, `${name}.sdp`);
  const text = sdp.replace(/\r?\n/g, "\r\n").replace(/(\r\n)*$/, "\r\n");
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}
