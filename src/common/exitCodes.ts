/** Exit codes of `bin/iceflix` (spec §1). */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  alreadyRunning: 3,
  notRunning: 4,
} as const;

/** An error the CLI reports as one clear line (no stack) with its exit code. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
