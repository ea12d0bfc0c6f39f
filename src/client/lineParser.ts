/**
 * Reading one line typed at the interactive prompt: shell-like words ("double" or 'single'
 * quotes group, backslash escapes), then the command and its arguments. A search text given as
 * one quoted string is an exact-name search (spec §8).
 */
import { isCommandName, type CommandName } from "./commands.js";
import { UsageError } from "./errors.js";

export interface Word {
  text: string;
  /** The whole word was one quoted string ("a b" or 'a b'). */
  quoted: boolean;
}

export type ParsedCommand =
  | { name: "connect"; proxy: string }
  | { name: "status" | "logout" | "deselect" | "play" | "stop" | "exit" }
  | { name: "login"; user?: string }
  | { name: "search"; text: string; exact: boolean }
  | { name: "tag_search"; tags: string[]; all: boolean }
  | { name: "select"; index: number }
  | { name: "rename"; newName: string }
  | { name: "add_tags" | "remove_tags"; tags: string[] }
  | { name: "help"; topic?: CommandName };

/** Splits a line into words. Throws UsageError for an unterminated quote. */
export function splitWords(line: string): Word[] {
  const words: Word[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    let text = "";
    let quotedParts = 0;
    let plainParts = 0;
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '"' || c === "'") {
        const close = c;
        i++;
        let closed = false;
        while (i < line.length) {
          const d = line[i]!;
          if (d === close) {
            closed = true;
            i++;
            break;
          }
          if (d === "\\" && close === '"' && i + 1 < line.length) {
            text += line[i + 1];
            i += 2;
            continue;
          }
          text += d;
          i++;
        }
        if (!closed) throw new UsageError(`unterminated ${close === '"' ? "double" : "single"} quote`);
        quotedParts++;
      } else if (c === "\\" && i + 1 < line.length) {
        text += line[i + 1];
        i += 2;
        plainParts++;
      } else {
        text += c;
        i++;
        plainParts++;
      }
    }
    words.push({ text, quoted: quotedParts === 1 && plainParts === 0 });
  }
  return words;
}

/** The text after the first word, as typed (for proxies, whose syntax has its own quoting). */
function restOfLine(line: string): string {
  return line.trim().replace(/^\S+\s*/, "");
}

function noArguments(name: CommandName, args: Word[]): void {
  if (args.length > 0) throw new UsageError(`${name} takes no arguments`);
}

/** Several words joined by one space, or the text of a single quoted word. */
function joined(args: Word[]): string {
  return args.map((w) => w.text).join(" ");
}

/** Parses a typed line; undefined for a blank line. Throws UsageError for what cannot be run. */
export function parseLine(line: string): ParsedCommand | undefined {
  const words = splitWords(line);
  if (words.length === 0) return undefined;
  const [first, ...args] = words;
  const word = first!.text;
  if (!isCommandName(word)) throw new UsageError(`unknown command "${word}" (type help for the list)`);
  switch (word) {
    case "connect": {
      let proxy = restOfLine(line);
      if (args.length === 1 && args[0]!.quoted) proxy = args[0]!.text;
      if (!proxy) throw new UsageError("usage: connect <proxy>, e.g. connect Main:tcp -h 127.0.0.1 -p 9095");
      return { name: "connect", proxy };
    }
    case "login":
      if (args.length > 1) throw new UsageError("usage: login [user]");
      return args[0] ? { name: "login", user: args[0].text } : { name: "login" };
    case "search": {
      if (args.length === 1 && args[0]!.quoted) return { name: "search", text: args[0]!.text, exact: true };
      return { name: "search", text: joined(args), exact: false };
    }
    case "tag_search": {
      let all: boolean | undefined;
      const tags: string[] = [];
      for (const w of args) {
        if (!w.quoted && (w.text === "--all" || w.text === "--any")) {
          const wantAll = w.text === "--all";
          if (all !== undefined && all !== wantAll) throw new UsageError("give --all or --any, not both");
          all = wantAll;
        } else {
          tags.push(w.text);
        }
      }
      if (tags.length === 0) throw new UsageError("usage: tag_search <tags…> [--all|--any]");
      return { name: "tag_search", tags, all: all ?? true };
    }
    case "select": {
      if (args.length !== 1 || !/^\d+$/.test(args[0]!.text) || Number(args[0]!.text) < 1) {
        throw new UsageError("usage: select <n>, where n is a result number from the last search");
      }
      return { name: "select", index: Number(args[0]!.text) };
    }
    case "rename": {
      const newName = joined(args).trim();
      if (!newName) throw new UsageError("usage: rename <new name>");
      return { name: "rename", newName };
    }
    case "add_tags":
    case "remove_tags": {
      if (args.length === 0) throw new UsageError(`usage: ${word} <tags…>`);
      return { name: word, tags: args.map((w) => w.text) };
    }
    case "help": {
      if (args.length > 1) throw new UsageError("usage: help [command]");
      if (args[0] && !isCommandName(args[0].text)) throw new UsageError(`unknown command "${args[0].text}"`);
      return args[0] ? { name: "help", topic: args[0].text as CommandName } : { name: "help" };
    }
    default:
      noArguments(word, args);
      return { name: word };
  }
}
