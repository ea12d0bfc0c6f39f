/**
 * One look at the media folder: which regular files it serves (spec §5). Only the folder's own
 * entries count (not sub-folders). Symlinks are resolved with realpath and anything that resolves
 * outside the folder, or nowhere, is refused (the caller warns); a file reachable under several
 * names is served once. File names are user data: they are never interpreted; a name that is not
 * valid UTF-8 (it could not be announced faithfully) is refused, and control characters are
 * replaced by U+FFFD in the announced name (titles may not contain them, spec §10).
 */
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { join, relative, isAbsolute } from "node:path";
import { isDenied, isGone } from "./fileHash.js";

export interface MediaCandidate {
  /** The entry's name in the folder (a symlink's own name), as announced. */
  name: string;
  /** Resolved path, inside the folder: what is hashed and served. */
  path: string;
  viaLink: boolean;
  size: number;
  /** mtime in ns, decimal text. */
  mtimeNs: string;
}

export interface Refusal {
  name: string;
  reason: string;
}

export interface FolderScan {
  /** The folder's resolved path. */
  root: string;
  /** By resolved path. */
  candidates: Map<string, MediaCandidate>;
  refused: Refusal[];
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const STAT_BATCH = 64;

/** Resolves `dir` and lists what it serves. Throws if the folder itself cannot be read. */
export async function scanFolder(dir: string): Promise<FolderScan> {
  const root = await realpath(dir);
  const names = await readdir(root, { encoding: "buffer" });
  const candidates = new Map<string, MediaCandidate>();
  const refused: Refusal[] = [];
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = await Promise.all(names.slice(i, i + STAT_BATCH).map((raw) => inspect(root, raw)));
    for (const r of batch) {
      if (!r) continue;
      if ("reason" in r) {
        refused.push(r);
        continue;
      }
      const other = candidates.get(r.path);
      if (!other || preferred(r, other)) candidates.set(r.path, r);
    }
  }
  return { root, candidates, refused };
}

/** True when `path` (resolved) is inside `root` (resolved). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/** Of two names for one file, the real entry wins over a link, then the smaller name. */
function preferred(a: MediaCandidate, b: MediaCandidate): boolean {
  if (a.viaLink !== b.viaLink) return !a.viaLink;
  return a.name < b.name;
}

async function inspect(root: string, raw: Buffer): Promise<MediaCandidate | Refusal | undefined> {
  let name: string;
  try {
    name = UTF8.decode(raw);
  } catch {
    return { name: raw.toString("utf8"), reason: "the file name is not valid UTF-8" };
  }
  const entry = join(root, name);
  try {
    const link = await lstat(entry);
    let path = entry;
    if (link.isSymbolicLink()) {
      try {
        path = await realpath(entry);
      } catch (e) {
        if (isGone(e) || (e as NodeJS.ErrnoException).code === "ELOOP") return { name, reason: "the link leads nowhere" };
        throw e;
      }
      if (!isInside(root, path)) return { name, reason: "the link resolves outside the media folder" };
    } else if (!link.isFile()) {
      return undefined; // sub-folders, sockets, FIFOs: not media, not worth a warning
    }
    const st = await stat(path, { bigint: true });
    if (!st.isFile()) return undefined;
    return { name: announceable(name), path, viaLink: link.isSymbolicLink(), size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
  } catch (e) {
    if (isGone(e)) return undefined; // removed while we looked
    if (isDenied(e)) return { name, reason: "permission denied" };
    throw e;
  }
}

/** The name as a title may carry it: control characters become U+FFFD. */
export function announceable(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd");
}
