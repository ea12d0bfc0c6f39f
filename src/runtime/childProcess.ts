/**
 * Supervision of child processes (IceStorm's icebox, services started by `up`, gst-launch):
 * each child leads its own process group, so stopping it stops everything it started; stop() is
 * SIGTERM then SIGKILL after a grace; a synchronous exit handler kills leftovers if this process
 * exits without stopping them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Logger } from "./logger.js";

export interface ChildOptions {
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here; otherwise stderr lines go to the logger. */
  logFile?: string;
  /** Each stdout line (also when logFile is set). */
  onStdoutLine?: (line: string) => void;
  /** Each stderr line (also when logFile is set). */
  onStderrLine?: (line: string) => void;
  /** Open descriptors the child gets as fd 3, 4, … (e.g. a file it must read and not reopen). */
  extraFds?: readonly number[];
  /**
   * Lead a process group of its own (default). false keeps the child in our group, so whoever
   * kills our group kills it too (icebox under `iceflix broker`).
   */
  ownGroup?: boolean;
  log: Logger;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<SupervisedChild>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  // Must be synchronous: it runs in the 'exit' event.
  process.on("exit", () => {
    for (const child of live) child.killNow();
  });
}

export class SupervisedChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<ChildExit>;
  #exit: ChildExit | undefined;
  #stopping: Promise<ChildExit> | undefined;
  #logStream: WriteStream | undefined;
  readonly #ownGroup: boolean;

  private constructor(options: ChildOptions) {
    this.name = options.name;
    installExitHandler();
    // A log file on a full or read-only disk must not take this process down (an unhandled
    // 'error'): its lines are dropped, one warning, and the file is reopened every 10 s.
    let brokenSince = 0;
    let warned = false;
    const openLog = (): WriteStream | undefined => {
      if (!options.logFile) return undefined;
      const stream = createWriteStream(options.logFile, { flags: "a" });
      stream.on("error", (e) => {
        brokenSince = Date.now();
        if (warned) return;
        warned = true;
        options.log.warn({ child: this.name, file: options.logFile, error: e.message }, "cannot write a child's log file; its lines are dropped until it can");
      });
      return stream;
    };
    this.#logStream = openLog();
    const writeLog = (line: string): void => {
      if (brokenSince && Date.now() - brokenSince >= 10_000) {
        brokenSince = 0;
        this.#logStream = openLog();
      }
      if (brokenSince || !this.#logStream) return;
      this.#logStream.write(line + "\n", (e) => {
        if (e || !warned) return;
        warned = false;
        options.log.info({ child: this.name, file: options.logFile }, "a child's log file is writable again");
      });
    };
    const logStream = this.#logStream;
    this.#ownGroup = options.ownGroup ?? true;
    this.process = spawn(options.command, [...options.args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: this.#ownGroup, // own process group: kill(-pid) reaches its children too
      stdio: ["ignore", "pipe", "pipe", ...(options.extraFds ?? [])], // 0: none; 1, 2: read below; 3…: extraFds
    });
    // An 'error' (e.g. ENOENT) is reported through `exited`; never let it be unhandled.
    const spawnError = new Promise<ChildExit>((resolve) =>
      this.process.once("error", (error: NodeJS.ErrnoException) => {
        options.log.error({ child: this.name, error: error.message }, "cannot start process");
        resolve({ code: error.code === "ENOENT" ? 127 : 126, signal: null });
      }),
    );
    const closed = new Promise<ChildExit>((resolve) =>
      this.process.once("exit", (code, signal) => resolve({ code, signal })),
    );
    this.exited = Promise.race([spawnError, closed]).then((exit) => {
      this.#exit = exit;
      live.delete(this);
      // Whatever the leader started dies with it, however it ended.
      this.#killGroup();
      return exit;
    });
    live.add(this);
    const out = createInterface({ input: this.process.stdout! });
    out.on("line", (line) => {
      writeLog(line);
      options.onStdoutLine?.(line);
    });
    const err = createInterface({ input: this.process.stderr! });
    err.on("line", (line) => {
      if (logStream) writeLog(line);
      else options.log.debug({ child: this.name, pid: this.process.pid }, line);
      options.onStderrLine?.(line);
    });
    void this.exited.then(() => setTimeout(() => this.#logStream?.end(), 100).unref());
  }

  static spawn(options: ChildOptions): SupervisedChild {
    return new SupervisedChild(options);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.#exit === undefined && this.process.pid !== undefined;
  }

  /** Sends `signal` to the child (to its whole group when it leads one). */
  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.process.pid === undefined) return;
    try {
      process.kill(this.#ownGroup ? -this.process.pid : this.process.pid, signal);
    } catch {
      // Already gone.
    }
  }

  #killGroup(): void {
    if (!this.#ownGroup || this.process.pid === undefined) return;
    try {
      process.kill(-this.process.pid, "SIGKILL");
    } catch {
      // None left.
    }
  }

  /** SIGKILL to the group, synchronously. */
  killNow(): void {
    this.signal("SIGKILL");
  }

  /**
   * Graceful stop: `signal` (default SIGTERM) to the group, SIGKILL after graceMs. Idempotent;
   * resolves with the exit.
   */
  stop(graceMs = 5000, signal: NodeJS.Signals = "SIGTERM"): Promise<ChildExit> {
    this.#stopping ??= (async () => {
      if (!this.running) return this.exited;
      this.signal(signal);
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.killNow();
          resolve();
        }, graceMs);
      });
      await Promise.race([this.exited, killed]);
      clearTimeout(timer);
      const exit = await this.exited;
      this.#logStream?.end();
      return exit;
    })();
    return this.#stopping;
  }
}
