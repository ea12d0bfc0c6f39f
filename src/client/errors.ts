/** The client's errors: the shared ones of the Main link, and usage mistakes of its commands. */
import { EXIT } from "../common/exitCodes.js";
import { ClientError } from "../mainlink/linkErrors.js";

export { ClientError, describeError, isTransportFailure } from "../mainlink/linkErrors.js";

/** A mistake in how a command was written (exit code 2). */
export class UsageError extends ClientError {
  override name = "UsageError";
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}
