/** Entry point of the authenticator component for the CLI (`iceflix auth`). */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";

export async function startAuthenticatorComponent(_communicator: Ice.Communicator, _props: Ice.Properties, _log: Logger): Promise<RunningComponent> {
  throw new Error("the authenticator service is not implemented yet");
}
