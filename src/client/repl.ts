/**
 * The interactive client (spec §8): one command per line, run one at a time; the prompt shows
 * connection, user, selection and playback. Errors are one line each; the prompt always comes
 * back. `exit` or Ctrl+D stop everything the session started.
 */
import { passwordHash } from "../common/password.js";
import { helpText } from "./commands.js";
import { describeError } from "./errors.js";
import { parseLine, type ParsedCommand } from "./lineParser.js";
import { promptText } from "./prompt.js";
import { playbackText, searchText, statusText, titleText } from "./render.js";
import type { ClientSession } from "./session.js";
import type { Terminal } from "./terminal.js";
import { formatSeconds } from "../mainlink/mainLink.js";
import type { Logger } from "../runtime/logger.js";
import { newTraceId, withTraceId } from "../runtime/traceContext.js";

export interface ReplStart {
  /** Connect to this Main first. */
  proxy?: string;
  /** Log in as this user first (the password is asked). */
  user?: string;
}

export class Repl {
  #queue: Promise<void> = Promise.resolve();
  #done: ((code: number) => void) | undefined;
  #exiting = false;

  constructor(
    private readonly session: ClientSession,
    private readonly term: Terminal,
    private readonly log: Logger,
    /** --trace: print each command's trace id before it runs. */
    private readonly showTrace = false,
  ) {}

  /** Runs until exit / Ctrl+D; resolves with the exit code. */
  run(start: ReplStart): Promise<number> {
    const finished = new Promise<number>((resolve) => (this.#done = resolve));
    const { rl } = this.term;
    rl.on("line", (line) => {
      this.#queue = this.#queue.then(() => this.#handle(line));
    });
    rl.on("close", () => {
      // Ctrl+D, or the input ended (piped commands): leave like `exit`.
      this.log.debug("input closed");
      if (!this.#exiting) {
        // Ctrl+D leaves the cursor after the prompt: end the line, as shells do.
        this.term.busy = true;
        this.term.print("");
      }
      this.#queue = this.#queue.then(() => this.#exit());
    });
    rl.on("SIGINT", () => {
      const what = this.term.interrupt();
      this.log.debug({ what }, "Ctrl+C");
      if (what === "empty") this.term.print("(type exit or press Ctrl+D to leave)");
      if (what !== "cancelled-question") this.#prompt();
    });
    this.#queue = this.#queue.then(() => this.#begin(start));
    return finished;
  }

  async #begin(start: ReplStart): Promise<void> {
    this.term.busy = true;
    this.term.print("IceFlix client. Type help for the commands, exit to leave.");
    if (start.proxy) {
      await this.#guard(() => this.#connect(start.proxy!));
      if (start.user && this.session.link?.state === "connected") await this.#guard(() => this.#login(start.user));
    } else {
      this.term.print("not connected: connect <proxy>, e.g. connect Main:tcp -h 127.0.0.1 -p 9095 (or start IceFlix with iceflix up)");
    }
    this.#prompt();
  }

  #prompt(): void {
    if (this.#exiting) return;
    this.term.busy = false;
    this.term.setPrompt(this.promptNow());
    this.term.prompt();
  }

  promptNow(): string {
    const link = this.session.link;
    return promptText({
      link: link ? { label: link.label, state: link.state } : undefined,
      user: this.session.user,
      selection: this.session.selection,
      playing: this.session.playing,
    });
  }

  /** Background news: printed above the prompt, which is redrawn as it now is. */
  notice(line: string): void {
    if (this.#exiting) return;
    if (!this.term.busy) this.term.setPrompt(this.promptNow());
    this.term.print(line);
  }

  async #handle(line: string): Promise<void> {
    if (this.#exiting) return;
    this.term.busy = true;
    let command: ParsedCommand | undefined;
    try {
      command = parseLine(line);
    } catch (e) {
      this.term.print(`error: ${describeError(e)}`);
    }
    if (command) this.log.debug({ command: command.name }, "command");
    if (command?.name === "exit") return this.#exit();
    if (command) await this.#guard(() => this.#run(command));
    this.#prompt();
  }

  /** One trace id per command: sent with its calls, shown with its error. */
  async #guard(fn: () => Promise<void>): Promise<void> {
    const traceId = newTraceId();
    if (this.showTrace) this.term.print(`trace ${traceId}`);
    try {
      await withTraceId(traceId, fn);
    } catch (e) {
      this.term.print(`error: ${describeError(e)}`);
      this.term.print(`  trace ${traceId}`);
    }
  }

  async #connect(proxy: string): Promise<void> {
    this.term.print(`connecting to ${proxy}`);
    const facts = await this.session.connect(proxy);
    const lifetime = facts.tokenLifetimeSeconds !== undefined ? `; tokens last ${formatSeconds(facts.tokenLifetimeSeconds * 1000)}` : "";
    this.term.print(`connected to Main at ${this.session.link!.label} (${facts.ext ? "IceFlix MainExt" : "IceFlix Main"}${lifetime})`);
  }

  async #login(user?: string): Promise<void> {
    await this.session.ensureConnected();
    const name = user ?? (await this.term.ask("User: ")).trim();
    const password = await this.term.askHidden("Password: ");
    await this.session.login(name, passwordHash(password));
    this.term.print(`logged in as ${name}`);
  }

  async #run(c: ParsedCommand): Promise<void> {
    const s = this.session;
    const say = (text: string) => this.term.print(text);
    switch (c.name) {
      case "connect":
        return this.#connect(c.proxy);
      case "status":
        return say(statusText(await s.status()));
      case "login":
        return this.#login(c.user);
      case "logout": {
        const user = await s.logout();
        return say(user ? `logged out ${user}` : "not logged in");
      }
      case "search":
        return say(searchText(await s.search(c.text, c.exact)));
      case "tag_search":
        return say(searchText(await s.tagSearch(c.tags, c.all)));
      case "select": {
        const t = s.select(c.index);
        return say(`selected #${t.n} ${titleText(t)}`);
      }
      case "deselect":
        return say(s.deselect() ? "selection cleared" : "nothing was selected");
      case "rename":
        return say(`renamed: ${titleText(await s.rename(c.newName))}`);
      case "add_tags":
        return say(`tags added: ${titleText(await s.addTags(c.tags))}`);
      case "remove_tags":
        return say(`tags removed: ${titleText(await s.removeTags(c.tags))}`);
      case "play": {
        const p = await s.play();
        return say(`playing ${playbackText(p)}\n(type stop to end it, status to see progress)`);
      }
      case "stop": {
        const p = await s.stop();
        return say(p ? `stopped ${playbackText(p)}` : "nothing is playing");
      }
      case "help":
        return say(c.topic ? helpText("interactive", c.topic) : `Commands:\n${helpText("interactive")}`);
      case "exit":
        return this.#exit();
    }
  }

  async #exit(): Promise<void> {
    if (this.#exiting) return;
    this.#exiting = true;
    this.log.debug("leaving");
    this.term.busy = true;
    if (this.session.playing) this.term.print("stopping playback");
    this.term.close();
    await this.session.close();
    this.#done?.(0);
  }
}
