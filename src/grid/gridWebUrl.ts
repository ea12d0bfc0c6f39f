/**
 * `grid up`'s <data>/web.url: the web server is an IceGrid server (IceFlix.Web-node1) that binds
 * IceFlix.Web.Endpoint on a free port here, so its URL is read from what it logged ("web server
 * ready") into its node's output folder, as the metrics URLs are.
 */
import { writeFileSync } from "node:fs";
import { loggedUrls } from "./gridMetricsUrls.js";

const READY = "web server ready";

/** Waits (bounded) until the web server logged its URL and writes it to `file`; undefined when it did not within `waitMs`. */
export async function writeGridWebUrl(file: string, nodeDir: string, waitMs = 30_000): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const url = loggedUrls([nodeDir], READY).at(-1);
    if (url) {
      writeFileSync(file, `${url}\n`);
      return url;
    }
    if (Date.now() >= deadline) return undefined;
    // The node writes the server's output file; there is no other channel to wait on.
    await new Promise((r) => setTimeout(r, 200));
  }
}
