/** The StreamProvider's own settings (spec §1 properties), checked before anything starts. */
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { Ice } from "../../slice/index.js";
import { choiceProperty, ConfigError, hostPort, intProperty, PROP } from "../../runtime/config.js";
import { TICKET_BINDINGS, type TicketBinding } from "./mediaHttp.js";

/** Not in the spec's table: how often the media folder is rescanned besides the watch. */
export const PROP_MEDIA_RESCAN = "IceFlix.Media.RescanSeconds";
/** Not in the spec's table: who passes H.264 in MP4/MOV through (in-process RTP, or a gst-launch per stream). */
export const PROP_PASSTHROUGH = "IceFlix.Stream.Passthrough";
export const PASSTHROUGH_MODES = ["inprocess", "gst"] as const;
export type PassthroughMode = (typeof PASSTHROUGH_MODES)[number];
/** In-process: no child process per viewer; `gst` keeps the old path (docs/streaming.md). */
export const DEFAULT_PASSTHROUGH: PassthroughMode = "inprocess";
/** Not in the spec's table: host:port of the HTTP endpoint browsers play from (port 0: any free one). */
export const PROP_HTTP_ENDPOINT = "IceFlix.Stream.HttpEndpoint";
export const DEFAULT_HTTP_ENDPOINT = "127.0.0.1:0";
/** Not in the spec's table: what a playback ticket's first use binds it to (mediaHttp.ts, docs/web.md). */
export const PROP_TICKET_BINDING = "IceFlix.Stream.TicketBinding";

export interface StreamingSettings {
  /** Absolute path of the media folder. */
  mediaDir: string;
  maxConcurrent: number;
  unusedControllerMs: number;
  reauthGraceMs: number;
  rescanMs: number;
  passthrough: PassthroughMode;
  http: { host: string; port: number };
  ticketBinding: TicketBinding;
}

export function streamingSettings(props: Ice.Properties): StreamingSettings {
  return {
    mediaDir: mediaFolder(props.getProperty(PROP.mediaDir).trim()),
    maxConcurrent: intProperty(props, PROP.streamMax, 64, 1, 100_000),
    unusedControllerMs: intProperty(props, PROP.unusedController, 60, 1, 86_400) * 1000,
    reauthGraceMs: intProperty(props, PROP.reauthGrace, 10, 1, 3600) * 1000,
    rescanMs: intProperty(props, PROP_MEDIA_RESCAN, 30, 1, 86_400) * 1000,
    passthrough: choiceProperty(props, PROP_PASSTHROUGH, PASSTHROUGH_MODES, DEFAULT_PASSTHROUGH),
    http: hostPort(PROP_HTTP_ENDPOINT, props.getProperty(PROP_HTTP_ENDPOINT).trim() || DEFAULT_HTTP_ENDPOINT),
    ticketBinding: choiceProperty<TicketBinding>(props, PROP_TICKET_BINDING, TICKET_BINDINGS, "cookie"),
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
