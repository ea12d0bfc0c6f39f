/**
 * What a service does around every dispatch (installed by the runService harness before the first
 * adapter): the request becomes the trace scope (traceContext.ts) so onward calls and log lines
 * carry its trace id; with metrics on, calls are counted by outcome and timed; with
 * IceFlix.Trace.Requests=1, one log line per dispatch (trace id, operation, outcome, duration —
 * never arguments, so never a token).
 */
import type { Counter, Histogram } from "prom-client";
import { Ice } from "../slice/index.js";
import { setDispatchObserver, setOutgoingContextSource, type DispatchObserver, type ServantDispatch } from "../ice-server/index.js";
import { metrics } from "./metrics.js";
import { outgoingTraceContext, runInTraceScope, traceIdOf } from "./traceContext.js";
import type { Logger } from "./logger.js";

export interface RequestObservation {
  /** Count and time dispatches (IceFlix.Metrics.Endpoint set). */
  metrics: boolean;
  /** One log line per dispatch (IceFlix.Trace.Requests=1). */
  logRequests: boolean;
  log: Logger;
}

/** Distinct operation labels per servant interface; beyond it, "other" (operations are bounded by Slice, but a peer may send any name). */
const MAX_OPERATIONS_PER_SERVICE = 64;
const UNKNOWN_OPERATION = "unknown";

interface OperationSeries {
  seconds: Histogram.Internal<"service" | "operation">;
  ok: Counter.Internal;
  failed: Map<string, Counter.Internal>;
}

/** Per servant interface: its label and the children of each operation, made once. */
interface ServiceSeries {
  service: string;
  operations: Map<string, OperationSeries>;
  inFlight: ReturnType<typeof metrics.dispatchInFlight.labels>;
}

/** "::IceFlix::MediaCatalog" → "MediaCatalog"; our extension of a contract interface counts as it ("::IceFlixExt::MainExt" → "Main"). */
function serviceLabel(servant: Ice.Object): string {
  const id = String(servant.ice_id());
  const name = id.slice(id.lastIndexOf(":") + 1) || "unknown";
  return id.startsWith("::IceFlixExt::") && name.endsWith("Ext") && name.length > 3 ? name.slice(0, -3) : name;
}

/** ok, a user exception's name, InvalidArgument for undecodable arguments (as on the wire), not_exist, or internal. */
export function dispatchOutcome(error: unknown): string {
  if (error === undefined) return "ok";
  if (error instanceof Ice.UserException) {
    const id = error.ice_id();
    return id.slice(id.lastIndexOf(":") + 1);
  }
  if (error instanceof Ice.RequestFailedException) return "not_exist";
  if (error instanceof Ice.ProtocolException) return "InvalidArgument";
  return "internal";
}

function operationSeries(s: ServiceSeries, operation: string): OperationSeries {
  let series = s.operations.get(operation);
  if (series === undefined) {
    const name = s.operations.size < MAX_OPERATIONS_PER_SERVICE ? operation : "other";
    series = s.operations.get(name);
    if (series === undefined) {
      series = {
        seconds: metrics.dispatchSeconds.labels(s.service, name),
        ok: metrics.dispatchTotal.labels(s.service, name, "ok"),
        failed: new Map(),
      };
      s.operations.set(name, series);
    }
  }
  return series;
}

function callServant(dispatch: ServantDispatch, servant: Ice.Object, incoming: unknown, current: Ice.Current) {
  return dispatch.call(servant, incoming, current);
}

class RequestObserver implements DispatchObserver<ServiceSeries> {
  readonly #timed: boolean;
  constructor(
    readonly options: RequestObservation,
  ) {
    this.#timed = options.metrics || options.logRequests;
  }

  servant(servant: Ice.Object): ServiceSeries {
    const service = serviceLabel(servant);
    return { service, operations: new Map(), inFlight: metrics.dispatchInFlight.labels(service) };
  }

  dispatch(s: ServiceSeries, dispatch: ServantDispatch, servant: Ice.Object, incoming: unknown, current: Ice.Current): PromiseLike<unknown> | null {
    if (!this.#timed) return runInTraceScope(current, callServant, dispatch, servant, incoming, current);
    const start = performance.now();
    if (this.options.metrics) s.inFlight.inc();
    let result: PromiseLike<unknown> | null;
    try {
      result = runInTraceScope(current, callServant, dispatch, servant, incoming, current);
    } catch (error) {
      this.#finished(s, current, start, error);
      throw error;
    }
    if (result === null) this.#finished(s, current, start, undefined);
    else result.then(() => this.#finished(s, current, start, undefined), (error: unknown) => this.#finished(s, current, start, error));
    return result;
  }

  #finished(s: ServiceSeries, current: Ice.Current, start: number, error: unknown): void {
    const seconds = (performance.now() - start) / 1000;
    const outcome = error === undefined ? "ok" : dispatchOutcome(error);
    // A name the servant does not know is the peer's, not ours: one label for all of them.
    const operation = error instanceof Ice.OperationNotExistException ? UNKNOWN_OPERATION : current.operation;
    if (this.options.metrics) {
      s.inFlight.dec();
      const series = operationSeries(s, operation);
      series.seconds.observe(seconds);
      if (outcome === "ok") series.ok.inc();
      else {
        let failed = series.failed.get(outcome);
        if (failed === undefined) series.failed.set(outcome, (failed = metrics.dispatchTotal.labels(s.service, operationLabel(s, operation), outcome)));
        failed.inc();
      }
    }
    if (this.options.logRequests) {
      this.options.log.info(
        { trace: traceIdOf(current), service: s.service, operation: operation === UNKNOWN_OPERATION ? UNKNOWN_OPERATION : current.operation, outcome, ms: Math.round(seconds * 1e6) / 1000 },
        "dispatch",
      );
    }
  }
}

function operationLabel(s: ServiceSeries, operation: string): string {
  return s.operations.has(operation) ? operation : "other";
}

/** Outgoing calls made in a trace scope carry its trace id (a client's own scopes: withTraceId). */
export function traceOutgoingCalls(): void {
  setOutgoingContextSource(outgoingTraceContext);
}

/** Installs tracing (always) and the optional dispatch metrics and request lines, process-wide. */
export function observeRequests(options: RequestObservation): void {
  traceOutgoingCalls();
  setDispatchObserver(new RequestObserver(options));
}
