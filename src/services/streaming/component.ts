/**
 * Entry point of the streaming component for the CLI (`iceflix streaming --media DIR`, which
 * sets IceFlix.Media.Dir). A missing or unusable media folder, or a missing streaming tool, is
 * refused before anything starts, with a ConfigError saying what (the CLI prints it as one line).
 */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";
import { createServiceContext } from "../../runtime/serviceContext.js";
import { StreamProviderService } from "./streamProviderService.js";
import { streamingSettings } from "./streamingSettings.js";
import { requireStreamingTools } from "./streamingTools.js";

export async function startStreamingComponent(communicator: Ice.Communicator, props: Ice.Properties, log: Logger): Promise<RunningComponent> {
  const settings = streamingSettings(props);
  requireStreamingTools();
  const ctx = createServiceContext(communicator, props, log);
  const service = await StreamProviderService.start(ctx, settings);
  return { proxy: service.proxyString, stop: () => service.stop() };
}
