/**
 * SHA-256 of a media file, read as a stream (never whole into memory). The file is opened once
 * and checked through its descriptor, so what is hashed is the regular file that was opened,
 * even if the name is swapped meanwhile; a file that vanishes or changes while it is hashed gives
 * no result (the next scan sees it again).
 */
import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** What identifies one version of a file for the hash cache (spec §5: path + size + mtime). */
export interface FileVersion {
  size: number;
  /** mtime in ns since the epoch, as decimal text (JSON has no 64-bit integers). */
  mtimeNs: string;
}

export type HashOutcome =
  | { kind: "hashed"; sha256: string; version: FileVersion }
  | { kind: "vanished" }
  | { kind: "changed" }
  | { kind: "not-regular" }
  | { kind: "unreadable"; reason: string };

const READ_CHUNK = 1024 * 1024;

export interface HashOptions {
  /** Called with the byte count of every chunk read (for progress). */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/**
 * Hashes the file at `path` (a resolved path: its last component must not be a symlink).
 * O_NONBLOCK keeps a FIFO swapped in under the name from blocking the open.
 */
export async function sha256OfFile(path: string, options: HashOptions = {}): Promise<HashOutcome> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if (isGone(e)) return { kind: "vanished" };
    // The name became a symlink after it was resolved: resolve it again at the next scan.
    if ((e as NodeJS.ErrnoException).code === "ELOOP") return { kind: "changed" };
    if (isDenied(e)) return { kind: "unreadable", reason: (e as NodeJS.ErrnoException).code! };
    throw e;
  }
  try {
    const before = await handle.stat({ bigint: true });
    if (!before.isFile()) return { kind: "not-regular" };
    const size = Number(before.size);
    const hash = createHash("sha256");
    let read = 0;
    if (size > 0) {
      // Only the bytes present at the start: a growing file is caught by the check below.
      const stream = createReadStream("", { fd: handle.fd, autoClose: false, start: 0, end: size - 1, highWaterMark: READ_CHUNK, signal: options.signal });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        hash.update(chunk);
        read += chunk.length;
        options.onBytes?.(chunk.length);
      }
    }
    const after = await handle.stat({ bigint: true });
    if (read !== size || after.size !== before.size || after.mtimeNs !== before.mtimeNs) return { kind: "changed" };
    return { kind: "hashed", sha256: hash.digest("hex"), version: { size, mtimeNs: before.mtimeNs.toString() } };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Errors meaning the file is no longer there. */
export function isGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

export function isDenied(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === "EACCES" || code === "EPERM";
}
