/**
 * The `Ice::Process` object of a server deployed by IceGrid (`Ice.Admin.ServerId` set): its
 * `shutdown()` lets icegridnode stop us cleanly, by the same orderly stop as SIGTERM. A C++
 * communicator creates it from the same properties; the npm runtime has no admin adapter, so it
 * is served here on `Ice.Admin.Endpoints` (loopback, free port by default: only the node calls it).
 */
import { randomUUID } from "node:crypto";
import { Ice } from "../slice/index.js";
import { ServerAdapter } from "../ice-server/index.js";
import { LocatorRegistrationError } from "../ice-server/index.js";
import type { Logger } from "./logger.js";

const DEFAULT_ADMIN_ENDPOINTS = "tcp -h 127.0.0.1 -p 0";

class ProcessI extends Ice.Process {
  constructor(
    private readonly onShutdown: () => void,
    private readonly log: Logger,
  ) {
    super();
  }

  shutdown(): void {
    // Answer first: the orderly stop closes this very connection after in-flight calls end.
    setImmediate(this.onShutdown);
  }

  writeMessage(message: string, fd: number): void {
    if (fd === 2) process.stderr.write(message + "\n");
    else if (fd === 1) process.stdout.write(message + "\n");
    else this.log.warn({ fd }, "Ice.Process.writeMessage to an unknown descriptor ignored");
  }
}

export interface ProcessRegistration {
  /** Closes the admin endpoint (after the service stopped, before the communicator is destroyed). */
  stop(): Promise<void>;
}

/**
 * With `Ice.Admin.ServerId` and a locator, serves the Process object and registers it
 * (`setServerProcessProxy`); otherwise does nothing. Throws a LocatorRegistrationError naming
 * the server id when the registry refuses or does not answer.
 */
export async function registerProcess(communicator: Ice.Communicator, log: Logger, onShutdown: () => void): Promise<ProcessRegistration | undefined> {
  const props = communicator.getProperties();
  const serverId = props.getProperty("Ice.Admin.ServerId").trim();
  const locator = communicator.getDefaultLocator();
  if (!serverId || !locator) return undefined;
  const server = await ServerAdapter.create(communicator, "Ice.Admin", {
    endpoints: props.getProperty("Ice.Admin.Endpoints").trim() || DEFAULT_ADMIN_ENDPOINTS,
  });
  try {
    const identity = new Ice.Identity("admin", props.getProperty("Ice.Admin.InstanceName").trim() || randomUUID());
    const processProxy = Ice.ProcessPrx.uncheckedCast(server.adapter.addFacet(new ProcessI(onShutdown, log), identity, "Process"));
    const registry = await locator.getRegistry();
    if (!registry) throw new Error("the locator has no registry");
    await registry.setServerProcessProxy(serverId, processProxy);
    log.info({ serverId }, "Ice.Process registered with the locator");
  } catch (e) {
    await server.destroy();
    const why = e instanceof Ice.ServerNotFoundException ? "the registry has no server with this id" : e instanceof Ice.Exception ? e.ice_id() : String(e);
    throw new LocatorRegistrationError(`Ice.Admin.ServerId ${serverId}: cannot register the Ice.Process object with the locator ${locator.toString()}: ${why}`, {
      cause: e,
    });
  }
  return { stop: () => server.destroy() };
}
