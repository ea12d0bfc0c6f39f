/** Entry point of the authenticator component for the CLI (`iceflix auth`). */
import { Ice } from "../../slice/index.js";
import type { Logger } from "../../runtime/logger.js";
import type { RunningComponent } from "../../runtime/lifecycle.js";
import { createServiceContext } from "../../runtime/serviceContext.js";
import { AuthenticatorService } from "./authenticatorService.js";

export async function startAuthenticatorComponent(communicator: Ice.Communicator, props: Ice.Properties, log: Logger): Promise<RunningComponent> {
  const service = await AuthenticatorService.start(createServiceContext(communicator, props, log));
  return { proxy: service.proxyString, stop: () => service.stop() };
}
