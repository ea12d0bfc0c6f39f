/** Entry point of the catalog component for the CLI (`iceflix catalog`). */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";
import { createServiceContext } from "../../runtime/serviceContext.js";
import { catalogOptions, CatalogService } from "./catalogService.js";

export async function startCatalogComponent(communicator: Ice.Communicator, props: Ice.Properties, log: Logger): Promise<RunningComponent> {
  const options = catalogOptions(props); // a bad property fails before anything starts
  const service = await CatalogService.start(createServiceContext(communicator, props, log), options);
  return { proxy: service.proxyString, stop: () => service.stop() };
}
