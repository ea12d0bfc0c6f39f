/** Tab completion at the prompt: command names, then what fits the command (tags, numbers). */
import { COMMAND_NAMES } from "./commands.js";

export interface CompletionContext {
  /** Tags seen in results so far. */
  tags: readonly string[];
  /** Rows in the last results (for select). */
  resultCount: number;
}

function quoteIfNeeded(word: string): string {
  return /[\s"'\\]/.test(word) ? `"${word.replace(/["\\]/g, "\\$&")}"` : word;
}

/** readline's completer contract: [candidates, the text they complete]. */
export function complete(line: string, ctx: CompletionContext): [string[], string] {
  const leading = line.match(/^\s*/)![0];
  const body = line.slice(leading.length);
  if (!/\s/.test(body)) {
    const hits = COMMAND_NAMES.filter((c) => c.startsWith(body));
    // One hit: complete it with a space, ready for arguments.
    return [hits.length === 1 ? [`${hits[0]} `] : [...hits], body];
  }
  const command = body.split(/\s+/)[0]!;
  const partial = body.match(/(\S*)$/)![1]!;
  let candidates: string[] = [];
  switch (command) {
    case "help":
      candidates = [...COMMAND_NAMES];
      break;
    case "tag_search":
      candidates = ["--all", "--any", ...ctx.tags.map(quoteIfNeeded)];
      break;
    case "add_tags":
    case "remove_tags":
      candidates = ctx.tags.map(quoteIfNeeded);
      break;
    case "select":
      candidates = Array.from({ length: Math.min(ctx.resultCount, 200) }, (_, i) => String(i + 1));
      break;
  }
  return [candidates.filter((c) => c.startsWith(partial)), partial];
}
