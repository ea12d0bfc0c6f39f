/**
 * The sample bytes of one in-process stream, read ahead of playback from the stream's own open
 * descriptor (the checked file: a file replaced under its name meanwhile is not what is read) and
 * bounded: at most `aheadMs` of media time past the sample being sent (never more than 2 s), one
 * read at a time. Samples that lie next to each other in the file are fetched in one read; the
 * very first read is the first sample only, so the first frame does not wait for the window.
 */
import type { FileHandle } from "node:fs/promises";
import type { H264SampleTable } from "./mp4SampleTable.js";

/** The bound on buffering per stream. */
export const MAX_READ_AHEAD_MS = 2000;
/** One read never asks for more than this (unless a single sample is larger). */
const MAX_READ_BYTES = 512 * 1024;
/** A sample larger than this is taken for damage, not video. */
const MAX_SAMPLE_BYTES = 32 * 1024 * 1024;

/** The file does not hold the samples its table promises (cut short, or changed). */
export class SampleReadError extends Error {
  override name = "SampleReadError";
}

export class SampleReadAhead {
  readonly #ready = new Map<number, Buffer>();
  /** The next sample to read. */
  #next = 0;
  /** The sample playback is at (nothing before it is kept). */
  #playing = 0;
  #reading = false;
  #closed = false;
  #failure: SampleReadError | undefined;
  readonly #aheadTicks: number;

  constructor(
    private readonly file: FileHandle,
    private readonly table: H264SampleTable,
    aheadMs: number,
    /** Called when a read completes (or fails): what waited for data may go on. */
    private readonly onData: () => void,
  ) {
    this.#aheadTicks = (Math.min(aheadMs, MAX_READ_AHEAD_MS) / 1000) * table.timescale;
  }

  get failure(): SampleReadError | undefined {
    return this.#failure;
  }

  /** Bytes held in memory now. */
  get bufferedBytes(): number {
    let n = 0;
    for (const b of this.#ready.values()) n += b.length;
    return n;
  }

  /** Sample `index`'s bytes if they were read (handed over once), else undefined; keeps reading ahead. */
  take(index: number): Buffer | undefined {
    this.#playing = index;
    const data = this.#ready.get(index);
    if (data) this.#ready.delete(index);
    this.fill();
    return data;
  }

  /** Starts the next read if the read-ahead window has room. */
  fill(): void {
    if (this.#reading || this.#closed || this.#failure || this.#next >= this.table.count) return;
    const { dts, offsets, sizes } = this.table;
    const playingAt = dts[Math.min(this.#playing, this.table.count - 1)]!;
    // Refill once less than half the window is left, then up to the whole window: few, larger reads.
    if (this.#next > this.#playing && dts[this.#next]! > playingAt + this.#aheadTicks / 2) return;
    // The first read takes the first sample alone: the stream starts as soon as it is in.
    const horizon = this.#next === 0 ? playingAt : playingAt + this.#aheadTicks;
    // One read for the run of samples that follow each other in the file, within the window.
    const first = this.#next;
    let last = first;
    let bytes = sizes[first]!;
    while (
      last + 1 < this.table.count &&
      offsets[last + 1] === offsets[last]! + sizes[last]! &&
      dts[last + 1]! <= horizon &&
      bytes + sizes[last + 1]! <= MAX_READ_BYTES
    ) {
      last++;
      bytes += sizes[last]!;
    }
    if (bytes > MAX_SAMPLE_BYTES) {
      this.#fail(`sample ${first} claims ${bytes} bytes`);
      return;
    }
    this.#reading = true;
    void this.#read(first, last, bytes);
  }

  /** No more reads; buffered data is dropped. */
  close(): void {
    this.#closed = true;
    this.#ready.clear();
  }

  async #read(first: number, last: number, bytes: number): Promise<void> {
    const position = this.table.offsets[first]!;
    const buffer = Buffer.allocUnsafe(bytes);
    let got = 0;
    try {
      while (got < bytes) {
        const { bytesRead } = await this.file.read(buffer, got, bytes - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      this.#reading = false;
      if (!this.#closed) this.#fail(`cannot read sample ${first}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }
    this.#reading = false;
    if (this.#closed) return;
    // Whole samples are handed on; a file cut short fails at the first sample it lacks.
    let at = 0;
    let i = first;
    for (; i <= last && at + this.table.sizes[i]! <= got; i++) {
      const size = this.table.sizes[i]!;
      this.#ready.set(i, buffer.subarray(at, at + size));
      at += size;
    }
    if (i === first) {
      this.#fail(`the file ends before sample ${first} of ${this.table.count} (cut short or damaged)`);
      return;
    }
    this.#next = i;
    this.onData();
    this.fill();
  }

  #fail(reason: string): void {
    this.#failure = new SampleReadError(reason);
    this.onData();
  }
}
