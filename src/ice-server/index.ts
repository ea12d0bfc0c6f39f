/** Serving Ice over TCP from Node (the npm runtime is client-only). */
export { ServerAdapter, EndpointConfigError, type ServerAdapterOptions } from "./serverAdapter.js";
export { setDispatchErrorMapper, checkIceRuntime, TESTED_ICE_VERSIONS, type DispatchErrorMapper } from "./iceInternals.js";
export type { AcceptorEvent } from "./tcpAcceptor.js";
export { LocatorRegistrationError, type LocatorEvent } from "./locatorRegistration.js";
export { setDispatchObserver, setOutgoingContextSource, type DispatchObserver, type ServantDispatch, type OutgoingContextSource } from "./dispatchObserver.js";
