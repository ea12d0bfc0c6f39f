/**
 * What a service does around every dispatch (installed by the runService harness before the first
 * adapter): the request becomes the trace scope (traceContext.ts) so onward calls and log lines
 * carry its trace id; with metrics on, calls are counted by outcome and timed; with
 * IceFlix.Trace.Requests=1, one log line per dispatch (trace id, operation, outcome, duration —
 * never arguments, so never a token).
 */
import { Ice } from "../slice/index.js";
import { setDispatchObserver, setOutgoingContextSource, type DispatchObserver, type ServantDispatch } from "../ice-server/index.js";
import { dispatchTallies, OperationTally } from "./metrics.js";
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

/** Per servant interface: its label, its operations' tallies, its in-flight count; made once per servant. */
interface ServiceSeries {
  service: string;
  operations: Map<string, OperationTally>;
  inFlight: { n: number };
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

/** Servants of one interface share their tallies (a controller per stream, one series). */
const services = new Map<string, ServiceSeries>();

function serviceSeries(service: string): ServiceSeries {
  let s = services.get(service);
  if (s === undefined) {
    s = { service, operations: new Map(), inFlight: { n: 0 } };
    services.set(service, s);
    dispatchTallies.inFlight.set(service, s.inFlight);
  }
  return s;
}

function operationTally(s: ServiceSeries, operation: string): OperationTally {
  let tally = s.operations.get(operation);
  if (tally === undefined) {
    const name = s.operations.size < MAX_OPERATIONS_PER_SERVICE ? operation : "other";
    tally = s.operations.get(name);
    if (tally === undefined) {
      tally = new OperationTally(s.service, name);
      dispatchTallies.operations.push(tally);
    }
    s.operations.set(name, tally);
  }
  return tally;
}

function callServant(dispatch: ServantDispatch, servant: Ice.Object, incoming: unknown, current: Ice.Current) {
  return dispatch.call(servant, incoming, current);
}

class RequestObserver implements DispatchObserver<ServiceSeries> {
  readonly #timed: boolean;
  constructor(readonly options: RequestObservation) {
    this.#timed = options.metrics || options.logRequests;
  }

  servant(servant: Ice.Object): ServiceSeries {
    return serviceSeries(serviceLabel(servant));
  }

  dispatch(s: ServiceSeries, dispatch: ServantDispatch, servant: Ice.Object, incoming: unknown, current: Ice.Current): PromiseLike<unknown> | null {
    if (!this.#timed) return runInTraceScope(current, callServant, dispatch, servant, incoming, current);
    const start = performance.now();
    s.inFlight.n++;
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
    s.inFlight.n--;
    const outcome = error === undefined ? "ok" : dispatchOutcome(error);
    // A name the servant does not know is the peer's, not ours: one label for all of them.
    const operation = error instanceof Ice.OperationNotExistException ? UNKNOWN_OPERATION : current.operation;
    if (this.options.metrics) operationTally(s, operation).observe(seconds, outcome);
    if (this.options.logRequests) {
      this.options.log.info({ trace: traceIdOf(current), service: s.service, operation, outcome, ms: Math.round(seconds * 1e6) / 1000 }, "dispatch");
    }
  }
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
