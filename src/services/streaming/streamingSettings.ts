/** The StreamProvider's own settings (spec §1 properties), checked before anything starts. */
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { Ice } from "../../slice/index.js";
import { ConfigError, intProperty, PROP } from "../../runtime/config.js";

/** Not in the spec's table: how often the media folder is rescanned besides the watch. */
export const PROP_MEDIA_RESCAN = "IceFlix.Media.RescanSeconds";

export interface StreamingSettings {
  /** Absolute path of the media folder. */
  mediaDir: string;
  maxConcurrent: number;
  unusedControllerMs: number;
  reauthGraceMs: number;
  rescanMs: number;
}

export function streamingSettings(props: Ice.Properties): StreamingSettings {
  return {
    mediaDir: mediaFolder(props.getProperty(PROP.mediaDir).trim()),
    maxConcurrent: intProperty(props, PROP.streamMax, 64, 1, 100_000),
    unusedControllerMs: intProperty(props, PROP.unusedController, 60, 1, 86_400) * 1000,
    reauthGraceMs: intProperty(props, PROP.reauthGrace, 10, 1, 3600) * 1000,
    rescanMs: intProperty(props, PROP_MEDIA_RESCAN, 30, 1, 86_400) * 1000,
  };
}

/** The media folder, which must be a readable directory; a ConfigError says what is wrong. */
function mediaFolder(dir: string): string {
  if (!dir) throw new ConfigError(`no media folder: give --media DIR (or set ${PROP.mediaDir})`);
  const abs = resolve(dir);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(code === "ENOENT" ? `the media folder ${abs} does not exist` : `cannot use the media folder ${abs} (${code})`);
  }
  if (!isDir) throw new ConfigError(`the media folder ${abs} is not a directory`);
  try {
    accessSync(abs, constants.R_OK | constants.X_OK);
  } catch {
    throw new ConfigError(`the media folder ${abs} is not readable`);
  }
  return abs;
}
