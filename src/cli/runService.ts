/**
 * Runs one component in the foreground (`iceflix broker|main|…`): creates the communicator,
 * starts the service, prints one `ready` JSON line on stdout (what `up` waits for), and shuts
 * down cleanly on SIGINT/SIGTERM.
 */
import { Ice } from "../slice/index.js";
import { createCommunicator } from "../runtime/communicator.js";
import { createLogger, type Logger } from "../runtime/logger.js";
import type { RunningComponent } from "../runtime/lifecycle.js";
import { EXIT } from "../common/exitCodes.js";
import { ConfigError } from "../runtime/config.js";
import { EndpointConfigError, LocatorRegistrationError } from "../ice-server/index.js";
import { registerProcess, type ProcessRegistration } from "../runtime/iceProcess.js";
import { redirectStdio } from "../runtime/stdioFiles.js";
import { checkSharedSecret } from "../runtime/secret.js";
import { BrokerStartError } from "../broker/iceStormBroker.js";
import { StorageFault } from "../runtime/storageErrors.js";
import { boolProperty } from "../runtime/config.js";
import { observeRequests } from "../runtime/requestObserver.js";
import { METRICS_ENDPOINT_PROP, parseMetricsEndpoint, startMetricsEndpoint, type MetricsEndpoint } from "../runtime/metricsEndpoint.js";

/** Start-up failures the user can fix (configuration, ports, a missing broker, a data folder that is read-only or full): one line, no stack. */
function isExpectedStartError(e: unknown): boolean {
  return (
    e instanceof ConfigError ||
    e instanceof EndpointConfigError ||
    e instanceof LocatorRegistrationError ||
    e instanceof BrokerStartError ||
    e instanceof StorageFault
  );
}

export type { RunningComponent };

/** IceFlix.Trace.Requests=1: one log line per dispatch (requestObserver.ts). */
const TRACE_REQUESTS_PROP = "IceFlix.Trace.Requests";

export async function runService(
  kind: string,
  props: Ice.Properties,
  start: (communicator: Ice.Communicator, log: Logger) => Promise<RunningComponent>,
): Promise<void> {
  try {
    redirectStdio(props);
    checkSharedSecret(props);
  } catch (e) {
    process.stderr.write(`iceflix ${kind}: failed to start: ${(e as Error).message}\n`);
    process.exit(EXIT.error);
  }
  const log = createLogger(kind);
  let communicator: Ice.Communicator;
  let component: RunningComponent | undefined;
  let processObject: ProcessRegistration | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  const metricsAt = props.getProperty(METRICS_ENDPOINT_PROP).trim();
  // Ice.Process.shutdown (icegridnode stopping a deployed server) stops as SIGTERM does.
  let onProcessShutdown = () => {};
  try {
    if (metricsAt) parseMetricsEndpoint(metricsAt); // a typo fails before anything starts
    // Before the first adapter: servants are observed when they are added.
    observeRequests({ metrics: metricsAt !== "", logRequests: boolProperty(props, TRACE_REQUESTS_PROP, false), log: log.child({ ns: "request" }) });
    communicator = createCommunicator(props, log);
    component = await start(communicator, log);
    processObject = await registerProcess(communicator, log, () => onProcessShutdown());
    if (metricsAt) metricsEndpoint = await startMetricsEndpoint(metricsAt, log.child({ ns: "metrics" }));
  } catch (e) {
    await metricsEndpoint?.close();
    await component?.stop().catch(() => undefined);
    if (isExpectedStartError(e)) log.error({ error: (e as Error).message }, `${kind} failed to start`);
    else log.error({ err: e }, `${kind} failed to start`);
    // Ice's local exceptions carry no message: their type is the reason.
    const why = (e as Error).message || (e instanceof Ice.Exception ? e.ice_id() : String(e));
    process.stderr.write(`iceflix ${kind}: failed to start: ${why}\n`);
    process.exit(EXIT.error);
  }
  const ready = { event: "ready", kind, pid: process.pid, proxy: component.proxy, ...(metricsEndpoint ? { metrics: metricsEndpoint.url } : {}) };
  process.stdout.write(JSON.stringify(ready) + "\n");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `${kind} stopping`);
    // A stop that hangs must not keep the process: bounded by a hard deadline.
    setTimeout(() => {
      log.error(`${kind} did not stop within 15 s; exiting`);
      process.exit(EXIT.error);
    }, 15_000).unref();
    try {
      await metricsEndpoint?.close();
      await component.stop();
      await processObject?.stop();
      await communicator.destroy();
    } catch (e) {
      log.error({ err: e }, "error while stopping");
    }
    process.exit(EXIT.ok);
  };
  onProcessShutdown = () => void shutdown("Ice.Process.shutdown");
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
