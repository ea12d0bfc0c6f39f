/**
 * RTP packets of H.264 access units (RFC 6184, packetization-mode=1, what rtph264pay sends):
 * a NAL unit that fits is sent as it is (single NAL unit packet), a larger one is cut into FU-A
 * fragments; SPS and PPS go in-band before the first access unit and before every IDR (a receiver
 * that joins late can decode from the next key frame: rtph264pay's config-interval=1); the marker
 * bit is set on the last packet of each access unit; all packets of one access unit carry its
 * 90 kHz timestamp.
 *
 * The packets of one access unit are written into one buffer (one allocation per frame, each
 * packet a slice of it): sending a single buffer per datagram is cheaper for dgram than a list.
 */

/** Largest RTP packet (header included): rtph264pay's default MTU, under any Ethernet path's 1500. */
export const RTP_MAX_PACKET = 1400;
const RTP_HEADER = 12;
const NAL_IDR = 5;
const NAL_SPS = 7;
const NAL_PPS = 8;
const FU_A = 28;

/** A sample's NAL units do not add up (damaged data): the stream cannot go on. */
export class CorruptSampleError extends Error {
  override name = "CorruptSampleError";
}

export type RtpPacket = Buffer;

export interface PacketizerOptions {
  payloadType: number;
  ssrc: number;
  /** First sequence number (random per stream, RFC 3550). */
  sequence: number;
  sps: readonly Buffer[];
  pps: readonly Buffer[];
  /** Bytes of each NAL length prefix in a sample (avcC lengthSizeMinusOne + 1). */
  nalLengthSize: number;
  maxPacket?: number;
}

/** The NAL units of an AVC (length-prefixed) sample, as slices of it. */
export function nalUnits(sample: Buffer, lengthSize: number): Buffer[] {
  const units: Buffer[] = [];
  let pos = 0;
  while (pos < sample.length) {
    if (pos + lengthSize > sample.length) throw new CorruptSampleError(`a NAL length prefix is cut short at byte ${pos} of ${sample.length}`);
    const length = lengthSize === 4 ? sample.readUInt32BE(pos) : lengthSize === 2 ? sample.readUInt16BE(pos) : sample[pos]!;
    pos += lengthSize;
    if (length > sample.length - pos) throw new CorruptSampleError(`a NAL unit of ${length} bytes in the last ${sample.length - pos} bytes of a sample`);
    if (length > 0) units.push(sample.subarray(pos, pos + length)); // zero-length units carry nothing
    pos += length;
  }
  return units;
}

export class H264RtpPacketizer {
  readonly #maxPayload: number;
  #sequence: number;
  #configSent = false;

  constructor(private readonly options: PacketizerOptions) {
    this.#maxPayload = (options.maxPacket ?? RTP_MAX_PACKET) - RTP_HEADER;
    this.#sequence = options.sequence & 0xffff;
  }

  /** The packets of one sample (an access unit), stamped with `timestamp` (90 kHz, wraps at 2^32). */
  packetize(sample: Buffer, timestamp: number): RtpPacket[] {
    const units = nalUnits(sample, this.options.nalLengthSize);
    if (units.length === 0) return [];
    const hasIdr = units.some((u) => (u[0]! & 0x1f) === NAL_IDR);
    const hasSps = units.some((u) => (u[0]! & 0x1f) === NAL_SPS);
    if ((hasIdr || !this.#configSent) && !hasSps) units.unshift(...this.options.sps, ...this.options.pps);
    this.#configSent = true;

    // Layout first (sizes), then one buffer for the whole access unit.
    const max = this.#maxPayload;
    const room = max - 2; // an FU-A fragment's payload after its indicator and header
    let total = 0;
    for (const unit of units) {
      total += unit.length <= max ? RTP_HEADER + unit.length : Math.ceil((unit.length - 1) / room) * (RTP_HEADER + 2) + unit.length - 1;
    }
    const block = Buffer.allocUnsafe(total);
    const packets: RtpPacket[] = [];
    let at = 0;
    units.forEach((unit, u) => {
      const lastUnit = u === units.length - 1;
      if (unit.length <= max) {
        this.#header(block, at, timestamp, lastUnit);
        unit.copy(block, at + RTP_HEADER);
        packets.push(block.subarray(at, (at += RTP_HEADER + unit.length)));
        return;
      }
      // FU-A: indicator (F, NRI, type 28) and header (S, E, the unit's type), then its payload cut to fit.
      const indicator = (unit[0]! & 0xe0) | FU_A;
      const type = unit[0]! & 0x1f;
      for (let pos = 1; pos < unit.length; pos += room) {
        const end = Math.min(pos + room, unit.length);
        const last = end === unit.length;
        this.#header(block, at, timestamp, lastUnit && last);
        block[at + RTP_HEADER] = indicator;
        block[at + RTP_HEADER + 1] = (pos === 1 ? 0x80 : 0) | (last ? 0x40 : 0) | type;
        unit.copy(block, at + RTP_HEADER + 2, pos, end);
        packets.push(block.subarray(at, (at += RTP_HEADER + 2 + end - pos)));
      }
    });
    return packets;
  }

  /** An RTP header (RFC 3550: V=2, no padding/extension/CSRC) written at `at`. */
  #header(h: Buffer, at: number, timestamp: number, marker: boolean): void {
    h[at] = 0x80;
    h[at + 1] = (marker ? 0x80 : 0) | (this.options.payloadType & 0x7f);
    h.writeUInt16BE(this.#sequence, at + 2);
    h.writeUInt32BE(timestamp >>> 0, at + 4);
    h.writeUInt32BE(this.options.ssrc >>> 0, at + 8);
    this.#sequence = (this.#sequence + 1) & 0xffff;
  }
}
