/**
 * Starts Debian's icegridregistry and icegridnode as supervised children and waits, bounded, for
 * the line each prints once it serves (`Ice.PrintAdapterReady`, `IceGrid.Node.PrintServersReady`).
 * Used by `iceflix grid up` and by the tests (each in its own folder, on its own ports).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { SupervisedChild } from "../runtime/childProcess.js";
import type { Logger } from "../runtime/logger.js";

export const ICEGRID_REGISTRY = "icegridregistry";
export const ICEGRID_NODE = "icegridnode";

/** A registry or node that did not come up; the message names it and says why. */
export class GridStartError extends Error {
  override name = "GridStartError";
}

export interface RegistryOptions {
  /** Holds the LMDB database (`db/`) and the log. */
  dir: string;
  host: string;
  /** Clients' (locator) port: the one every locator proxy names. */
  clientPort: number;
  /** Servers' (locator registry) and internal (nodes) ports; fixed, so a restarted registry keeps them. */
  serverPort: number;
  internalPort: number;
  /** Adapters not in any application may register (tests of the transport). @default false */
  dynamicRegistration?: boolean;
  readyTimeoutMs?: number;
  launcher?: Launcher;
  log: Logger;
}

/** Turns a command line into the one to spawn, e.g. inside a network namespace (`ip netns exec NS …`). */
export type Launcher = (command: string, args: string[]) => { command: string; args: string[] };

export interface NodeOptions {
  name: string;
  /** Holds the node's data (servers' config, IceStorm databases) and servers' output. */
  dir: string;
  host: string;
  locator: string;
  readyTimeoutMs?: number;
  /** Extra environment for the node and so for the servers it starts. */
  env?: NodeJS.ProcessEnv;
  launcher?: Launcher;
  log: Logger;
}

export interface GridProcess {
  child: SupervisedChild;
  logFile: string;
}

/** The locator proxy of a registry with the default instance name. */
export function locatorProxy(host: string, clientPort: number): string {
  return `IceGrid/Locator:tcp -h ${host} -p ${clientPort}`;
}

export function registryArgs(o: RegistryOptions): string[] {
  const props: Record<string, string> = {
    "IceGrid.InstanceName": "IceGrid",
    "IceGrid.Registry.Client.Endpoints": `tcp -h ${o.host} -p ${o.clientPort}`,
    "IceGrid.Registry.Server.Endpoints": `tcp -h ${o.host} -p ${o.serverPort}`,
    "IceGrid.Registry.Internal.Endpoints": `tcp -h ${o.host} -p ${o.internalPort}`,
    "IceGrid.Registry.LMDB.Path": join(o.dir, "db"),
    // A local taste: any user name and password opens an admin session. docs/icegrid.md says
    // what a real deployment uses instead.
    "IceGrid.Registry.AdminPermissionsVerifier": "IceGrid/NullPermissionsVerifier",
    // No multicast discovery: other registries on this machine (tests, other deployments) must not answer.
    "IceGrid.Registry.Discovery.Enabled": "0",
    "IceGrid.Registry.DynamicRegistration": o.dynamicRegistration ? "1" : "0",
    "Ice.PrintAdapterReady": "1",
  };
  return Object.entries(props).map(([k, v]) => `--${k}=${v}`);
}

export function nodeArgs(o: NodeOptions): string[] {
  const props: Record<string, string> = {
    "IceGrid.Node.Name": o.name,
    "IceGrid.Node.Endpoints": `tcp -h ${o.host}`,
    "IceGrid.Node.Data": join(o.dir, "data"),
    "IceGrid.Node.Output": join(o.dir, "output"),
    "Ice.Default.Locator": o.locator,
    // Printed once the node is registered and its always-active servers run.
    "IceGrid.Node.PrintServersReady": o.name,
  };
  // A node running as root starts servers as "nobody", who cannot read the data folder the
  // grid's user made. A local taste runs them as its own user, as `up` does; a real deployment
  // runs icegridnode as a dedicated user instead (docs/icegrid.md).
  if (process.getuid?.() === 0) props["IceGrid.Node.AllowRunningServersAsRoot"] = "1";
  return Object.entries(props).map(([k, v]) => `--${k}=${v}`);
}

/** Starts icegridregistry; resolves once its client endpoint (the locator) serves. */
export async function startRegistry(o: RegistryOptions): Promise<GridProcess> {
  mkdirSync(join(o.dir, "db"), { recursive: true });
  const logFile = join(o.dir, "registry.log");
  const { command, args } = (o.launcher ?? direct)(ICEGRID_REGISTRY, registryArgs(o));
  return startUntilLine("icegridregistry", command, args, "IceGrid.Registry.Client ready", logFile, o.readyTimeoutMs, o.log);
}

/** Starts icegridnode; resolves once it is registered with the registry. */
export async function startNode(o: NodeOptions): Promise<GridProcess> {
  mkdirSync(join(o.dir, "data"), { recursive: true });
  mkdirSync(join(o.dir, "output"), { recursive: true });
  const logFile = join(o.dir, "node.log");
  const { command, args } = (o.launcher ?? direct)(ICEGRID_NODE, nodeArgs(o));
  return startUntilLine(`icegridnode ${o.name}`, command, args, `${o.name} ready`, logFile, o.readyTimeoutMs, o.log, o.env);
}

const direct: Launcher = (command, args) => ({ command, args });

async function startUntilLine(
  what: string,
  command: string,
  args: string[],
  readyLine: string,
  logFile: string,
  timeoutMs = 15_000,
  log: Logger,
  env?: NodeJS.ProcessEnv,
): Promise<GridProcess> {
  const lastLines: string[] = [];
  const keep = (line: string) => {
    lastLines.push(line);
    if (lastLines.length > 5) lastLines.shift();
  };
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let child: SupervisedChild;
  try {
    child = SupervisedChild.spawn({
      name: what,
      command,
      args,
      env: env ? { ...process.env, ...env } : undefined,
      logFile,
      log,
      // icegridnode prints its ready line on stderr, the registry on stdout: watch both.
      onStdoutLine: (line) => (line.trim() === readyLine ? onReady() : keep(line)),
      onStderrLine: (line) => (line.trim() === readyLine ? onReady() : keep(line)),
    });
  } catch (e) {
    throw new GridStartError(`${what}: cannot start ${command}: ${(e as Error).message}`, { cause: e });
  }
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    ready.then(() => "ready" as const),
    child.exited.then((exit) =>
      exit.code === 127 ? `cannot run: ${command} is not installed (Debian package zeroc-icegrid)` : `exited (code ${exit.code}, signal ${exit.signal})`,
    ),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`not ready within ${timeoutMs} ms`), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    await child.stop(1000);
    const why = lastLines.join(" | ").trim();
    throw new GridStartError(`${what} ${outcome}${why ? `: ${why}` : ""} (log: ${logFile})`);
  }
  return { child, logFile };
}
