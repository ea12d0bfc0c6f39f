/**
 * `iceflix status`: every instance Main knows, through MainExt.listInstances (spec §9);
 * `--watch`: the live view of statusWatch.ts, refreshed every second.
 */
import { readFileSync } from "node:fs";
import { Ice, IceFlixExt } from "../../slice/index.js";
import { proxyText } from "../../runtime/iceValues.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths } from "../../common/dataDir.js";
import { MetricsWatch, metricsSources, renderWatch, type InstanceRow } from "./statusWatch.js";

export interface StatusOptions {
  json: boolean;
  watch?: boolean;
  /** --watch: stop after this many views. */
  frames?: number;
}

const WATCH_PERIOD_MS = 1000;

export async function status(data: string, options: StatusOptions, props: Ice.Properties): Promise<number> {
  const paths = dataPaths(data);
  let proxy: string;
  try {
    proxy = readFileSync(paths.mainProxy, "utf8").trim();
  } catch {
    throw new CliError(`nothing is running on ${paths.root} (no main.proxy)`, EXIT.notRunning);
  }
  const init = new Ice.InitializationData();
  init.properties = props;
  props.setProperty("Ice.Warn.Connections", "0");
  const communicator = Ice.initialize(init);
  try {
    const base = communicator.stringToProxy(proxy).ice_invocationTimeout(3000);
    let main: IceFlixExt.MainExtPrx | null;
    try {
      main = await IceFlixExt.MainExtPrx.checkedCast(base);
    } catch (e) {
      throw new CliError(`Main at ${proxy} does not answer (${(e as Error).name || e}); is IceFlix running?`, EXIT.notRunning);
    }
    if (!main) throw new CliError(`${proxy} is not an IceFlix MainExt; status needs an IceFlix Main`);
    const list = async (): Promise<Array<InstanceRow & { lastSeen: string }>> =>
      (await main.listInstances()).map((i) => ({
        kind: i.kind,
        id: i.id,
        endpoint: i.proxy ? proxyText(communicator, i.proxy) : "",
        lastSeen: new Date(i.lastSeen.toNumber()).toISOString(),
        healthy: i.healthy,
      }));
    if (options.watch) return await watch(proxy, list, new MetricsWatch(metricsSources(paths)), options);
    const instances = await list();
    if (options.json) {
      process.stdout.write(JSON.stringify({ main: proxy, instances }, null, 2) + "\n");
    } else {
      process.stdout.write(`Main: ${proxy}\n`);
      const rows = [["KIND", "ID", "ENDPOINT", "HEALTH"], ...instances.map((i) => [i.kind, i.id, i.endpoint, i.healthy ? "ok" : "failing"])];
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd() + "\n");
    }
    return EXIT.ok;
  } finally {
    await communicator.destroy();
  }
}

/** Redraws every second until Ctrl+C (or `frames` views); a Main that stops answering shows as such, the view goes on. */
async function watch(main: string, list: () => Promise<InstanceRow[]>, metrics: MetricsWatch, options: StatusOptions): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const redraw = process.stdout.isTTY && !options.json;
  try {
    for (let frame = 1; !stop.signal.aborted; frame++) {
      const started = Date.now();
      const [instances, components] = await Promise.all([
        list().catch((e: unknown) => `Main does not answer (${(e as Error).name || String(e)})`),
        metrics.views(),
      ]);
      if (options.json) process.stdout.write(JSON.stringify({ at: new Date().toISOString(), main, instances, components }) + "\n");
      else process.stdout.write((redraw ? "\x1b[H\x1b[2J" : frame > 1 ? "\n" : "") + renderWatch(main, instances, components, new Date()));
      if (options.frames !== undefined && frame >= options.frames) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, WATCH_PERIOD_MS - (Date.now() - started)));
        stop.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return EXIT.ok;
}
