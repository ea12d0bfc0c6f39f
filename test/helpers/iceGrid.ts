/**
 * A real IceGrid for a test: icegridregistry (and icegridnodes when asked) in a temporary
 * folder on free loopback ports. stop() kills every process it started and removes the folder;
 * call it in after()/finally so nothing outlives a failing test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice } from "../../src/slice/index.js";
import { createLogger } from "../../src/runtime/logger.js";
import { locatorProxy, startNode, startRegistry, type GridProcess } from "../../src/grid/iceGridProcesses.js";
import { gridAdmin } from "../../src/grid/iceGridAdmin.js";
import { freePort } from "./broker.js";
import { requireTool } from "./tools.js";

const log = createLogger("test-icegrid", "warn");
const HOST = "127.0.0.1";

export class TestGrid {
  readonly dir: string;
  readonly locator: string;
  readonly #ports: { client: number; server: number; internal: number };
  readonly #dynamicRegistration: boolean;
  #registry: GridProcess | undefined;
  readonly #nodes = new Map<string, GridProcess>();

  private constructor(dir: string, ports: { client: number; server: number; internal: number }, dynamicRegistration: boolean) {
    this.dir = dir;
    this.#ports = ports;
    this.#dynamicRegistration = dynamicRegistration;
    this.locator = locatorProxy(HOST, ports.client);
  }

  /** A running registry; `dynamicRegistration` lets adapters outside any application register. */
  static async start({ dynamicRegistration = false } = {}): Promise<TestGrid> {
    requireTool("icegridregistry");
    requireTool("icegridadmin");
    const dir = mkdtempSync(join(tmpdir(), "iceflix-icegrid-"));
    const grid = new TestGrid(dir, { client: await freePort(), server: await freePort(), internal: await freePort() }, dynamicRegistration);
    try {
      await grid.startRegistry();
    } catch (e) {
      await grid.stop();
      throw e;
    }
    return grid;
  }

  /** Starts the registry (again) on the same ports; resolves when the locator answers. */
  async startRegistry(): Promise<void> {
    this.#registry = await startRegistry({
      dir: join(this.dir, "registry"),
      host: HOST,
      clientPort: this.#ports.client,
      serverPort: this.#ports.server,
      internalPort: this.#ports.internal,
      dynamicRegistration: this.#dynamicRegistration,
      log,
    });
  }

  /** kill -9 of the registry; with `wipe` its database goes too (a replaced registry host). */
  async killRegistry({ wipe = false } = {}): Promise<void> {
    const registry = this.#registry;
    this.#registry = undefined;
    if (registry) {
      registry.child.killNow();
      await registry.child.exited;
    }
    if (wipe) rmSync(join(this.dir, "registry", "db"), { recursive: true, force: true });
  }

  /** Starts an icegridnode named `name`; resolves once it is registered. */
  async startNode(name: string, env?: NodeJS.ProcessEnv): Promise<GridProcess> {
    requireTool("icegridnode");
    const node = await startNode({ name, dir: join(this.dir, `node-${name}`), host: HOST, locator: this.locator, env, log });
    this.#nodes.set(name, node);
    return node;
  }

  /** Where the node writes a server's stdout/stderr. */
  serverOutput(node: string, server: string, stream: "out" | "err"): string {
    return join(this.dir, `node-${node}`, "output", `${server}.${stream}`);
  }

  admin(command: string, timeoutMs?: number): Promise<string> {
    return gridAdmin(command, { locator: this.locator, timeoutMs });
  }

  /** A communicator whose default locator is this registry (destroy it when done). */
  communicator(): Ice.Communicator {
    const init = new Ice.InitializationData();
    init.properties = Ice.createProperties();
    init.properties.setProperty("Ice.Default.Locator", this.locator);
    init.properties.setProperty("Ice.Override.ConnectTimeout", "1000");
    init.properties.setProperty("Ice.Default.InvocationTimeout", "3000");
    return Ice.initialize(init);
  }

  /** Stops nodes (their servers with them) then the registry, and removes the folder. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#nodes.values()].map((n) => n.child.stop(10_000)));
    this.#nodes.clear();
    await this.#registry?.child.stop(3000);
    this.#registry = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
