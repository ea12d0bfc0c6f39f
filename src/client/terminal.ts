/**
 * The interactive terminal: a readline prompt with history (kept in the data folder) and tab
 * completion, hidden password entry that never reaches the screen or the history, and news
 * printed above the prompt without disturbing what the user is typing.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface, type Interface } from "node:readline";
import { Writable } from "node:stream";
import { complete, type CompletionContext } from "./completion.js";

const HISTORY_SIZE = 500;

/** stdout, or nothing while a password is typed; columns and resizes pass through for readline. */
class MutableOutput extends Writable {
  muted = false;
  constructor(readonly target: NodeJS.WriteStream) {
    super();
    target.on("resize", () => this.emit("resize"));
  }
  get columns(): number | undefined {
    return this.target.columns;
  }
  get rows(): number | undefined {
    return this.target.rows;
  }
  get isTTY(): boolean {
    return this.target.isTTY === true;
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    if (!this.muted) this.target.write(chunk);
    done();
  }
}

/** Internals of readline.Interface we rely on (public in behaviour, missing from the types). */
interface ReadlineInternals {
  historySize: number;
  history: string[];
  clearLine(): void;
  prevRows: number;
  line: string;
}

export interface TerminalOptions {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  historyFile?: string;
  completion: () => CompletionContext;
}

export class Terminal {
  readonly rl: Interface;
  readonly #out: MutableOutput;
  readonly #raw: NodeJS.WriteStream;
  readonly interactive: boolean;
  /** No prompt is on screen (a command runs, or none was shown yet): print straight away. */
  busy = true;
  #question: AbortController | undefined;

  constructor(options: TerminalOptions) {
    this.#raw = options.output;
    this.#out = new MutableOutput(options.output);
    this.interactive = options.input.isTTY === true && options.output.isTTY === true;
    this.rl = createInterface({
      input: options.input,
      output: this.#out,
      terminal: this.interactive,
      historySize: this.interactive ? HISTORY_SIZE : 0,
      removeHistoryDuplicates: true,
      history: this.interactive ? loadHistory(options.historyFile) : [],
      completer: (line: string) => complete(line, options.completion()),
      tabSize: 4,
    });
    if (this.interactive && options.historyFile) {
      const file = options.historyFile;
      this.rl.on("history", (history: string[]) => saveHistory(file, history));
    }
  }

  /** A line of output (above the prompt when the user is at it). */
  print(text: string): void {
    if (this.interactive && this.#out.muted) {
      // A password is being typed: show the news, then the question again (what was typed stays hidden).
      this.#raw.write(`\r\x1b[J${text}\n${this.rl.getPrompt()}`);
      return;
    }
    if (this.busy || !this.interactive) {
      this.#raw.write(text + "\n");
      return;
    }
    const internals = this.rl as unknown as ReadlineInternals;
    // Go to the start of the input (it may span rows), clear it, print, then redraw it.
    const rows = this.rl.getCursorPos().rows;
    this.#raw.write(`\r${rows > 0 ? `\x1b[${rows}A` : ""}\x1b[J${text}\n`);
    internals.prevRows = 0;
    this.rl.prompt(true);
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
  }

  prompt(): void {
    this.rl.prompt();
  }

  /** Asks a visible question (e.g. the user name). */
  ask(question: string): Promise<string> {
    return this.#ask(question, false);
  }

  /** Asks without echo; the answer is kept out of the history. */
  askHidden(question: string): Promise<string> {
    return this.#ask(question, true);
  }

  async #ask(question: string, hidden: boolean): Promise<string> {
    const internals = this.rl as unknown as ReadlineInternals;
    const historySize = internals.historySize;
    internals.historySize = 0; // answers never enter the history
    const abort = new AbortController();
    this.#question = abort;
    try {
      const answer = new Promise<string>((resolve, reject) => {
        this.rl.question(question, { signal: abort.signal }, resolve);
        abort.signal.addEventListener("abort", () => reject(new Error("cancelled")), { once: true });
      });
      // The question is on screen now; what is typed next stays off it.
      if (hidden && this.interactive) this.#out.muted = true;
      return await answer;
    } finally {
      if (this.#out.muted) {
        this.#out.muted = false;
        this.#raw.write("\n");
      }
      internals.historySize = historySize;
      this.#question = undefined;
    }
  }

  /** Ctrl+C: cancels a question, else clears the line being typed. */
  interrupt(): "cancelled-question" | "cleared" | "empty" {
    if (this.#question) {
      this.#question.abort();
      return "cancelled-question";
    }
    const internals = this.rl as unknown as ReadlineInternals;
    const hadText = internals.line.length > 0;
    internals.clearLine();
    return hadText ? "cleared" : "empty";
  }

  close(): void {
    this.rl.close();
  }
}

/** History file: oldest line first; readline wants the newest first. */
function loadHistory(file: string | undefined): string[] {
  if (!file || !existsSync(file)) return [];
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveHistory(file: string, newestFirst: string[]): void {
  try {
    writeFileSync(file, [...newestFirst].reverse().join("\n") + "\n", { mode: 0o600 });
  } catch {
    // History is a convenience; a read-only data folder must not break the client.
  }
}
