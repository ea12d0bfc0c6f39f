/**
 * Creates the Ice communicator of a service or tool: call/connect timeouts from the IceFlix
 * properties (spec §2), the runtime's own logging routed into ours, dispatch errors mapped at the
 * boundary.
 */
import { Ice } from "../slice/index.js";
import { intProperty, PROP } from "./config.js";
import { installIceBoundary } from "./iceBoundary.js";
import type { Logger } from "./logger.js";

export const DEFAULT_CALL_TIMEOUT_MS = 5000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

export function createCommunicator(props: Ice.Properties, log: Logger): Ice.Communicator {
  const callTimeout = intProperty(props, PROP.callTimeout, DEFAULT_CALL_TIMEOUT_MS, 1, 3_600_000);
  const connectTimeout = intProperty(props, PROP.connectTimeout, DEFAULT_CONNECT_TIMEOUT_MS, 1, 3_600_000);
  const setDefault = (name: string, value: string) => {
    if (props.getProperty(name) === "") props.setProperty(name, value);
  };
  setDefault("Ice.Default.InvocationTimeout", String(callTimeout));
  setDefault("Ice.Override.ConnectTimeout", String(connectTimeout));
  // We log dispatch failures ourselves (without sending stacks); connection chatter is noise.
  setDefault("Ice.Warn.Dispatch", "0");
  setDefault("Ice.Warn.Connections", "0");
  const init = new Ice.InitializationData();
  init.properties = props;
  init.logger = new IceLogger(log.child({ ns: "ice" }));
  installIceBoundary(log.child({ ns: "dispatch" }));
  return Ice.initialize(init);
}

/** Ice.Logger on top of pino. */
class IceLogger {
  constructor(
    private readonly log: Logger,
    private readonly prefix = "",
  ) {}
  print(message: string) {
    this.log.info(message);
  }
  trace(category: string, message: string) {
    this.log.debug({ category }, message);
  }
  warning(message: string) {
    this.log.warn(message);
  }
  error(message: string) {
    this.log.error(message);
  }
  getPrefix() {
    return this.prefix;
  }
  cloneWithPrefix(prefix: string) {
    return new IceLogger(this.log.child({ prefix }), prefix);
  }
}
