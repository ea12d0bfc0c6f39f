/** The client's commands (spec §8): names, how they are written, and what each one needs. */

export const COMMAND_NAMES = [
  "connect",
  "status",
  "login",
  "logout",
  "search",
  "tag_search",
  "select",
  "deselect",
  "rename",
  "add_tags",
  "remove_tags",
  "play",
  "stop",
  "help",
  "exit",
] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

export interface CommandSpec {
  /** In the interactive client. */
  usage: string;
  /** In the non-interactive form (`iceflix client COMMAND …`); undefined: interactive only. */
  batchUsage?: string;
  summary: string;
  /** The non-interactive form logs in first (`--user U --password-stdin`). */
  batchNeedsLogin?: boolean;
}

export const COMMANDS: Readonly<Record<CommandName, CommandSpec>> = {
  connect: { usage: "connect <proxy>", batchUsage: "connect <proxy>", summary: "connect to a Main (e.g. Main:tcp -h 127.0.0.1 -p 9095)" },
  status: { usage: "status", batchUsage: "status [--json]", summary: "connection, user, selection and playback" },
  login: { usage: "login [user]", batchUsage: "login --user U [--password-stdin]", summary: "log in (the password is asked without echo)", batchNeedsLogin: true },
  logout: { usage: "logout", summary: "log out and forget the credentials" },
  search: { usage: "search <text>", batchUsage: "search <text> [--exact] [--limit N] [--json]", summary: 'titles whose name contains the text; "quoted text" = exact name' },
  tag_search: { usage: "tag_search <tags…> [--all|--any]", batchUsage: "tag_search <tags…> [--all|--any] [--json]", summary: "titles with all (default) or any of the tags" },
  select: { usage: "select <n>", summary: "select result n of the last search" },
  deselect: { usage: "deselect", summary: "clear the selection" },
  rename: { usage: "rename <name>", batchUsage: "rename <id> <name> --user U", summary: "rename the selected title", batchNeedsLogin: true },
  add_tags: { usage: "add_tags <tags…>", batchUsage: "add_tags <id> <tags…> --user U", summary: "add tags to the selected title", batchNeedsLogin: true },
  remove_tags: { usage: "remove_tags <tags…>", batchUsage: "remove_tags <id> <tags…> --user U", summary: "remove tags from the selected title", batchNeedsLogin: true },
  play: {
    usage: "play",
    batchUsage: "play <id> --user U [--headless] [--record FILE] [--duration S] [--json]",
    summary: "stream the selected title (returns to the prompt at once)",
    batchNeedsLogin: true,
  },
  stop: { usage: "stop", summary: "stop playback" },
  help: { usage: "help [command]", batchUsage: "help", summary: "this list" },
  exit: { usage: "exit", summary: "stop everything and leave (also Ctrl+D)" },
};

export function isCommandName(word: string): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word);
}

/** The help text: one line per command. */
export function helpText(mode: "interactive" | "batch", only?: CommandName): string {
  const names = only ? [only] : COMMAND_NAMES.filter((n) => mode === "interactive" || COMMANDS[n].batchUsage);
  const usageOf = (n: CommandName) => (mode === "interactive" ? COMMANDS[n].usage : COMMANDS[n].batchUsage ?? COMMANDS[n].usage);
  const width = Math.max(...names.map((n) => usageOf(n).length));
  return names.map((n) => `  ${usageOf(n).padEnd(width)}  ${COMMANDS[n].summary}`).join("\n");
}
