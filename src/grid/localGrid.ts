/**
 * A whole IceGrid deployment of IceFlix on this machine (`iceflix grid up`): one registry, N
 * nodes, deploy/icegrid/iceflix.xml added through icegridadmin with this machine's paths, and
 * the wait until it serves. stop() stops the nodes (each stops its servers through their
 * Ice::Process) and then the registry.
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ice } from "../slice/index.js";
import type { Logger } from "../runtime/logger.js";
import { descriptorForNodes } from "./descriptorNodes.js";
import { gridAdmin } from "./iceGridAdmin.js";
import { locatorProxy, startNode, startRegistry, type GridProcess } from "./iceGridProcesses.js";
import { waitForGrid } from "./gridReadiness.js";
import type { GridPaths } from "./gridFiles.js";

export const DESCRIPTOR = fileURLToPath(new URL("../../../deploy/icegrid/iceflix.xml", import.meta.url));
const ICEFLIX_BIN = fileURLToPath(new URL("../../../bin/iceflix", import.meta.url));
const HOST = "127.0.0.1";
/** The descriptor's port variables (spec §1 defaults for hosts of their own). */
const PORT_VARIABLES = [
  "main-port",
  "auth-port",
  "catalog-port",
  "streaming-port",
  "topic-manager-port",
  "publish-port",
  "icestorm-node-port",
  "main-metrics-port",
  "auth-metrics-port",
  "catalog-metrics-port",
  "streaming-metrics-port",
  "streaming-http-port",
  "web-port",
];
/** The services of 3 nodes and IceStorm's election take a few seconds; a loaded machine more. */
const READY_TIMEOUT_MS = 90_000;

export interface LocalGridOptions {
  paths: GridPaths;
  nodes: number;
  media: string;
  log: Logger;
  say: (line: string) => void;
  /** Announce period of the services (seconds). */
  announcePeriodSeconds?: number;
}

export class LocalGrid {
  readonly locator: string;
  readonly nodeNames: string[];
  /** A direct Main proxy per node. */
  mains: string[] = [];
  readonly #processes: GridProcess[] = [];

  private constructor(locator: string, nodeNames: string[]) {
    this.locator = locator;
    this.nodeNames = nodeNames;
  }

  static async start(o: LocalGridOptions): Promise<LocalGrid> {
    const [client, server, internal] = [await freePort(), await freePort(), await freePort()];
    const nodeNames = Array.from({ length: o.nodes }, (_, i) => `node${i + 1}`);
    const grid = new LocalGrid(locatorProxy(HOST, client), nodeNames);
    try {
      o.say("starting the IceGrid registry");
      grid.#processes.push(
        await startRegistry({ dir: join(o.paths.grid, "registry"), host: HOST, clientPort: client, serverPort: server, internalPort: internal, log: o.log }),
      );
      o.say(`starting ${o.nodes} IceGrid node(s)`);
      for (const name of nodeNames) {
        grid.#processes.push(await startNode({ name, dir: join(o.paths.grid, name), host: HOST, locator: grid.locator, log: o.log }));
      }
      o.say("deploying deploy/icegrid/iceflix.xml");
      await grid.#deploy(o);
      o.say("waiting for the services and IceStorm's election");
      grid.mains = await grid.#waitReady();
    } catch (e) {
      await grid.stop();
      throw e;
    }
    return grid;
  }

  async #deploy(o: LocalGridOptions): Promise<void> {
    mkdirSync(o.paths.grid, { recursive: true });
    writeFileSync(o.paths.descriptor, descriptorForNodes(readFileSync(DESCRIPTOR, "utf8"), o.nodes));
    const variables: Record<string, string> = {
      iceflix: ICEFLIX_BIN,
      "node-exe": process.execPath,
      data: o.paths.root,
      media: o.media,
      "secret-file": o.paths.secret,
      "announce-period": String(o.announcePeriodSeconds ?? 10),
      // All nodes share this machine: every server on a free port.
      ...Object.fromEntries(PORT_VARIABLES.map((v) => [v, "0"])),
      // A node running as root starts servers as "nobody" unless they name an account.
      ...(process.getuid?.() === 0 ? { "server-user": "root" } : {}),
    };
    const assignments = Object.entries(variables).map(([k, v]) => `${k}=${quote(v)}`);
    await gridAdmin(`application add ${quote(o.paths.descriptor)} ${assignments.join(" ")}`, { locator: this.locator });
  }

  async #waitReady(): Promise<string[]> {
    const init = new Ice.InitializationData();
    init.properties = Ice.createProperties();
    init.properties.setProperty("Ice.Default.Locator", this.locator);
    init.properties.setProperty("Ice.Default.InvocationTimeout", "5000");
    init.properties.setProperty("Ice.Override.ConnectTimeout", "2000");
    init.properties.setProperty("Ice.Warn.Connections", "0");
    const communicator = Ice.initialize(init);
    try {
      return await waitForGrid(communicator, this.nodeNames, READY_TIMEOUT_MS);
    } finally {
      await communicator.destroy();
    }
  }

  get pids(): number[] {
    return this.#processes.map((p) => p.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Nodes first, newest first (each stops its servers), then the registry. Bounded. */
  async stop(): Promise<void> {
    for (const p of [...this.#processes].reverse()) await p.child.stop(20_000);
    this.#processes.length = 0;
  }
}

/** icegridadmin's command line reads a quoted word as one argument. */
function quote(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, HOST, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}
