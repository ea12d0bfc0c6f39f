/**
 * What each StreamProvider is serving now, for the page's status view: read from the providers'
 * own /metrics (the URLs `up` and `grid up` list in <data>/metrics.urls), matched to
 * MainExt.listInstances by `iceflix_instance_info{kind="streaming",id}`. RTP streams are
 * `iceflix_streams_active`, browser plays `iceflix_playback_tickets_live`. Bounded: at most
 * MAX_SOURCES URLs, each scrape 1 s; a provider that does not answer is simply not listed.
 */
import { readFileSync } from "node:fs";
import { sampleSum, scrapeMetrics } from "../runtime/metricsText.js";

export interface ProviderLoad {
  rtpStreams: number;
  browserTickets: number;
}

const MAX_SOURCES = 64;
const SCRAPE_TIMEOUT_MS = 1000;

/** Provider instance id → what it serves; empty when the file is missing (e.g. a web server on a host of its own). */
export async function providerLoads(metricsUrlsFile: string): Promise<Map<string, ProviderLoad>> {
  let urls: string[];
  try {
    urls = readFileSync(metricsUrlsFile, "utf8").split("\n").map((l) => l.trim()).filter((l) => /^https?:\/\//.test(l)).slice(0, MAX_SOURCES);
  } catch {
    return new Map();
  }
  const loads = new Map<string, ProviderLoad>();
  await Promise.all(
    urls.map(async (url) => {
      const samples = await scrapeMetrics(url, SCRAPE_TIMEOUT_MS).catch(() => []);
      const ids = samples.filter((s) => s.name === "iceflix_instance_info" && s.labels.kind === "streaming" && s.value === 1).map((s) => s.labels.id!);
      // One provider per process: its process-wide gauges are that provider's.
      if (ids.length !== 1) return;
      loads.set(ids[0]!, {
        rtpStreams: sampleSum(samples, "iceflix_streams_active"),
        browserTickets: sampleSum(samples, "iceflix_playback_tickets_live"),
      });
    }),
  );
  return loads;
}
