/** Entry point of the streaming component for the CLI (`iceflix streaming`). */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";

export async function startStreamingComponent(_communicator: Ice.Communicator, _props: Ice.Properties, _log: Logger): Promise<RunningComponent> {
  throw new Error("the streaming service is not implemented yet");
}
