/**
 * The programs a StreamProvider runs, checked at start (a provider that cannot stream is refused
 * with a ConfigError naming what to install, not discovered at the first getSDP).
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { ConfigError } from "../../runtime/config.js";
import { GST_LAUNCH, SETPRIV } from "./gstPipeline.js";
import { FFPROBE } from "./mediaProbe.js";

const NEEDED: ReadonlyArray<[tool: string, from: string]> = [
  [GST_LAUNCH, "gstreamer1.0-tools"],
  [FFPROBE, "ffmpeg"],
  [SETPRIV, "util-linux"],
];

function onPath(tool: string, path = process.env.PATH ?? ""): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function requireStreamingTools(): void {
  const missing = NEEDED.filter(([tool]) => !onPath(tool));
  if (missing.length === 0) return;
  const names = missing.map(([tool, from]) => `${tool} (package ${from})`).join(", ");
  throw new ConfigError(`cannot stream without ${names}: run scripts/setup.sh`);
}
