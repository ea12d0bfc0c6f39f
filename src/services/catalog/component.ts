/** Entry point of the catalog component for the CLI (`iceflix catalog`). */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";

export async function startCatalogComponent(_communicator: Ice.Communicator, _props: Ice.Properties, _log: Logger): Promise<RunningComponent> {
  throw new Error("the catalog service is not implemented yet");
}
