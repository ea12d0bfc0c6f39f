/**
 * `grid up`'s <data>/metrics.urls: the IceGrid servers bind their IceFlix.Metrics.Endpoint on free
 * ports (the nodes share this machine), so the URLs are read from what each server logged
 * ("metrics endpoint listening") into its node's output folder (IceGrid.Node.Output).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const LISTENING = "metrics endpoint listening";
/** Services (Main, Authenticator, catalog, provider) per node, each with one endpoint. */
const ENDPOINTS_PER_NODE = 4;
const WAIT_MS = 15_000;

/** The last URL each server's output file logged, if any. */
export function loggedMetricsUrls(nodeDirs: readonly string[]): string[] {
  return loggedUrls(nodeDirs, LISTENING);
}

/** The last `url` each server's output file logged in a line with `message` (e.g. the web server's "web server ready"). */
export function loggedUrls(nodeDirs: readonly string[], message: string): string[] {
  const urls: string[] = [];
  for (const dir of nodeDirs) {
    const output = join(dir, "output");
    if (!existsSync(output)) continue;
    for (const file of readdirSync(output).sort()) {
      let last: string | undefined;
      for (const line of readFileSync(join(output, file), "utf8").split("\n")) {
        if (!line.includes(message)) continue;
        try {
          const url = (JSON.parse(line) as { url?: unknown }).url;
          if (typeof url === "string") last = url;
        } catch {
          // a torn line
        }
      }
      if (last) urls.push(last);
    }
  }
  return urls;
}

/** Waits (bounded) until every service of every node logged its URL, then writes the list (what was found). */
export async function writeGridMetricsUrls(file: string, nodeDirs: readonly string[]): Promise<string[]> {
  const deadline = Date.now() + WAIT_MS;
  let urls = loggedMetricsUrls(nodeDirs);
  while (urls.length < ENDPOINTS_PER_NODE * nodeDirs.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    urls = loggedMetricsUrls(nodeDirs);
  }
  writeFileSync(file, urls.map((u) => `${u}\n`).join(""));
  return urls;
}
