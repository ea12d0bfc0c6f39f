/**
 * What a client of Main (terminal client, checker, web server) tells its user when something
 * fails: one clear line, never a stack trace. Ice exceptions become short explanations;
 * ClientError carries the exit code of a command-line form (spec §1: 0 ok, 1 error, 2 usage).
 */
import { Ice, IceFlix, IceFlixExt } from "../slice/index.js";
import { CliError } from "../common/exitCodes.js";

/** A CliError raised by a client of Main: one line and an exit code. */
export class ClientError extends CliError {
  override name = "ClientError";
}

/** The failure of a remote peer (connection refused, timeout, lost, …): worth asking Main again. */
export function isTransportFailure(e: unknown): boolean {
  return e instanceof Ice.LocalException && !(e instanceof Ice.ProxyParseException || e instanceof Ice.EndpointParseException);
}

/** One line that says what went wrong, for any error an Ice call or our code can throw. */
export function describeError(e: unknown): string {
  if (e instanceof ClientError) return e.message;
  if (e instanceof IceFlix.Unauthorized) return "not authorized";
  if (e instanceof IceFlix.WrongMediaId) return `unknown media id ${e.id}`;
  if (e instanceof IceFlix.TemporaryUnavailable) return "temporarily unavailable";
  if (e instanceof IceFlixExt.InvalidArgument) return `refused: ${e.reason}`;
  if (e instanceof IceFlixExt.Busy) return `busy: ${e.reason}`;
  if (e instanceof IceFlixExt.InternalError) return `the service failed (request id ${e.requestId})`;
  if (e instanceof Ice.ConnectionRefusedException) return "connection refused";
  if (e instanceof Ice.ConnectTimeoutException) return "connection timed out";
  if (e instanceof Ice.InvocationTimeoutException) return "no answer in time";
  if (e instanceof Ice.ObjectNotExistException) return "the object no longer exists";
  if (e instanceof Ice.ConnectionLostException || e instanceof Ice.ConnectionManuallyClosedException) return "connection lost";
  if (e instanceof Ice.CommunicatorDestroyedException) return "the client is shutting down";
  if (e instanceof Ice.DNSException) return `cannot resolve host ${e.host}`;
  if (e instanceof Ice.ProxyParseException || e instanceof Ice.EndpointParseException) return `not a valid proxy (${e.str})`;
  if (e instanceof Ice.UnknownUserException) return describeExtensionException(e.unknown);
  if (e instanceof Ice.SocketException) return "network error";
  if (e instanceof Ice.Exception) return e.ice_id().replace(/^::(Ice::)?/, "");
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Extension exceptions (spec §9) raised by operations of the original contract reach Ice 3.7
 * callers as UnknownUserException carrying only the type id, so their reason is lost on the way.
 */
function describeExtensionException(typeId: string): string {
  switch (typeId) {
    case "::IceFlixExt::Busy":
      return "busy: the service is overloaded; try again shortly";
    case "::IceFlixExt::InvalidArgument":
      return "refused: an argument is invalid (too long, empty or malformed)";
    case "::IceFlixExt::InternalError":
      return "the service failed (its log has the details)";
    default:
      return `the service refused the request (${typeId})`;
  }
}
