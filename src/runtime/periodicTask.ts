/**
 * A task run every `periodMs`, the next run scheduled only after the previous one finished (so a
 * slow run never overlaps the next). Failures are logged and the schedule goes on.
 */
import type { Logger } from "./logger.js";

export class PeriodicTask {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly name: string,
    private readonly periodMs: number,
    private readonly task: () => Promise<unknown> | unknown,
    private readonly log: Logger,
  ) {}

  /** Starts the schedule; the first run is one period from now. */
  start(): this {
    this.#schedule();
    return this;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(async () => {
      try {
        await this.task();
      } catch (e) {
        this.log.error({ err: e, task: this.name }, "periodic task failed");
      }
      this.#schedule();
    }, this.periodMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

/** The periodic liveness sweep of a service's registries (spec §2). */
export function sweepRegistries(
  registries: ReadonlyArray<{ sweep(): Promise<void> }>,
  periodMs: number,
  log: Logger,
  alsoEachPeriod?: () => void,
): PeriodicTask {
  return new PeriodicTask(
    "registry sweep",
    periodMs,
    async () => {
      alsoEachPeriod?.();
      await Promise.all(registries.map((r) => r.sweep()));
    },
    log,
  ).start();
}
