/**
 * Runs the real IceStorm (Debian's zeroc-icebox) with its own data folder and waits until its
 * TopicManager answers.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ice, IceStorm } from "../slice/index.js";
import { SupervisedChild, type ChildExit } from "../runtime/childProcess.js";
import type { Logger } from "../runtime/logger.js";

export interface BrokerOptions {
  /** Broker state lives in `<dataDir>/broker` (config, LMDB database, log). */
  dataDir: string;
  topicManagerPort: number;
  publishPort: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 15000 */
  readyTimeoutMs?: number;
  log: Logger;
}

export class BrokerStartError extends Error {
  override name = "BrokerStartError";
}

export class IceStormBroker {
  readonly proxy: string;
  readonly child: SupervisedChild;

  private constructor(proxy: string, child: SupervisedChild) {
    this.proxy = proxy;
    this.child = child;
  }

  static async start(options: BrokerOptions, communicator: Ice.Communicator): Promise<IceStormBroker> {
    const host = options.host ?? "127.0.0.1";
    const dir = join(options.dataDir, "broker");
    const dbDir = join(dir, "db");
    mkdirSync(dbDir, { recursive: true });
    const configFile = join(dir, "icebox.config");
    writeFileSync(
      configFile,
      [
        "# Written by iceflix broker at each start.",
        "IceBox.Service.IceStorm=IceStormService,37:createIceStorm",
        "IceBox.InheritProperties=1",
        "IceStorm.InstanceName=IceStorm",
        `IceStorm.TopicManager.Endpoints=tcp -h ${host} -p ${options.topicManagerPort}`,
        `IceStorm.Publish.Endpoints=tcp -h ${host} -p ${options.publishPort}`,
        `IceStorm.LMDB.Path=${dbDir}`,
        "IceStorm.LMDB.MapSize=64",
        // A subscriber that cannot be reached is dropped at once; ours re-subscribe by themselves.
        "IceStorm.Send.Timeout=5000",
        "Ice.Override.ConnectTimeout=2000",
        "",
      ].join("\n"),
    );
    const proxy = `IceStorm/TopicManager:tcp -h ${host} -p ${options.topicManagerPort}`;
    const child = SupervisedChild.spawn({
      name: "icebox",
      command: "icebox",
      args: [`--Ice.Config=${configFile}`],
      logFile: join(dir, "icebox.log"),
      log: options.log,
      // In our process group: if `iceflix broker` is killed with its group, icebox goes too.
      ownGroup: false,
    });
    const broker = new IceStormBroker(proxy, child);
    const timeoutMs = options.readyTimeoutMs ?? 15_000;
    const ready = waitForTopicManager(communicator, proxy, timeoutMs);
    const early = child.exited.then((exit: ChildExit) => {
      throw new BrokerStartError(
        exit.code === 127
          ? "icebox not found: install Debian's zeroc-icebox and libzeroc-icestorm3.7 (scripts/setup.sh does)"
          : `icebox exited during start-up (code ${exit.code}, signal ${exit.signal}); see ${join(dir, "icebox.log")}`,
      );
    });
    try {
      await Promise.race([ready, early]);
    } catch (e) {
      await child.stop(2000);
      throw e;
    }
    options.log.info({ proxy, pid: child.pid }, "IceStorm ready");
    return broker;
  }

  /** SIGTERM (icebox shuts down cleanly), SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<ChildExit> {
    return this.child.stop(graceMs);
  }
}

/** Polls until a checkedCast of the TopicManager succeeds, or throws after timeoutMs. */
export async function waitForTopicManager(communicator: Ice.Communicator, proxy: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const base = communicator.stringToProxy(proxy).ice_invocationTimeout(1000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const tm = await IceStorm.TopicManagerPrx.checkedCast(base);
      if (tm) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BrokerStartError(`IceStorm did not answer at ${proxy} within ${timeoutMs} ms (${String(last)})`);
}
