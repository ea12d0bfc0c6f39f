/** The pure parts of observability: trace ids and scopes, outcomes, the endpoint property, reading pages back, p99. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { currentTraceId, outgoingTraceContext, runInTraceScope, TRACE_CONTEXT_KEY, traceIdOf, withTraceId } from "../../src/runtime/traceContext.js";
import { dispatchOutcome } from "../../src/runtime/requestObserver.js";
import { parseMetricsEndpoint } from "../../src/runtime/metricsEndpoint.js";
import { parseSamples, sampleSum } from "../../src/runtime/metricsText.js";
import { p99FromBuckets } from "../../src/cli/commands/statusWatch.js";
import { metricsRegistry, OperationTally, dispatchTallies } from "../../src/runtime/metrics.js";
import { ConfigError } from "../../src/runtime/config.js";

describe("trace ids", () => {
  it("a caller's valid id is kept; none or an invalid one is replaced by a generated one, remembered", () => {
    assert.equal(traceIdOf({ ctx: new Map([[TRACE_CONTEXT_KEY, "abc-1.2:3_x"]]) }), "abc-1.2:3_x");
    for (const bad of ["", "a b", "x".repeat(65), "tok\nen", 'q"uote']) {
      const scope = { ctx: new Map([[TRACE_CONTEXT_KEY, bad]]) };
      const id = traceIdOf(scope);
      assert.match(id, /^[0-9a-f]{32}$/);
      assert.equal(traceIdOf(scope), id, "the same id for the rest of the request");
    }
    const none = { ctx: new Map<string, string>() };
    assert.equal(traceIdOf(none), none.ctx.get(TRACE_CONTEXT_KEY));
  });

  it("flows through awaits in its scope only; onward contexts get it unless they name one", async () => {
    assert.equal(currentTraceId(), undefined);
    assert.equal(outgoingTraceContext(null), undefined, "outside a scope nothing is added");
    const scope = { ctx: new Map([[TRACE_CONTEXT_KEY, "t-1"]]) };
    const seen = await runInTraceScope(scope, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return { id: currentTraceId(), ctx: outgoingTraceContext(new Map([["k", "v"]])), kept: outgoingTraceContext(new Map([[TRACE_CONTEXT_KEY, "other"]])) };
    });
    assert.equal(seen.id, "t-1");
    assert.deepEqual([...seen.ctx!], [["k", "v"], [TRACE_CONTEXT_KEY, "t-1"]]);
    assert.equal(seen.kept, undefined, "an explicit trace id is not overwritten");
    assert.equal(currentTraceId(), undefined);
    assert.equal(await withTraceId("client-7", async () => currentTraceId()), "client-7");
  });
});

describe("dispatch outcomes", () => {
  it("user exceptions by name, Ice's not-exist, malformed arguments, anything else internal", () => {
    assert.equal(dispatchOutcome(undefined), "ok");
    assert.equal(dispatchOutcome(new IceFlix.Unauthorized()), "Unauthorized");
    assert.equal(dispatchOutcome(new IceFlix.WrongMediaId("x")), "WrongMediaId");
    assert.equal(dispatchOutcome(new Ice.OperationNotExistException()), "not_exist");
    assert.equal(dispatchOutcome(new Ice.MarshalException("bad")), "InvalidArgument");
    assert.equal(dispatchOutcome(new TypeError("boom")), "internal");
  });
});

describe("metrics endpoint property", () => {
  it("HOST:PORT, IPv6 in brackets; anything else a ConfigError", () => {
    assert.deepEqual(parseMetricsEndpoint("127.0.0.1:9098"), { host: "127.0.0.1", port: 9098 });
    assert.deepEqual(parseMetricsEndpoint("[::1]:0"), { host: "::1", port: 0 });
    for (const bad of ["9098", "127.0.0.1", ":9098", "host:99999", "host:port", "tcp -h x -p 1"]) {
      assert.throws(() => parseMetricsEndpoint(bad), ConfigError, bad);
    }
  });
});

describe("reading /metrics back", () => {
  it("our own page parses; sums by name and labels", async () => {
    const tally = new OperationTally("Test", "op");
    dispatchTallies.operations.push(tally);
    tally.observe(0.0003, "ok");
    tally.observe(0.2, "Unauthorized");
    const samples = parseSamples(await metricsRegistry.metrics());
    assert.equal(sampleSum(samples, "iceflix_dispatch_total", { service: "Test" }), 2);
    assert.equal(sampleSum(samples, "iceflix_dispatch_total", { service: "Test", outcome: "Unauthorized" }), 1);
    assert.equal(sampleSum(samples, "iceflix_dispatch_seconds_bucket", { service: "Test", le: "0.0005" }), 1);
    assert.equal(sampleSum(samples, "iceflix_dispatch_seconds_bucket", { service: "Test", le: "+Inf" }), 2);
    assert.equal(sampleSum(samples, "iceflix_dispatch_seconds_count", { service: "Test" }), 2);
  });

  it("escaped label values, special values; a line that is not a sample throws", () => {
    const s = parseSamples('# HELP x y\nx{a="q\\"uo\\\\te\\nz",b="2"} +Inf\ny NaN\nz 1.5e3 1700000000\n');
    assert.deepEqual(s[0], { name: "x", labels: { a: 'q"uo\\te\nz', b: "2" }, value: Infinity });
    assert.ok(Number.isNaN(s[1]!.value));
    assert.equal(s[2]!.value, 1500);
    assert.throws(() => parseSamples("x{a=1} 2\n"));
    assert.throws(() => parseSamples("just words here\n"));
  });

  it("p99 is the smallest bucket bound holding 99 % of the interval's dispatches", () => {
    const before = new Map([[0.001, 10], [0.01, 10], [Infinity, 10]]);
    const now = new Map([[0.001, 1000], [0.01, 1009], [Infinity, 1010]]);
    assert.equal(p99FromBuckets(before, now), 1, "990 of 1000 within 1 ms");
    assert.equal(p99FromBuckets(now, now), null, "no dispatches");
    assert.equal(p99FromBuckets(new Map([[Infinity, 0]]), new Map([[0.001, 0], [Infinity, 5]])), Infinity);
  });
});
