/**
 * `iceflix status --watch`: a live view refreshed every second: instances per kind with health
 * (Main's listInstances), and per component of `up` (its /metrics, from <data>/up.json or
 * <data>/metrics.urls): calls/s and p99 over the last interval, active streams, events dropped.
 * Ctrl+C ends it; `--frames N` ends it after N views (scripts). With --json, one object per line.
 */
import { existsSync, readFileSync } from "node:fs";
import type { DataPaths } from "../../common/dataDir.js";
import { sampleSum, scrapeMetrics, type Sample } from "../../runtime/metricsText.js";

export interface MetricsSource {
  name: string;
  url: string;
}

/** The components' metrics URLs: named from up.json when it lists them, else by URL from metrics.urls. */
export function metricsSources(paths: DataPaths): MetricsSource[] {
  try {
    const state = JSON.parse(readFileSync(paths.upState, "utf8")) as { components?: Array<{ name: string; metrics?: string }> };
    const named = (state.components ?? []).flatMap((c) => (c.metrics ? [{ name: c.name, url: c.metrics }] : []));
    if (named.length > 0) return named;
  } catch {
    // not started by `up`, or an older one: the URL list alone
  }
  if (!existsSync(paths.metricsUrls)) return [];
  return readFileSync(paths.metricsUrls, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .map((url) => ({ name: new URL(url).host, url }));
}

export interface ComponentView {
  name: string;
  reachable: boolean;
  /** Dispatches per second over the last interval (null on the first view). */
  callsPerSecond: number | null;
  /** Upper bound (ms) of the dispatch-latency bucket holding the 99th percentile of the last interval. */
  p99Ms: number | null;
  streamsActive: number;
  eventsDropped: number;
}

interface Snapshot {
  at: number;
  calls: number;
  /** le → cumulative count, all operations together. */
  buckets: Map<number, number>;
}

function snapshot(samples: readonly Sample[], at: number): Snapshot {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== "iceflix_dispatch_seconds_bucket") continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return { at, calls: sampleSum(samples, "iceflix_dispatch_total"), buckets };
}

/** The smallest bucket bound holding 99 % of the interval's dispatches; null without any. */
export function p99FromBuckets(before: Map<number, number>, now: Map<number, number>): number | null {
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const total = (now.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return null;
  for (const le of bounds) if ((now.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.99 * total) return le * 1000;
  return Infinity;
}

/** Reads every source; keeps the previous snapshot of each to turn counters into rates. */
export class MetricsWatch {
  readonly #previous = new Map<string, Snapshot>();
  constructor(private readonly sources: readonly MetricsSource[]) {}

  async views(): Promise<ComponentView[]> {
    return Promise.all(
      this.sources.map(async (source): Promise<ComponentView> => {
        let samples: Sample[];
        try {
          samples = await scrapeMetrics(source.url, 900);
        } catch {
          this.#previous.delete(source.url);
          return { name: source.name, reachable: false, callsPerSecond: null, p99Ms: null, streamsActive: 0, eventsDropped: 0 };
        }
        const now = snapshot(samples, Date.now());
        const before = this.#previous.get(source.url);
        this.#previous.set(source.url, now);
        const seconds = before ? (now.at - before.at) / 1000 : 0;
        return {
          name: source.name,
          reachable: true,
          callsPerSecond: before && seconds > 0 ? Math.max(0, now.calls - before.calls) / seconds : null,
          p99Ms: before ? p99FromBuckets(before.buckets, now.buckets) : null,
          streamsActive: sampleSum(samples, "iceflix_streams_active"),
          eventsDropped: sampleSum(samples, "iceflix_events_dropped_total"),
        };
      }),
    );
  }
}

export interface InstanceRow {
  kind: string;
  id: string;
  endpoint: string;
  healthy: boolean;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n");
}

function fmtMs(ms: number | null): string {
  if (ms === null) return "-";
  if (ms === Infinity) return "> 5 s";
  return `≤ ${ms < 1 ? ms.toFixed(2) : Math.round(ms)} ms`;
}

/** One screen of the live view. */
export function renderWatch(main: string, instances: readonly InstanceRow[] | string, components: readonly ComponentView[], at: Date): string {
  const lines = [`IceFlix status  ${at.toISOString().slice(11, 19)}  (Ctrl+C to leave)`, `Main: ${main}`, ""];
  if (typeof instances === "string") lines.push(`instances: ${instances}`);
  else {
    const kinds = [...new Set(instances.map((i) => i.kind))].sort();
    lines.push(
      table([
        ["KIND", "INSTANCES", "HEALTHY"],
        ...kinds.map((k) => {
          const of = instances.filter((i) => i.kind === k);
          return [k, String(of.length), `${of.filter((i) => i.healthy).length}/${of.length}`];
        }),
      ]),
    );
  }
  lines.push("");
  if (components.length === 0) lines.push("no metrics endpoints (IceFlix.Metrics.Endpoint; `up` sets one per service)");
  else {
    lines.push(
      table([
        ["COMPONENT", "CALLS/S", "P99", "STREAMS", "EVENTS DROPPED"],
        ...components.map((c) =>
          c.reachable
            ? [c.name, c.callsPerSecond === null ? "-" : c.callsPerSecond.toFixed(1), fmtMs(c.p99Ms), String(c.streamsActive), String(c.eventsDropped)]
            : [c.name, "unreachable", "", "", ""],
        ),
      ]),
    );
  }
  return lines.join("\n") + "\n";
}
