/**
 * Progress of hashing a folder (spec §5: hashing a large folder shows progress): a log line with
 * done/total bytes and files at most once per interval, and one summary line at the end when
 * progress was shown (small folders hash in silence).
 */
import type { Logger } from "../../runtime/logger.js";

export class HashProgress {
  #doneBytes = 0;
  #doneFiles = 0;
  #lastLog: number;
  #shown = false;
  readonly #startedAt: number;

  constructor(
    private readonly log: Logger,
    readonly totalBytes: number,
    readonly totalFiles: number,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.#startedAt = now();
    this.#lastLog = this.#startedAt;
  }

  addBytes(n: number): void {
    this.#doneBytes += n;
    this.#maybeLog();
  }

  fileDone(): void {
    this.#doneFiles++;
    this.#maybeLog();
  }

  /** Logs the summary if any progress line was logged. */
  finish(): void {
    if (!this.#shown) return;
    this.log.info(
      { doneBytes: this.#doneBytes, totalBytes: this.totalBytes, files: this.#doneFiles, ms: this.now() - this.#startedAt },
      "media hashing finished",
    );
  }

  #maybeLog(): void {
    const now = this.now();
    if (now - this.#lastLog < this.intervalMs) return;
    this.#lastLog = now;
    this.#shown = true;
    const percent = this.totalBytes > 0 ? Math.floor((100 * this.#doneBytes) / this.totalBytes) : 100;
    this.log.info(
      { doneBytes: this.#doneBytes, totalBytes: this.totalBytes, doneFiles: this.#doneFiles, totalFiles: this.totalFiles, percent },
      `hashing media: ${percent}% (${this.#doneBytes}/${this.totalBytes} bytes)`,
    );
  }
}
