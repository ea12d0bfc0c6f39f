/**
 * Opens a media file for streaming, checked just before use (spec §5: files outside the folder
 * are never served): the descriptor must lead to a regular file inside the media folder (checked
 * on the opened descriptor itself, so a path swapped in meanwhile cannot redirect it) with the
 * size and mtime that were hashed. The descriptor is what the pipeline then reads. Error messages
 * carry no path: they may reach the caller.
 */
import { constants } from "node:fs";
import { open, readlink, realpath, type FileHandle } from "node:fs/promises";
import { isInside } from "./folderScan.js";
import type { MediaFile } from "./mediaLibrary.js";

/**
 * Where a child process finds the served descriptor when it is given as its fd 3 (the first of
 * SupervisedChild's extraFds): a fixed name instead of the file's own.
 */
export const SERVED_FD_PATH = "/proc/self/fd/3";

/** The file is no longer the media that was announced under its id. */
export class MediaUnavailableError extends Error {
  override name = "MediaUnavailableError";
}

export async function openServedFile(media: MediaFile, mediaDir: string): Promise<FileHandle> {
  // The folder's real path is looked up beside the open (they are independent): a stream starts
  // in a few ms, and each file-system call is a thread-pool round trip.
  const rootLookup = realpath(mediaDir);
  rootLookup.catch(() => undefined); // awaited below unless the open fails
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in under the name must not block the open.
    handle = await open(media.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    throw new MediaUnavailableError(`the file cannot be opened (${(e as NodeJS.ErrnoException).code ?? "error"})`, { cause: e });
  }
  try {
    const [root, opened, st] = await Promise.all([rootLookup, readlink(`/proc/self/fd/${handle.fd}`), handle.stat({ bigint: true })]);
    if (!isInside(root, opened)) throw new MediaUnavailableError("the file no longer resolves inside the media folder");
    if (!st.isFile()) throw new MediaUnavailableError("it is no longer a regular file");
    if (Number(st.size) !== media.size || st.mtimeNs.toString() !== media.mtimeNs) {
      throw new MediaUnavailableError("the file changed since it was announced");
    }
    return handle;
  } catch (e) {
    await handle.close();
    throw e instanceof MediaUnavailableError ? e : new MediaUnavailableError(`the file cannot be checked (${(e as NodeJS.ErrnoException).code ?? "error"})`, { cause: e });
  }
}
