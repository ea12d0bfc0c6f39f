/**
 * Demo content for `iceflix up` without `--media`: a few short clips generated with ffmpeg (no
 * files shipped), written atomically so a half-made clip is never announced; and a demo user.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, utimesSync } from "node:fs";
import { join } from "node:path";
import type { UserStore } from "../services/authenticator/userStore.js";
import { passwordHash } from "../common/password.js";

export const DEMO_USER = { name: "demo", password: "demo" } as const;

export interface DemoClip {
  file: string;
  args: string[];
}

/** Exported for the in-process passthrough tests (which shorten them). */
export const CLIPS: readonly DemoClip[] = [
  {
    file: "Test Pattern (720p).mp4",
    args: ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25", "-t", "10", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25"],
  },
  {
    file: "Colour Bars.mp4",
    args: ["-f", "lavfi", "-i", "smptehdbars=size=640x360:rate=25", "-t", "8", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-profile:v", "baseline", "-g", "25"],
  },
  {
    // Not H.264: the StreamProvider transcodes it.
    file: "Mandelbrot (VP8).webm",
    args: ["-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=25", "-t", "6", "-c:v", "libvpx", "-b:v", "500k", "-deadline", "realtime"],
  },
];

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", ...args], { timeout: 120_000 }, (error, _out, stderr) =>
      error
        ? reject(new Error(
            (error as NodeJS.ErrnoException).code === "ENOENT" ? "ffmpeg not found: run scripts/setup.sh" : `ffmpeg failed: ${stderr.trim().split("\n").pop()}`,
          ))
        : resolve(),
    ),
  );
}

/** Makes the demo clips that are missing in `dir`; reports progress through `say`. */
export async function ensureDemoMedia(dir: string, say: (line: string) => void): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const missing = CLIPS.filter((c) => !existsSync(join(dir, c.file)));
  if (missing.length === 0) return;
  say(`generating demo media: ${missing.map((c) => c.file).join(", ")}`);
  // All at once: the longest clip sets the time (~3 s here) instead of the sum (~4.5 s).
  await Promise.all(
    missing.map(async (clip) => {
      const tmp = join(dir, `.partial-${process.pid}-${clip.file}`);
      try {
        await ffmpeg([...clip.args, "-f", clip.file.endsWith(".webm") ? "webm" : "mp4", tmp]);
        // Dated a few seconds back: the provider holds files modified in the last second as copies
        // that may still be in progress, and this one is complete (written whole, then renamed).
        const settled = new Date(Date.now() - 5_000);
        utimesSync(tmp, settled, settled);
        renameSync(tmp, join(dir, clip.file));
      } finally {
        rmSync(tmp, { force: true });
      }
    }),
  );
}

/** Adds the demo user when the users store has no user at all. Returns true if it was added. */
export async function ensureDemoUser(store: UserStore): Promise<boolean> {
  if ((await store.list()).length > 0) return false;
  await store.add(DEMO_USER.name, passwordHash(DEMO_USER.password));
  return true;
}
