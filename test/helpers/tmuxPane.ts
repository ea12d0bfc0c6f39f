/**
 * A program in a real pseudo-terminal, driven like a person would: tmux on its own socket (so it
 * never touches another tmux), keys sent with send-keys, the screen and its scrollback read with
 * capture-pane. Every wait is bounded; kill() stops the tmux server by its pid.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function tmux(socket: string, config: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("tmux", ["-L", socket, "-f", config, ...args], { timeout: timeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`tmux ${args[0]}: ${stderr.trim() || error.message}`)) : resolve(stdout),
    );
  });
}

/** POSIX shell quoting, for the command tmux runs. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export class TmuxPane {
  readonly #socket: string;
  readonly #dir: string;
  readonly #config: string;
  #serverPid: number | undefined;

  private constructor(dir: string) {
    this.#dir = dir;
    this.#socket = `iceflix-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    this.#config = join(dir, "tmux.conf");
    // Keep the pane after the program exits (to read its last words and exit status); long scrollback.
    writeFileSync(this.#config, "set -g remain-on-exit on\nset -g history-limit 50000\nset -g status off\n");
  }

  /**
   * Runs `command` (argv) with `env` changes (undefined = unset) in a new 220×50 terminal. A shell
   * around it prints `[exited with status N]` when it ends (tmux alone does not always know the
   * status of a dead pane); `stderrFile` receives the program's stderr instead of the screen.
   */
  static async start(command: string[], env: Record<string, string | undefined> = {}, stderrFile?: string): Promise<TmuxPane> {
    const pane = new TmuxPane(mkdtempSync(join(tmpdir(), "iceflix-tmux-")));
    const unset = Object.entries(env).filter(([, v]) => v === undefined).flatMap(([k]) => ["-u", k]);
    const set = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    const script = `"$@"${stderrFile ? ` 2>>${shellQuote(stderrFile)}` : ""}; echo "[exited with status $?]"`;
    const line = ["env", ...unset, ...set, "sh", "-c", script, "sh", ...command].map(shellQuote).join(" ");
    await tmux(pane.#socket, pane.#config, ["new-session", "-d", "-s", "t", "-x", "220", "-y", "50", line]);
    pane.#serverPid = Number((await tmux(pane.#socket, pane.#config, ["display-message", "-p", "-t", "t", "#{pid}"])).trim());
    return pane;
  }

  /** Everything the terminal showed, scrollback included; wrapped lines joined, trailing blanks gone. */
  async screen(): Promise<string> {
    const text = await tmux(this.#socket, this.#config, ["capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "t"]);
    return text
      .split("\n")
      .map((line) => line.trimEnd())
      .join("\n")
      .replace(/\s+$/, "");
  }

  async lines(): Promise<string[]> {
    return (await this.screen()).split("\n");
  }

  /** Types `text` (literally) and, unless told otherwise, Enter. */
  async type(text: string, enter = true): Promise<void> {
    if (text) await tmux(this.#socket, this.#config, ["send-keys", "-t", "t", "-l", "--", text]);
    if (enter) await tmux(this.#socket, this.#config, ["send-keys", "-t", "t", "Enter"]);
  }

  /** Sends named keys (C-c, C-d, Up, Tab, …). */
  async keys(...keys: string[]): Promise<void> {
    await tmux(this.#socket, this.#config, ["send-keys", "-t", "t", ...keys]);
  }

  /** Polls the screen until `test` holds (bounded); returns the screen. */
  async waitFor(what: string, test: (screen: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen();
      if (test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the screen shows:\n${screen.split("\n").slice(-40).join("\n")}`);
  }

  /**
   * Types a line and waits until the program prints a prompt again (a last line matching
   * `prompt`, after the typed line). Returns what was shown from the typed line on.
   */
  async run(line: string, prompt: RegExp, timeoutMs = 20_000): Promise<string> {
    const before = (await this.lines()).length;
    await this.type(line);
    const screen = await this.waitFor(`the prompt after "${line}"`, (s) => {
      const lines = s.split("\n");
      return lines.length > before && prompt.test(lines.at(-1)!);
    }, timeoutMs);
    return screen.split("\n").slice(before - 1).join("\n");
  }

  /** The pane's shell while it runs (its pid leads the process group of the pane), else undefined. */
  async #livePanePid(): Promise<number | undefined> {
    const [dead, pid] = (await tmux(this.#socket, this.#config, ["display-message", "-p", "-t", "t", "#{pane_dead} #{pane_pid}"])).trim().split(" ");
    return dead === "1" ? undefined : Number(pid);
  }

  /** Waits (bounded) until the program has exited; returns its exit status (128+n for signal n). */
  async waitForExit(timeoutMs: number): Promise<number> {
    // The line may start with whatever the program left on it (e.g. its prompt, after Ctrl+D).
    const screen = await this.waitFor("the program to exit", (s) => /\[exited with status \d+\]$/m.test(s), timeoutMs);
    return Number(/\[exited with status (\d+)\]$/m.exec(screen)![1]);
  }

  /** Stops the program and the tmux server (by pid if it does not go), removes the config. */
  async kill(): Promise<void> {
    try {
      const pid = await this.#livePanePid();
      if (pid && pid > 0) process.kill(-pid, "SIGTERM");
      await new Promise((r) => setTimeout(r, 300));
    } catch {
      // The server or the program may be gone already.
    }
    await tmux(this.#socket, this.#config, ["kill-server"], 5000).catch(() => undefined);
    if (this.#serverPid) {
      try {
        process.kill(this.#serverPid, "SIGKILL");
      } catch {
        // Gone, as it should be.
      }
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
