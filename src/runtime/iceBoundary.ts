/**
 * What leaves a servant on the wire (spec §0): Slice exceptions as declared; Ice's own
 * ObjectNotExist/OperationNotExist/FacetNotExist; malformed arguments as InvalidArgument; anything
 * else is logged with its stack and sent as InternalError{requestId} — never a stack trace or a
 * path. Installed once per process by createCommunicator().
 */
import { randomUUID } from "node:crypto";
import { Ice, IceFlixExt } from "../slice/index.js";
import { setDispatchErrorMapper } from "../ice-server/index.js";
import type { Logger } from "./logger.js";

export function installIceBoundary(log: Logger): void {
  setDispatchErrorMapper((error, current) => mapDispatchError(error, current, log));
}

export function mapDispatchError(error: unknown, current: Ice.Current | undefined, log: Logger): Error {
  if (error instanceof Ice.UserException) return error;
  if (error instanceof Ice.RequestFailedException) return error;
  const operation = current?.operation ?? "?";
  // Request bytes the runtime could not decode (bad encapsulation, unsupported encoding, …): the
  // caller's fault, and something a hostile peer can repeat at will, so one warn line, no stack.
  if (error instanceof Ice.ProtocolException) {
    log.warn({ operation, error: error.ice_id() }, "malformed request arguments");
    return new IceFlixExt.InvalidArgument(`malformed arguments for ${operation}`);
  }
  const requestId = randomUUID();
  log.error({ operation, requestId, err: error }, "unexpected failure in dispatch");
  return new IceFlixExt.InternalError(requestId);
}
