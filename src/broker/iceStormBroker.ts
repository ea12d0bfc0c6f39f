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
  /**
   * `IceStorm.TopicManager.Endpoints` as given on the command line (spec §1: any Ice property as
   * `--Prop=value`): replaces `tcp -h <host> -p <topicManagerPort>`, and the proxy the broker
   * returns and prints is derived from it.
   */
  topicManagerEndpoints?: string;
  /** `IceStorm.Publish.Endpoints` as given: replaces `tcp -h <host> -p <publishPort>`. */
  publishEndpoints?: string;
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
    const topicManagerEndpoints = options.topicManagerEndpoints?.trim() || `tcp -h ${host} -p ${options.topicManagerPort}`;
    const publishEndpoints = options.publishEndpoints?.trim() || `tcp -h ${host} -p ${options.publishPort}`;
    const proxy = topicManagerProxyFor(topicManagerEndpoints);
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
        `IceStorm.TopicManager.Endpoints=${topicManagerEndpoints}`,
        `IceStorm.Publish.Endpoints=${publishEndpoints}`,
        `IceStorm.LMDB.Path=${dbDir}`,
        "IceStorm.LMDB.MapSize=64",
        // A subscriber that cannot be reached is dropped at once; ours re-subscribe by themselves.
        "IceStorm.Send.Timeout=5000",
        "Ice.Override.ConnectTimeout=2000",
        "",
      ].join("\n"),
    );
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

/**
 * The TopicManager proxy for the broker's `IceStorm.TopicManager.Endpoints` (one or more
 * endpoints separated by `:`). An endpoint on every interface (no `-h`, `-h *`, `-h 0.0.0.0`,
 * `-h ::`) is reached through 127.0.0.1; a port must be fixed (not 0, not absent), since the
 * services are given this proxy before the broker runs.
 */
export function topicManagerProxyFor(endpoints: string): string {
  const parts = splitEndpoints(endpoints);
  if (parts.length === 0) throw new BrokerStartError("IceStorm.TopicManager.Endpoints is empty");
  const out = parts.map((endpoint) => {
    const words = endpoint.split(/\s+/);
    const port = optionValue(words, "-p");
    if (!port || !/^\d+$/.test(port) || Number(port) === 0 || Number(port) > 65_535) {
      throw new BrokerStartError(`IceStorm.TopicManager.Endpoints needs a fixed port (-p 1…65535) in "${endpoint}"`);
    }
    const host = optionValue(words, "-h")?.replace(/^"(.*)"$/, "$1");
    if (host === undefined || ["*", "0.0.0.0", "::"].includes(host)) {
      const i = words.indexOf("-h");
      if (i >= 0) words.splice(i, 2);
      words.splice(1, 0, "-h", "127.0.0.1");
    }
    return words.join(" ");
  });
  return `IceStorm/TopicManager:${out.join(":")}`;
}

/** Ice's endpoint list: `:` separates endpoints, except inside double quotes (IPv6 hosts). */
function splitEndpoints(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === ":" && !quoted) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out.map((e) => e.trim()).filter(Boolean);
}

function optionValue(words: readonly string[], option: string): string | undefined {
  const i = words.indexOf(option);
  return i >= 0 ? words[i + 1] : undefined;
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
