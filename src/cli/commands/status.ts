/** `iceflix status`: every instance Main knows, through MainExt.listInstances (spec §9). */
import { readFileSync } from "node:fs";
import { Ice, IceFlixExt } from "../../slice/index.js";
import { proxyText } from "../../runtime/iceValues.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths } from "../../common/dataDir.js";

export async function status(data: string, json: boolean, props: Ice.Properties): Promise<number> {
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
    const instances = (await main.listInstances()).map((i) => ({
      kind: i.kind,
      id: i.id,
      endpoint: i.proxy ? proxyText(communicator, i.proxy) : "",
      lastSeen: new Date(i.lastSeen.toNumber()).toISOString(),
      healthy: i.healthy,
    }));
    if (json) {
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
