/** What the page is told when a call fails: every error of the contract as an HttpError with a clear line. */
import { Ice, IceFlix, IceFlixExt } from "../slice/index.js";
import { ClientError, describeError, isTransportFailure } from "../mainlink/linkErrors.js";
import { CredentialsRefused, NotLoggedIn } from "../mainlink/tokenKeeper.js";
import { HttpError } from "../runtime/httpJson.js";

export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof NotLoggedIn) return new HttpError(401, "log in first", "login");
  if (e instanceof CredentialsRefused) return new HttpError(401, e.message, "login");
  if (e instanceof IceFlix.Unauthorized) return new HttpError(401, "not authorized; log in again", "login");
  if (e instanceof IceFlix.WrongMediaId) return new HttpError(404, "no such title", "unknown-title");
  if (e instanceof IceFlix.TemporaryUnavailable) return new HttpError(503, "temporarily unavailable (no provider holds this title right now); try again shortly", "unavailable");
  if (e instanceof IceFlixExt.Busy) return new HttpError(503, `busy: ${e.reason}`, "busy");
  if (e instanceof IceFlixExt.InvalidArgument) return new HttpError(400, `refused: ${e.reason}`, "invalid");
  if (e instanceof Ice.UnknownUserException && e.unknown === "::IceFlixExt::InvalidArgument") return new HttpError(400, describeError(e), "invalid");
  if (e instanceof Ice.UnknownUserException && e.unknown === "::IceFlixExt::Busy") return new HttpError(503, describeError(e), "busy");
  if (e instanceof ClientError || isTransportFailure(e)) return new HttpError(503, describeError(e), "unavailable");
  return new HttpError(500, "the web server failed; see its log", "internal");
}
