/**
 * The H.264 sample table of an MP4/MOV file, for the in-process passthrough: where each video
 * sample lies in the file, its decode and composition times, whether it is a sync sample, and the
 * avcC (SPS/PPS, NAL length size). mp4box.js (GPAC's demuxer) parses the boxes; we only hand it the
 * `ftyp` and `moov` boxes (found by walking the top-level box headers), so a large `mdat` is never
 * read here. The sample bytes are read later, per stream, from that stream's own descriptor.
 *
 * Tables are kept per media id (the id is the SHA-256 of the content, so a table never goes
 * stale) in compact typed arrays, shared by every stream of that media.
 */
import type { FileHandle } from "node:fs/promises";
import { createFile, Log, MP4BoxBuffer, type Movie } from "mp4box";

export interface H264SampleTable {
  /** Ticks per second of the sample times. */
  timescale: number;
  count: number;
  /** Byte offset in the file of each sample. */
  offsets: Float64Array;
  sizes: Uint32Array;
  /** Decode times (ticks): the order and pace samples are sent in. */
  dts: Float64Array;
  /** Composition times (ticks): the RTP timestamps (B-frames come before the frames they precede). */
  cts: Float64Array;
  /** 1 for a sync sample (IDR). */
  sync: Uint8Array;
  /** Bytes of each NAL unit's length prefix in a sample (1, 2 or 4). */
  nalLengthSize: number;
  sps: Buffer[];
  pps: Buffer[];
  /** profile_idc, constraint flags, level_idc as 6 hex digits (the SDP's profile-level-id). */
  profileLevelId: string;
  /** The composition time presented first (the edit list's media_time, else the smallest cts). */
  presentationStart: number;
  width: number;
  height: number;
}

/** The file cannot be passed through in-process (not an H.264 MP4 we can read, or damaged). */
export class Mp4DemuxError extends Error {
  override name = "Mp4DemuxError";
}

/** A moov larger than this is refused (a 3 h film at 60 fps has a moov of ~10 MiB). */
const MAX_MOOV_BYTES = 64 * 1024 * 1024;
const MAX_TOP_LEVEL_BOXES = 10_000;

Log.setLogLevel(Log.error); // mp4box.js logs through console otherwise

interface BoxAt {
  type: string;
  offset: number;
  size: number;
}

/** Walks the top-level boxes (header reads only); the ftyp and moov, and whether it is fragmented. */
async function topLevelBoxes(file: FileHandle, fileSize: number): Promise<{ ftyp?: BoxAt; moov?: BoxAt; fragmented: boolean }> {
  const header = Buffer.alloc(16);
  let ftyp: BoxAt | undefined;
  let moov: BoxAt | undefined;
  let fragmented = false;
  let pos = 0;
  for (let n = 0; pos + 8 <= fileSize && n < MAX_TOP_LEVEL_BOXES; n++) {
    const { bytesRead } = await file.read(header, 0, 16, pos);
    if (bytesRead < 8) break;
    let size = header.readUInt32BE(0);
    const type = header.toString("latin1", 4, 8);
    if (size === 1) {
      if (bytesRead < 16) break;
      size = Number(header.readBigUInt64BE(8));
    } else if (size === 0) {
      size = fileSize - pos; // to the end of the file
    }
    if (size < 8) throw new Mp4DemuxError(`a damaged box header at byte ${pos}`);
    if (type === "ftyp") ftyp = { type, offset: pos, size };
    if (type === "moov") moov = { type, offset: pos, size };
    if (type === "moof") fragmented = true;
    pos += size;
  }
  return { ftyp, moov, fragmented };
}

async function readBox(file: FileHandle, box: BoxAt): Promise<Buffer> {
  const data = Buffer.alloc(box.size);
  const { bytesRead } = await file.read(data, 0, box.size, box.offset);
  if (bytesRead < box.size) throw new Mp4DemuxError(`the ${box.type} box is cut short (${bytesRead} of ${box.size} bytes)`);
  return data;
}

/** Reads the sample table of the first H.264 video track of the file open as `file`. */
export async function readH264SampleTable(file: FileHandle, fileSize: number): Promise<H264SampleTable> {
  const { ftyp, moov, fragmented } = await topLevelBoxes(file, fileSize);
  if (fragmented) throw new Mp4DemuxError("a fragmented MP4 (moof boxes)");
  if (!moov) throw new Mp4DemuxError("no moov box (not an MP4, or cut short)");
  if (moov.offset + moov.size > fileSize) throw new Mp4DemuxError("the moov box is cut short");
  if (moov.size > MAX_MOOV_BYTES) throw new Mp4DemuxError(`a moov box of ${moov.size} bytes`);
  const boxes = Buffer.concat([...(ftyp ? [await readBox(file, ftyp)] : []), await readBox(file, moov)]);

  const mp4 = createFile();
  let movie: Movie | undefined;
  let problem: string | undefined;
  mp4.onReady = (info) => (movie = info);
  mp4.onError = (_module, message) => (problem ??= message);
  try {
    const ab = boxes.buffer.slice(boxes.byteOffset, boxes.byteOffset + boxes.length);
    mp4.appendBuffer(MP4BoxBuffer.fromArrayBuffer(ab, 0), true);
    mp4.flush();
  } catch (e) {
    throw new Mp4DemuxError(`mp4box cannot parse the moov: ${(e as Error).message}`);
  }
  if (!movie) throw new Mp4DemuxError(`mp4box cannot parse the moov${problem ? `: ${problem}` : ""}`);

  const track = movie.videoTracks.find((t) => t.codec.startsWith("avc1") || t.codec.startsWith("avc3"));
  if (!track) throw new Mp4DemuxError("no H.264 video track");
  const trak = mp4.getTrackById(track.id);
  const entry = trak.mdia.minf.stbl.stsd.entries[0] as unknown as { avcC?: AvcC; width?: number; height?: number };
  const avcC = entry.avcC;
  if (!avcC) throw new Mp4DemuxError("no avcC box in the H.264 sample entry");
  const samples = trak.samples;
  if (samples.length === 0) throw new Mp4DemuxError("the video track has no samples");
  if (samples.some((s) => s.description_index !== 0)) throw new Mp4DemuxError("more than one sample description");
  const nalLengthSize = avcC.lengthSizeMinusOne + 1;
  if (nalLengthSize === 3) throw new Mp4DemuxError("3-byte NAL lengths");

  const n = samples.length;
  const table: H264SampleTable = {
    timescale: samples[0]!.timescale,
    count: n,
    offsets: new Float64Array(n),
    sizes: new Uint32Array(n),
    dts: new Float64Array(n),
    cts: new Float64Array(n),
    sync: new Uint8Array(n),
    nalLengthSize,
    sps: avcC.SPS.map((p) => Buffer.from(p.data)),
    pps: avcC.PPS.map((p) => Buffer.from(p.data)),
    profileLevelId: [avcC.AVCProfileIndication, avcC.profile_compatibility, avcC.AVCLevelIndication].map((b) => b.toString(16).padStart(2, "0")).join(""),
    presentationStart: 0,
    width: entry.width ?? track.video?.width ?? 0,
    height: entry.height ?? track.video?.height ?? 0,
  };
  let minCts = Infinity;
  samples.forEach((s, i) => {
    table.offsets[i] = s.offset;
    table.sizes[i] = s.size;
    table.dts[i] = s.dts;
    table.cts[i] = s.cts;
    table.sync[i] = s.is_sync ? 1 : 0;
    minCts = Math.min(minCts, s.cts);
  });
  // qtdemux presents from the edit list's first real edit; ffmpeg writes media_time = the B-frame delay.
  const edit = track.edits?.find((e) => e.media_time >= 0);
  table.presentationStart = edit ? edit.media_time : minCts;
  return table;
}

interface AvcC {
  AVCProfileIndication: number;
  profile_compatibility: number;
  AVCLevelIndication: number;
  lengthSizeMinusOne: number;
  SPS: Array<{ data: Uint8Array }>;
  PPS: Array<{ data: Uint8Array }>;
}

/** Sample tables by media id: read once, concurrent asks share one read; failures are not kept. */
export class H264SampleTables {
  readonly #cache = new Map<string, Promise<H264SampleTable>>();

  constructor(
    private readonly read: (file: FileHandle, size: number) => Promise<H264SampleTable> = readH264SampleTable,
    /** Most tables remembered; the oldest are forgotten first. */
    private readonly maxEntries = 256,
  ) {}

  get(id: string, file: FileHandle, size: number): Promise<H264SampleTable> {
    let table = this.#cache.get(id);
    if (!table) {
      table = this.read(file, size);
      this.#cache.set(id, table);
      table.catch(() => this.#cache.delete(id));
      if (this.#cache.size > this.maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    }
    return table;
  }
}
