/**
 * The receiving end of IceFlix streams, for tests and benches: a UDP socket that counts RTP
 * packets, ffmpeg decoding an SDP (frames counted from its progress output), and the gst-launch
 * processes running on this machine (from /proc).
 */
import dgram from "node:dgram";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeFrames as decodeSdpFile, type DecodeResult } from "../../src/verify/ffmpegDecode.js";

/** Counts the datagrams arriving on a port of 127.0.0.1. */
export class UdpCounter {
  packets = 0;
  bytes = 0;
  firstAt: number | undefined;
  /** performance.now() at the first packet (sub-millisecond, for benches). */
  firstAtPerf: number | undefined;
  lastAt: number | undefined;
  #firstWaiters: Array<() => void> = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on("message", (msg) => {
      const now = Date.now();
      this.packets++;
      this.bytes += msg.length;
      this.lastAt = now;
      if (this.firstAt === undefined) {
        this.firstAt = now;
        this.firstAtPerf = performance.now();
        for (const w of this.#firstWaiters) w();
        this.#firstWaiters = [];
      }
    });
  }

  static open(port = 0, host = "127.0.0.1"): Promise<UdpCounter> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket("udp4");
      socket.once("error", reject);
      socket.bind(port, host, () => {
        socket.off("error", reject);
        resolve(new UdpCounter(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Resolves with the arrival time of the first packet, or undefined after timeoutMs. */
  firstPacket(timeoutMs: number): Promise<number | undefined> {
    if (this.firstAt !== undefined) return Promise.resolve(this.firstAt);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      this.#firstWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.firstAt);
      });
    });
  }

  /** Whether a packet arrived in the last `ms`. */
  activeWithin(ms: number, now = Date.now()): boolean {
    return this.lastAt !== undefined && now - this.lastAt <= ms;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A UDP port P with P and P+1 free a moment ago (ffmpeg binds RTP on P and RTCP on P+1). */
export async function freeRtpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await UdpCounter.open(0);
    const port = probe.port - (probe.port % 2);
    await probe.close();
    if (port < 1024 || port >= 65_535) continue;
    try {
      const a = await UdpCounter.open(port);
      const b = await UdpCounter.open(port + 1).catch(async (e) => {
        await a.close();
        throw e;
      });
      await Promise.all([a.close(), b.close()]);
      return port;
    } catch {
      // taken meanwhile: pick another
    }
  }
  throw new Error("no free UDP port pair");
}

/**
 * Plays `sdp` as the spec's receiver does, with verify's decoder (written to `sdpFile` first):
 * until `frames` frames were decoded or `timeoutMs` passed, counted from ffmpeg's own progress.
 */
export function decodeFrames(sdp: string, sdpFile: string, options: { frames: number; timeoutMs: number }): Promise<DecodeResult> {
  writeFileSync(sdpFile, sdp);
  return decodeSdpFile(sdpFile, options.frames, options.timeoutMs);
}

export interface GstProcess {
  pid: number;
  args: string[];
  /** Where its open descriptors lead. */
  files: string[];
}

/** The live (non-zombie) gst-launch-1.0 processes of this machine. */
export function gstLaunchProcesses(): GstProcess[] {
  const out: GstProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (!args[0]?.endsWith("gst-launch-1.0")) continue; // a zombie's cmdline is empty
      const fdDir = `/proc/${entry}/fd`;
      const files = readdirSync(fdDir).flatMap((fd) => {
        try {
          return [readlinkSync(join(fdDir, fd))];
        } catch {
          return [];
        }
      });
      out.push({ pid: Number(entry), args, files });
    } catch {
      // it ended while we looked
    }
  }
  return out;
}

/** gst-launch processes reading a file under `dir`, or sending to `port`. */
export function gstLaunchFor(match: { dir?: string; port?: number }): GstProcess[] {
  return gstLaunchProcesses().filter(
    (p) => (match.dir !== undefined && p.files.some((f) => f.startsWith(match.dir + "/"))) || (match.port !== undefined && p.args.includes(`port=${match.port}`)),
  );
}
