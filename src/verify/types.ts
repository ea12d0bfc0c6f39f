/** One conformance check and its outcome (docs/verify.md has the JSON shape). */
import type { IceFlix } from "../slice/index.js";
import type { MainLink } from "../mainlink/mainLink.js";
import type { EventWatch } from "./events.js";

export type Status = "pass" | "fail" | "skip";

export interface CheckResult {
  group: string;
  name: string;
  status: Status;
  /** One line: why it passed, failed or was skipped. */
  reason: string;
  /** What was sent, what came back, timings. */
  evidence: string;
  ms: number;
}

/** Thrown by a check to fail with evidence; `Skip` to skip with a reason. */
export class CheckFailed extends Error {
  constructor(
    message: string,
    readonly evidence = "",
  ) {
    super(message);
  }
}
export class CheckSkipped extends Error {}

/** What a check body returns when it passes: the reason and evidence. */
export interface Passed {
  reason: string;
  evidence?: string;
}

export interface VerifyContext {
  main: IceFlix.MainPrx;
  /** Hand-outs with retries (the shared Main link). */
  link: MainLink;
  user?: string;
  passwordHash?: string;
  /** The plain password, only to check it is refused as a credential. */
  password?: string;
  mediaDir?: string;
  tokenLifetimeSeconds?: number;
  fast: boolean;
  /** IceStorm (--topic-manager, or the broker Main names through MainExt). */
  events?: EventWatch;
  /** Why `events` is missing: the reason checks that need it are skipped with. */
  eventsMissing: string;
  /** How often the services announce themselves on ServiceAvailability (--announce-period). */
  announcePeriodSeconds: number;
  /** Operator commands for what the contract has no operation for (docs/verify.md). */
  hooks: Hooks;
  /** Undo actions registered by edits, run at the end (and on Ctrl+C). */
  undo: UndoLog;
  /** Progress lines for slow checks. */
  progress(line: string): void;
}

export interface Hooks {
  addUser?: string;
  removeUser?: string;
  stopServices?: string;
  startServices?: string;
}

export interface Check {
  name: string;
  /** Waits for token expiry: skipped by --fast. */
  slow?: boolean;
  run(ctx: VerifyContext): Promise<Passed>;
}

export interface CheckGroup {
  name: string;
  checks: Check[];
}

/** Edits to put back, newest first. */
export class UndoLog {
  #steps: Array<{ what: string; run: () => Promise<unknown> }> = [];
  add(what: string, run: () => Promise<unknown>): void {
    this.#steps.push({ what, run });
  }
  /** Runs every undo step once; returns the ones that failed. */
  async runAll(): Promise<string[]> {
    const failed: string[] = [];
    while (this.#steps.length) {
      const step = this.#steps.pop()!;
      try {
        await step.run();
      } catch (e) {
        failed.push(`${step.what}: ${(e as Error).message ?? e}`);
      }
    }
    return failed;
  }
}
