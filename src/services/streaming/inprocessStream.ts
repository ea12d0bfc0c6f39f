/**
 * One in-process passthrough stream: the H.264 samples of an MP4, read ahead from the stream's
 * descriptor, cut into RTP packets and sent over a UDP socket connected to the client, each
 * access unit at its decode time (as udpsink sync=true does behind qtdemux). Pacing runs on the
 * provider's one PacingScheduler: a frame's send time is computed from the stream's start, so
 * timer lateness does not add up; a stream that falls more than RESYNC_MS behind (a slow disk, a
 * stalled loop) re-bases its clock instead of bursting the backlog.
 *
 * It ends at the media's end (after the last frame's duration, as gst-launch's EOS does), when
 * stop() is called, or "damaged" when the file does not hold what its table says or a sample's
 * NAL units do not add up: never with an exception into the provider. A client port that refuses
 * (ICMP port unreachable) only makes this stream's sends fail; packets are dropped rather than
 * queued without bound when the socket cannot keep up.
 */
import { metrics } from "../../runtime/metrics.js";
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import type { FileHandle } from "node:fs/promises";
import { isIPv6 } from "node:net";
import type { H264SampleTable } from "./mp4SampleTable.js";
import type { PacedTask, PacingScheduler, Scheduled } from "./pacingScheduler.js";
import type { RtpDestination } from "./pipelinePlan.js";
import { H264RtpPacketizer } from "./rtpH264Packetizer.js";
import type { RtpStream, StreamEnd } from "./rtpStream.js";
import { SampleReadAhead } from "./sampleReadAhead.js";

const RTP_CLOCK = 90_000;
/** Behind by more than this, a stream re-bases its clock (catching up would burst). */
export const RESYNC_MS = 1000;
/** Datagrams waiting in the socket's queue beyond this are dropped, not queued. */
const MAX_SEND_QUEUE = 512;
/** Default read-ahead (the bound is MAX_READ_AHEAD_MS): enough to ride out a slow read. */
export const DEFAULT_READ_AHEAD_MS = 300;

export interface InProcessStreamOptions {
  table: H264SampleTable;
  /** The checked descriptor of the media (the caller keeps it open while the stream lives). */
  file: FileHandle;
  destination: RtpDestination;
  scheduler: PacingScheduler;
  payloadType: number;
  readAheadMs?: number;
}

export class InProcessStream implements RtpStream, PacedTask {
  readonly finished: Promise<StreamEnd>;
  /** Datagrams sent, dropped (send queue full) and refused (ICMP: nobody listens on that port). */
  readonly counts = { sent: 0, dropped: 0, sendErrors: 0 };
  #end: ((end: StreamEnd) => void) | undefined;
  #ended = false;
  #next = 0;
  /** performance.now() at which sample 0's decode time falls (set at the first frame). */
  #clock0: number | undefined;
  #scheduled: Scheduled | undefined;
  /** A due frame waits for its bytes: the reader's next delivery reschedules it. */
  #waitingForData = false;
  readonly #reader: SampleReadAhead;
  readonly #packetizer: H264RtpPacketizer;
  readonly #timestampBase = randomInt(0, 2 ** 32 - 1);

  private constructor(
    private readonly options: InProcessStreamOptions,
    private readonly socket: dgram.Socket,
  ) {
    const { table } = options;
    this.finished = new Promise((resolve) => (this.#end = resolve));
    this.#packetizer = new H264RtpPacketizer({
      payloadType: options.payloadType,
      ssrc: randomInt(1, 2 ** 32 - 1),
      sequence: randomInt(0, 0x10000),
      sps: table.sps,
      pps: table.pps,
      nalLengthSize: table.nalLengthSize,
    });
    this.#reader = new SampleReadAhead(options.file, table, options.readAheadMs ?? DEFAULT_READ_AHEAD_MS, () => this.#onData());
    // A connected socket reports a refusing port as send errors on this stream only.
    socket.on("error", () => this.counts.sendErrors++);
  }

  /** Connects the socket and starts reading; the first frame goes as soon as its bytes are in. */
  static async start(options: InProcessStreamOptions): Promise<InProcessStream> {
    const { host, port } = options.destination;
    const socket = dgram.createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, host, () => {
        socket.off("error", reject);
        resolve();
      });
    }).catch((e) => {
      socket.close();
      throw e;
    });
    const stream = new InProcessStream(options, socket);
    stream.#waitingForData = true;
    stream.#reader.fill();
    return stream;
  }

  /** Bytes of samples held now (the read-ahead). */
  get bufferedBytes(): number {
    return this.#reader.bufferedBytes;
  }

  stop(): Promise<StreamEnd> {
    this.#finish({ kind: "stopped" });
    return this.finished;
  }

  /** The scheduler's call: send the due frame, then schedule the next. */
  run(now: number): void {
    this.#scheduled = undefined;
    if (this.#ended) return;
    const { table } = this.options;
    if (this.#next >= table.count) return this.#finish({ kind: "ended" });
    const i = this.#next;
    const sample = this.#reader.take(i);
    if (!sample) {
      const failure = this.#reader.failure;
      if (failure) return this.#finish({ kind: "damaged", reason: failure.message });
      this.#waitingForData = true;
      return;
    }
    let packets;
    try {
      packets = this.#packetizer.packetize(sample, this.#rtpTimestamp(i));
    } catch (e) {
      return this.#finish({ kind: "damaged", reason: `sample ${i}: ${(e as Error).message}` });
    }
    for (const packet of packets) {
      if (this.socket.getSendQueueCount() > MAX_SEND_QUEUE) {
        this.counts.dropped++;
        continue;
      }
      this.socket.send(packet);
      this.counts.sent++;
      metrics.streamSentBytes.inc(packet.length);
    }
    this.#clock0 ??= now - this.#ms(table.dts[0]!, table.dts[i]!);
    this.#next = i + 1;
    // The end comes one frame duration after the last frame, as the pipeline's EOS does.
    const nextTicks = this.#next < table.count ? table.dts[this.#next]! : table.dts[i]! + this.#lastDuration();
    let due = this.#clock0 + this.#ms(table.dts[0]!, nextTicks);
    if (now - due > RESYNC_MS) {
      this.#clock0 += now - due;
      due = now;
    }
    this.#scheduled = this.options.scheduler.schedule(this, due);
  }

  /** A read completed: a frame that was due and waited for its bytes (the first one, say) goes now. */
  #onData(): void {
    if (!this.#waitingForData || this.#ended) return;
    this.#waitingForData = false;
    this.options.scheduler.runNow(this);
  }

  #finish(end: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#scheduled?.cancel();
    this.#reader.close();
    this.socket.close();
    this.#end?.(end);
  }

  #rtpTimestamp(i: number): number {
    const { table } = this.options;
    return this.#timestampBase + Math.round(((table.cts[i]! - table.presentationStart) * RTP_CLOCK) / table.timescale);
  }

  #ms(fromTicks: number, toTicks: number): number {
    return ((toTicks - fromTicks) * 1000) / this.options.table.timescale;
  }

  #lastDuration(): number {
    const { dts, count } = this.options.table;
    return count > 1 ? dts[count - 1]! - dts[count - 2]! : 0;
  }
}
