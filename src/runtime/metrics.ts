/**
 * The Prometheus metrics of an IceFlix process (prom-client), every one listed in
 * docs/observability.md. One registry per process. Counters are counted whether or not
 * IceFlix.Metrics.Endpoint serves them (an increment is cheap); the dispatch metrics and the
 * process/Node metrics are only collected when it does (requestObserver.ts, metricsEndpoint.ts).
 * Gauges of live state (registry sizes, open connections, …) are read when scraped, from the
 * sources that track() them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export const metricsRegistry = new Registry();

/** Dispatch latency buckets, seconds: a map lookup (~20 µs) to a slow store call. */
const DISPATCH_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [metricsRegistry] });
}

function gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [metricsRegistry] });
}

type Labels<L extends string> = Partial<Record<L, string>>;

/**
 * A gauge, or a counter kept by its source (e.g. a transport's own tally), whose value is read
 * from its sources at each scrape (sources with the same labels add up).
 */
export class LiveMetric<L extends string> {
  readonly #sources = new Set<{ labels: Labels<L>; read: () => number }>();

  constructor(type: "gauge" | "counter", name: string, help: string, labelNames: readonly L[]) {
    const sources = this.#sources;
    const options = {
      name,
      help,
      labelNames,
      registers: [metricsRegistry],
      collect(this: { reset(): void; inc(labels: Labels<L>, value: number): void }) {
        this.reset();
        for (const s of sources) this.inc(s.labels, s.read());
      },
    };
    if (type === "gauge") new Gauge(options);
    else new Counter(options);
  }

  /** Adds a source; the returned function removes it (call it when the source stops). */
  track(labels: Labels<L>, read: () => number): () => void {
    const source = { labels, read };
    this.#sources.add(source);
    return () => void this.#sources.delete(source);
  }
}

/**
 * The per-dispatch tallies of one operation of one servant interface: plain numbers the dispatch
 * path adds to (prom-client's labelled children hash their labels on every call, a measurable
 * share of a 10 µs dispatch); turned into metrics only when scraped.
 */
export class OperationTally {
  readonly outcomes = new Map<string, number>();
  ok = 0;
  /** Per bucket of DISPATCH_BUCKETS (not cumulative), then the overflow above the last. */
  readonly buckets = new Float64Array(DISPATCH_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  constructor(
    readonly service: string,
    readonly operation: string,
  ) {}

  observe(seconds: number, outcome: string): void {
    if (outcome === "ok") this.ok++;
    else this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    let b = 0;
    while (b < DISPATCH_BUCKETS.length && seconds > DISPATCH_BUCKETS[b]!) b++;
    this.buckets[b]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Everything the dispatch metrics are read from: operation tallies and in-flight counts per interface. */
export const dispatchTallies = {
  operations: [] as OperationTally[],
  inFlight: new Map<string, { n: number }>(),
};

/** iceflix_dispatch_seconds from the tallies, in the shape prom-client's registry writes (custom metric). */
const dispatchSecondsMetric = {
  name: "iceflix_dispatch_seconds",
  help: "Dispatch latency: request read to servant finished",
  type: "histogram",
  aggregator: "sum",
  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const t of dispatchTallies.operations) {
      const labels = { service: t.service, operation: t.operation };
      let cumulative = 0;
      DISPATCH_BUCKETS.forEach((le, i) => {
        cumulative += t.buckets[i]!;
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: "iceflix_dispatch_seconds_bucket" });
      });
      values.push({ labels: { le: "+Inf", ...labels }, value: t.count, metricName: "iceflix_dispatch_seconds_bucket" });
      values.push({ labels, value: t.sum, metricName: "iceflix_dispatch_seconds_sum" });
      values.push({ labels, value: t.count, metricName: "iceflix_dispatch_seconds_count" });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  },
};
metricsRegistry.registerMetric(dispatchSecondsMetric as unknown as Parameters<Registry["registerMetric"]>[0]);

export const metrics = {
  // Dispatch (requestObserver.ts), read from dispatchTallies
  dispatchTotal: new Counter({
    name: "iceflix_dispatch_total",
    help: "Requests dispatched, by servant interface, operation and outcome (ok, a user exception's name, not_exist, internal)",
    labelNames: ["service", "operation", "outcome"] as const,
    registers: [metricsRegistry],
    collect() {
      this.reset();
      for (const t of dispatchTallies.operations) {
        if (t.ok > 0) this.inc({ service: t.service, operation: t.operation, outcome: "ok" }, t.ok);
        for (const [outcome, n] of t.outcomes) this.inc({ service: t.service, operation: t.operation, outcome }, n);
      }
    },
  }),
  dispatchInFlight: new Gauge({
    name: "iceflix_dispatch_in_flight",
    help: "Requests being dispatched now (pending replies)",
    labelNames: ["service"] as const,
    registers: [metricsRegistry],
    collect() {
      this.reset();
      for (const [service, f] of dispatchTallies.inFlight) this.set({ service }, f.n);
    },
  }),
  // Identity (lifecycle.ts announce): lets a scraper match this process to MainExt.listInstances
  instanceInfo: gauge("iceflix_instance_info", "1 per instance this process announces, by kind and id (as MainExt.listInstances lists them)", ["kind", "id"]),
  // Transport (lifecycle.ts, from ServerAdapter.stats())
  connectionsOpen: new LiveMetric("gauge", "iceflix_connections_open", "Open incoming Ice connections", ["adapter"]),
  connectionsRefused: new LiveMetric("counter", "iceflix_connections_refused_total", "Incoming connections refused by the connection cap (<Adapter>.MaxConnections)", ["adapter"]),
  // Registries of the other services (serviceRegistry.ts)
  registryInstances: new LiveMetric("gauge", "iceflix_registry_instances", "Instances known per kind", ["kind"]),
  registryRemovals: counter("iceflix_registry_removals_total", "Instances removed per kind and cause (replaced, not_answering, removed)", ["kind", "cause"]),
  // Events (topics.ts, serviceContext.ts)
  eventsPublished: counter("iceflix_events_published_total", "Events published per topic (accepted by the broker)", ["topic"]),
  eventsReceived: counter("iceflix_events_received_total", "Events received and obeyed per topic (signature checked)", ["topic"]),
  eventsDropped: counter("iceflix_events_dropped_total", "Events received and dropped per topic and reason (unsigned, forged, stale, replayed)", ["topic", "reason"]),
  // Authenticator
  tokensIssued: counter("iceflix_tokens_issued_total", "Tokens issued (successful logins)", []),
  tokensRevoked: counter("iceflix_tokens_revoked_total", "Revocations this Authenticator published, by reason (expired, user_changed)", ["reason"]),
  kdfQueued: new LiveMetric("gauge", "iceflix_kdf_queue_length", "Logins waiting for a password-KDF slot", []),
  // Streaming
  streamsActive: gauge("iceflix_streams_active", "Streams sending now", []),
  streamStarts: counter("iceflix_stream_starts_total", "Streams started, by plan (passthrough, transcode) and sender (gst, inprocess)", ["plan", "via"]),
  playbackTickets: new LiveMetric("gauge", "iceflix_playback_tickets_live", "Browser playback tickets live (direct play over HTTP; a ticket lives while its token does)", []),
  streamSentBytes: counter("iceflix_stream_sent_bytes_total", "RTP bytes sent by in-process streams (gst-launch senders are not counted)", []),
  // Catalog
  catalogTitles: new LiveMetric("gauge", "iceflix_catalog_titles", "Titles in the catalog's index", []),
  catalogIndexKeys: new LiveMetric("gauge", "iceflix_catalog_index_keys", "Search index keys (1-/2-grams, exact names, tags)", []),
  // Stores (storageErrors.ts)
  storeErrors: counter("iceflix_store_errors_total", "Store writes refused by storage faults, by store and condition", ["store", "condition"]),
};

let defaultMetricsOn = false;

/** Process CPU, RSS, heap, event-loop lag (prom-client's default metrics): only for a served endpoint. */
export function collectProcessMetrics(): void {
  if (defaultMetricsOn) return;
  defaultMetricsOn = true;
  collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: 20 });
}

/** Open and refused connections of one adapter, read at each scrape; returns the untrack function. */
export function trackAdapter(adapter: string, stats: () => { connections: number; rejected: number }): () => void {
  const untrackOpen = metrics.connectionsOpen.track({ adapter }, () => stats().connections);
  const untrackRefused = metrics.connectionsRefused.track({ adapter }, () => stats().rejected);
  return () => {
    untrackOpen();
    untrackRefused();
  };
}
