/**
 * Observability (docs/observability.md) on a real `iceflix up` (IceStorm, SQLite, GStreamer):
 * every service's /metrics parses as the Prometheus text format; a scripted session of a Python
 * client (login, two searches, a rename, a stream) moves the counters by exactly what it did;
 * forged and unsigned events are counted as dropped with their reason; a trace id the Python
 * client sends reaches Main, the catalog and (through the catalog's onward call) the
 * Authenticator, and no other request's lines; the endpoint answers only GET /metrics, bounded,
 * and a stalled scraper does not hold up dispatch.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeBasePort } from "../helpers/broker.js";
import { logEntries, logsContaining, type LogLine } from "../helpers/logFiles.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { runPython } from "../helpers/python.js";
import { freeRtpPort } from "../helpers/streams.js";
import { requireTool } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { sampleSum, scrapeMetrics, type Sample } from "../../src/runtime/metricsText.js";

/** What parse_metrics.py prints: per URL, the families the Prometheus Python client's parser found. */
type ParsedPages = Record<string, Record<string, { type: string; samples: Array<[string, Record<string, string>, number]> }>>;

interface Component {
  name: string;
  kind: string;
  metrics?: string;
}

function iceflix(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** Every metric docs/observability.md lists, by the component that serves it. */
const EXPECTED: Record<string, string[]> = {
  all: [
    "iceflix_dispatch_total",
    "iceflix_dispatch_seconds",
    "iceflix_dispatch_in_flight",
    "iceflix_connections_open",
    "iceflix_connections_refused_total",
    "iceflix_registry_instances",
    "iceflix_events_published_total",
    "iceflix_events_received_total",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_seconds",
  ],
  auth: ["iceflix_tokens_issued_total", "iceflix_tokens_revoked_total", "iceflix_kdf_queue_length", "iceflix_instance_info"],
  catalog: ["iceflix_catalog_titles", "iceflix_catalog_index_keys", "iceflix_instance_info"],
  streaming: ["iceflix_streams_active", "iceflix_stream_starts_total", "iceflix_playback_tickets_live", "iceflix_instance_info"],
};

describe("observability: metrics, request traces", { timeout: 180_000 }, () => {
  let data: string;
  let mainProxy: string;
  const url: Record<string, string> = {};
  const scrape = (kind: string) => scrapeMetrics(url[kind]!);
  const logOf = (name: string): LogLine[] => logEntries(join(data, "logs", `${name}.log`));

  before(async () => {
    requireTool("/usr/bin/python3");
    requireTool("gst-launch-1.0");
    data = mkdtempSync(join(tmpdir(), "iceflix-observability-"));
    const base = await freeBasePort();
    const r = await iceflix(["up", "--data", data, "--base-port", String(base), "--detach", "--IceFlix.Trace.Requests=1"]);
    assert.equal(r.code, 0, r.stderr);
    mainProxy = readFileSync(join(data, "main.proxy"), "utf8").trim();
    const state = JSON.parse(readFileSync(join(data, "up.json"), "utf8")) as { components: Component[] };
    for (const c of state.components) if (c.metrics) url[c.kind] = c.metrics;
    const listed = readFileSync(join(data, "metrics.urls"), "utf8").trim().split("\n");
    assert.deepEqual([...listed].sort(), Object.values(url).sort(), "metrics.urls lists every service's endpoint");
    assert.deepEqual(Object.keys(url).sort(), ["auth", "catalog", "main", "streaming"]);
    assert.equal(url.auth, `http://127.0.0.1:${base + 4}/metrics`, "the first Authenticator's endpoint is after the service ports");
    await waitFor("the demo titles indexed", async () => sampleSum(await scrape("catalog"), "iceflix_catalog_titles"), (n) => n >= 3, 60_000);
    await waitFor(
      "Main to know every kind",
      async () => {
        const m = await scrape("main");
        return ["authenticator", "catalog", "streaming"].map((kind) => sampleSum(m, "iceflix_registry_instances", { kind }));
      },
      (counts) => counts.every((n) => n === 1),
      30_000,
    );
  });

  after(async () => {
    if (data) {
      await iceflix(["down", "--data", data]);
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("every service's /metrics parses as the Prometheus text format and has the documented metrics", async () => {
    const pages = await runPython<ParsedPages>("parse_metrics.py", Object.values(url));
    for (const [kind, at] of Object.entries(url)) {
      const families = pages[at]!;
      // The Python parser names a counter's family without _total; its samples keep it.
      const names = new Set(Object.entries(families).flatMap(([family, f]) => [family, ...f.samples.map((s) => s[0])]));
      for (const name of [...EXPECTED.all!, ...(EXPECTED[kind] ?? [])]) {
        assert.ok(names.has(name) || names.has(name.replace(/_total$/, "")), `${kind} lacks ${name}`);
      }
      const histogram = families["iceflix_dispatch_seconds"]!;
      assert.equal(histogram.type, "histogram");
      const infinite = histogram.samples.filter(([name, labels]) => name === "iceflix_dispatch_seconds_bucket" && labels.le === "+Inf");
      const counts = histogram.samples.filter(([name]) => name === "iceflix_dispatch_seconds_count");
      assert.ok(counts.length > 0, `${kind}: dispatches timed`);
      for (const [, labels, value] of counts) {
        assert.ok(labels.service && labels.operation, `${kind}: service and operation labels`);
        const inf = infinite.find(([, l]) => l.service === labels.service && l.operation === labels.operation);
        assert.equal(inf?.[2], value, `${kind} ${labels.service}.${labels.operation}: the +Inf bucket is the count`);
      }
    }
  });

  it("a scripted session moves the counters by exactly what it did; the token is in no log", async () => {
    const before = Object.fromEntries(await Promise.all(Object.keys(url).map(async (k) => [k, await scrape(k)] as const)));
    const trace = `py-${randomBytes(8).toString("hex")}`;
    const session = await runPython<{ searches: string[][]; renamed: string; sdp: boolean; token: string }>(
      "traced_session.py",
      ["--main", mainProxy, "--user", "demo", "--password", "demo", "--trace", trace, "--rename-to", "Renamed Pattern", "--port", String(await freeRtpPort())],
      60_000,
    );
    assert.equal(session.sdp, true);
    assert.equal(session.searches[0]!.length, 1);
    const delta = async (kind: string, name: string, labels: Record<string, string>, before_: Sample[]) =>
      sampleSum(await scrape(kind), name, labels) - sampleSum(before_, name, labels);
    const ok = (service: string, operation: string) => ({ service, operation, outcome: "ok" });
    const exact: Array<[string, string, Record<string, string>, number]> = [
      ["main", "iceflix_dispatch_total", ok("Main", "getAuthenticator"), 1],
      ["main", "iceflix_dispatch_total", ok("Main", "getCatalogService"), 1],
      ["auth", "iceflix_dispatch_total", ok("Authenticator", "refreshAuthorization"), 1],
      ["auth", "iceflix_tokens_issued_total", {}, 1],
      ["catalog", "iceflix_dispatch_total", ok("MediaCatalog", "getTilesByName"), 2],
      ["catalog", "iceflix_dispatch_seconds_count", { service: "MediaCatalog", operation: "getTilesByName" }, 2],
      ["catalog", "iceflix_dispatch_total", ok("MediaCatalog", "renameTile"), 1],
      ["catalog", "iceflix_dispatch_total", ok("MediaCatalog", "getTile"), 1],
      ["streaming", "iceflix_dispatch_total", ok("StreamProvider", "getStream"), 1],
      ["streaming", "iceflix_dispatch_total", ok("StreamController", "getSDP"), 1],
      ["streaming", "iceflix_dispatch_total", ok("StreamController", "stop"), 1],
      ["streaming", "iceflix_stream_starts_total", {}, 1],
    ];
    for (const [kind, name, labels, expected] of exact) {
      assert.equal(await delta(kind, name, labels, before[kind]!), expected, `${kind} ${name} ${JSON.stringify(labels)}`);
    }
    // The catalog and the provider checked the token with the Authenticator (at least once each).
    assert.ok((await delta("auth", "iceflix_dispatch_total", ok("Authenticator", "isAuthorized"), before.auth!)) >= 1);
    await waitFor("the stream to end", async () => sampleSum(await scrape("streaming"), "iceflix_streams_active"), (n) => n === 0, 10_000);
    const catalog = await scrape("catalog");
    assert.equal(sampleSum(catalog, "iceflix_catalog_titles"), 3);
    assert.ok(sampleSum(catalog, "iceflix_catalog_index_keys") > 3);
    assert.ok(sampleSum(catalog, "iceflix_events_received_total", { topic: "ServiceAvailability" }) > 0);
    assert.equal(sampleSum(await scrape("auth"), "iceflix_kdf_queue_length"), 0);
    assert.ok(sampleSum(await scrape("main"), "iceflix_connections_open") >= 1);
    assert.deepEqual(logsContaining(join(data, "logs"), [session.token]), [], "no log holds the token");
  });

  it("forged, unsigned and stale events are dropped and counted with their reason", async () => {
    const broker = (JSON.parse(readFileSync(join(data, "up.json"), "utf8")) as { components: Array<Component & { proxy: string }> }).components.find(
      (c) => c.kind === "broker",
    )!.proxy;
    const otherSecret = join(data, "other-secret");
    writeFileSync(otherSecret, "ab".repeat(32));
    const dropped = async (reason: string) => sampleSum(await scrape("auth"), "iceflix_events_dropped_total", { topic: "AuthenticationStatus", reason });
    const before = { forged: await dropped("forged"), unsigned: await dropped("unsigned"), stale: await dropped("stale") };
    await runPython("event_publisher.py", [broker, "AuthenticationStatus", "--secret-file", otherSecret, "revoke", "not-a-token"]);
    await waitFor("the forged event counted", () => dropped("forged"), (n) => n === before.forged + 1);
    await runPython("event_publisher.py", [broker, "AuthenticationStatus", "revoke", "not-a-token"]);
    await waitFor("the unsigned event counted", () => dropped("unsigned"), (n) => n === before.unsigned + 1);
    await runPython("event_publisher.py", [broker, "AuthenticationStatus", "--secret-file", join(data, "secret"), "--stale", "revoke", "not-a-token"]);
    await waitFor("the stale event counted", () => dropped("stale"), (n) => n === before.stale + 1);
    assert.equal(await dropped("forged"), before.forged + 1, "each counted once");
  });

  it("a trace id sent by a Python client is in the lines of Main, the catalog and the Authenticator for that request, and in no other", async () => {
    const trace = `py-${randomBytes(8).toString("hex")}`;
    await runPython("traced_session.py", ["--main", mainProxy, "--user", "demo", "--password", "demo", "--trace", trace, "--rename-to", "Traced Pattern", "--search", "Renamed Pattern", "--port", String(await freeRtpPort())], 60_000);
    const dispatchLines = (name: string) => logOf(name).filter((l) => l.msg === "dispatch");
    const traced = (name: string) => logOf(name).filter((l) => l.trace === trace);
    await waitFor("the Authenticator's traced line", () => traced("auth").length, (n) => n >= 1);
    assert.deepEqual(traced("main").map((l) => l.operation), ["getCatalogService"]);
    assert.ok(traced("catalog").some((l) => l.msg === "dispatch" && l.operation === "renameTile"), "the catalog's renameTile line");
    // The Python client sent no context on these: they got ids of their own.
    for (const [name, operation] of [["catalog", "getTilesByName"], ["main", "getAuthenticator"], ["auth", "refreshAuthorization"], ["streaming", "getStream"]] as const) {
      const lines = dispatchLines(name).filter((l) => l.operation === operation);
      assert.ok(lines.length >= 2, `${name} logged ${operation}`);
      assert.ok(lines.every((l) => typeof l.trace === "string" && /^[0-9a-f]{32}$/.test(l.trace) && l.trace !== trace), `${name} ${operation}: a generated trace id`);
    }
    // Through the catalog's onward call only: the Authenticator's traced lines are isAuthorized.
    // (the catalog's liveness ping of the Authenticator it picked is part of that request too)
    const authOperations = new Set(traced("auth").filter((l) => l.msg === "dispatch").map((l) => l.operation));
    assert.ok(authOperations.has("isAuthorized"), "the catalog's token check");
    assert.deepEqual([...authOperations].filter((o) => o !== "isAuthorized" && o !== "ice_ping"), []);
    assert.deepEqual(traced("streaming"), [], "the provider's calls carried no trace id from the client");
    for (const name of ["main", "auth", "catalog"]) {
      for (const l of dispatchLines(name)) {
        assert.deepEqual(Object.keys(l).filter((k) => !["level", "time", "pid", "name", "ns", "trace", "service", "operation", "outcome", "ms", "msg"].includes(k)), [], "a dispatch line holds nothing else");
      }
    }
  });

  it("the terminal client sends a trace id per command, prints it with --trace and with every error", async () => {
    const ok = await iceflix(["client", "--data", data, "--trace", "search", "Colour"]);
    assert.equal(ok.code, 0, ok.stderr);
    const shown = /^trace ([0-9a-f]{32})$/m.exec(ok.stderr)?.[1];
    assert.ok(shown, ok.stderr);
    await waitFor("the catalog's line for it", () => logOf("catalog").filter((l) => l.trace === shown && l.operation === "getTilesByName").length, (n) => n === 1);
    // The command's calls to Main (connecting: ice_isA, the ext operations; then getCatalogService) carry it too.
    assert.ok(logOf("main").some((l) => l.trace === shown && l.operation === "getCatalogService"));
    const bad = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [ICEFLIX_BIN, "client", "--data", data, "--user", "demo", "--password-stdin", "rename", "ffffffffffff", "New name"], { timeout: 60_000 }, (error, _stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
      );
      child.stdin!.end("demo\n");
    });
    assert.equal(bad.code, 1, bad.stderr);
    const errorTrace = /^iceflix client: trace ([0-9a-f]{32})$/m.exec(bad.stderr)?.[1];
    assert.ok(errorTrace, `the error shows its trace id: ${bad.stderr}`);
    await waitFor("the Authenticator's login line for it", () => logOf("auth").filter((l) => l.trace === errorTrace && l.operation === "refreshAuthorization").length, (n) => n === 1);
  });

  it("status --watch shows instances per kind with health, calls/s and p99 per component, streams and dropped events", async () => {
    const r = await iceflix(["status", "--data", data, "--watch", "--frames", "2", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const frames = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { instances: Array<{ kind: string; healthy: boolean }>; components: Array<{ name: string; reachable: boolean; callsPerSecond: number | null; p99Ms: number | null; eventsDropped: number }> });
    assert.equal(frames.length, 2);
    const [first, second] = frames as [(typeof frames)[0], (typeof frames)[0]];
    assert.deepEqual([...new Set(second.instances.map((i) => i.kind))].sort(), ["authenticator", "catalog", "main", "streaming"]);
    assert.ok(second.instances.every((i) => i.healthy));
    assert.deepEqual(second.components.map((c) => c.name).sort(), ["auth", "catalog", "main", "streaming"]);
    assert.ok(first.components.every((c) => c.callsPerSecond === null), "no rate from a single look");
    assert.ok(second.components.every((c) => c.reachable && c.callsPerSecond !== null && c.callsPerSecond >= 0));
    // The forged/unsigned/stale events of the earlier test were dropped by the Authenticator (and the provider).
    assert.ok(second.components.find((c) => c.name === "auth")!.eventsDropped >= 3);
    const text = await iceflix(["status", "--data", data, "--watch", "--frames", "1"]);
    assert.match(text.stdout, /^COMPONENT\s+CALLS\/S\s+P99\s+STREAMS\s+EVENTS DROPPED$/m);
    assert.match(text.stdout, /^authenticator\s+1\s+1\/1$/m);
  });

  it("the endpoint answers only GET /metrics, bounded; a stalled scraper holds up no dispatch", async () => {
    const at = new URL(url.main!);
    assert.equal((await fetch(at, { method: "POST", body: "x" })).status, 405);
    assert.equal((await fetch(new URL("/", at))).status, 404);
    assert.equal((await fetch(new URL("/metrics/../secret", at))).status, 404);
    assert.equal((await fetch(at, { headers: { "x-big": "a".repeat(20_000) } })).status, 431);
    assert.equal((await fetch(at, { method: "HEAD" })).status, 200);
    // Scrapers that open connections and never finish their request.
    const stalled = await Promise.all(
      Array.from({ length: 20 }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect(Number(at.port), at.hostname, () => {
          s.write("GET /metrics HTTP/1.1\r\nHost: x\r\n");
          resolve(s);
        });
        s.on("error", () => resolve(s));
      })),
    );
    try {
      const r = await runPython<{ results: Array<{ error?: string }> }>("main_client.py", ["--main", mainProxy, "--count", "3"]);
      assert.equal(r.results.length, 3);
      assert.ok(r.results.every((x) => x.error === undefined || x.error === "Unauthorized"), JSON.stringify(r.results));
    } finally {
      for (const s of stalled) s.destroy();
    }
    await waitFor("the endpoint to answer again", async () => (await fetch(at)).status, (s) => s === 200);
  });
});
