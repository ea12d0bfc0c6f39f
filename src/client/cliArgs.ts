/**
 * The arguments of `iceflix client [PROXY] [--main PROXY] [--data D] [COMMAND ARGS…]` (spec §8):
 * the first positional word that is a command name is the command, never a proxy; any other
 * first word is the Main proxy. Options may appear anywhere; `--` ends them.
 */
import { COMMANDS, isCommandName, type CommandName } from "./commands.js";
import { UsageError } from "./errors.js";

export interface ClientArgs {
  proxy?: string;
  data?: string;
  command?: CommandName;
  /** The command's positional arguments. */
  args: string[];
  json: boolean;
  user?: string;
  passwordStdin: boolean;
  exact: boolean;
  /** tag_search: true = --all, false = --any, undefined = not given. */
  all?: boolean;
  limit?: number;
  /** Connection attempts before giving up. */
  retries?: number;
  retryDelayMs?: number;
  headless: boolean;
  record?: string;
  durationMs?: number;
  help: boolean;
  /** --trace: print each command's trace id (it is printed with every error anyway). */
  trace: boolean;
}

type ValueOption = "--main" | "--data" | "--user" | "--limit" | "--retries" | "--retry-delay" | "--record" | "--duration";
const VALUE_OPTIONS: readonly ValueOption[] = ["--main", "--data", "--user", "--limit", "--retries", "--retry-delay", "--record", "--duration"];
const FLAGS = ["--json", "--password-stdin", "--exact", "--all", "--any", "--headless", "--help", "--trace"] as const;

function wholeNumber(option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${option} must be a whole number between ${min} and ${max}`);
  }
  return Number(value);
}

/** Seconds, decimals allowed (e.g. 0.5), as milliseconds. */
function seconds(option: string, value: string, max: number): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > max) throw new UsageError(`${option} must be a number of seconds (at most ${max})`);
  return Math.round(Number(value) * 1000);
}

export function parseClientArgs(argv: readonly string[]): ClientArgs {
  const out: ClientArgs = { args: [], json: false, passwordStdin: false, exact: false, headless: false, help: false, trace: false };
  const positionals: string[] = [];
  let optionsEnded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (optionsEnded || !arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      optionsEnded = true;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      setValue(out, name as ValueOption, value);
      continue;
    }
    if ((FLAGS as readonly string[]).includes(name) && eq < 0) {
      setFlag(out, name as (typeof FLAGS)[number]);
      continue;
    }
    if (arg === "-h") {
      out.help = true;
      continue;
    }
    throw new UsageError(
      `unknown option ${name}` + (/^-[a-z]$/.test(name) ? " (a proxy must be one quoted word: 'Main:tcp -h HOST -p PORT')" : ""),
    );
  }

  // The first word that is a command name is the command; a word before it is the proxy.
  if (positionals.length > 0) {
    const first = positionals[0]!;
    if (isCommandName(first)) {
      out.command = first;
      out.args = positionals.slice(1);
    } else {
      // A proxy has endpoints ("Main:tcp -h … -p …") or an adapter ("Main@Adapter"); a lone word is a mistyped command.
      if (!/[:@]/.test(first)) throw new UsageError(`unknown command "${first}" (iceflix client --help lists them)`);
      setProxy(out, first);
      const second = positionals[1];
      if (second !== undefined) {
        if (!isCommandName(second)) throw new UsageError(`unknown command "${second}" (iceflix client help lists them)`);
        out.command = second;
        out.args = positionals.slice(2);
      }
    }
  }
  checkCombination(out);
  return out;
}

function setProxy(out: ClientArgs, proxy: string): void {
  if (out.proxy !== undefined && out.proxy !== proxy) throw new UsageError("give the Main proxy once (as PROXY or --main)");
  out.proxy = proxy;
}

function setValue(out: ClientArgs, name: ValueOption, value: string): void {
  switch (name) {
    case "--main":
      return setProxy(out, value);
    case "--data":
      out.data = value;
      return;
    case "--user":
      if (!value) throw new UsageError("--user needs a user name");
      out.user = value;
      return;
    case "--limit":
      out.limit = wholeNumber(name, value, 1, 100_000);
      return;
    case "--retries":
      out.retries = wholeNumber(name, value, 1, 1000);
      return;
    case "--retry-delay":
      out.retryDelayMs = seconds(name, value, 3600);
      return;
    case "--record":
      if (!value) throw new UsageError("--record needs a file name");
      out.record = value;
      return;
    case "--duration":
      out.durationMs = seconds(name, value, 86_400);
      return;
  }
}

function setFlag(out: ClientArgs, name: (typeof FLAGS)[number]): void {
  switch (name) {
    case "--json":
      out.json = true;
      return;
    case "--password-stdin":
      out.passwordStdin = true;
      return;
    case "--exact":
      out.exact = true;
      return;
    case "--all":
    case "--any":
      if (out.all !== undefined && out.all !== (name === "--all")) throw new UsageError("give --all or --any, not both");
      out.all = name === "--all";
      return;
    case "--headless":
      out.headless = true;
      return;
    case "--trace":
      out.trace = true;
      return;
    case "--help":
      out.help = true;
      return;
  }
}

/** Options that only make sense with one command, and commands with no non-interactive form. */
function checkCombination(a: ClientArgs): void {
  const cmd = a.command;
  if (cmd && !COMMANDS[cmd].batchUsage && !a.help) {
    throw new UsageError(`"${cmd}" works in the interactive client only (run iceflix client and type it there)`);
  }
  if (a.exact && cmd !== "search") throw new UsageError("--exact goes with search");
  if (a.all !== undefined && cmd !== "tag_search") throw new UsageError("--all and --any go with tag_search");
  if (a.limit !== undefined && cmd !== "search" && cmd !== "tag_search") throw new UsageError("--limit goes with search and tag_search");
  if (a.durationMs !== undefined && cmd !== "play") throw new UsageError("--duration goes with play");
}
