/**
 * The non-interactive client (spec §8): `iceflix client COMMAND ARGS… [--json]` runs one command
 * and exits 0 (ok), 1 (error) or 2 (usage). Commands that need a token log in for this one
 * invocation (`--user U --password-stdin`). With --json, stdout carries exactly one JSON object
 * (`"ok": false` and the error on failure); messages for people go to stderr.
 */
import { passwordHash, readPasswordFromStdin } from "../common/password.js";
import { EXIT } from "../common/exitCodes.js";
import type { ClientArgs } from "./cliArgs.js";
import { COMMANDS, helpText } from "./commands.js";
import { ClientError, describeError, UsageError } from "./errors.js";
import { playbackText, searchJson, searchText, statusJson, statusText, titleJson, titleText } from "./render.js";
import type { ClientSession } from "./session.js";
import { Terminal } from "./terminal.js";
import { newTraceId, withTraceId } from "../runtime/traceContext.js";

export interface BatchIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/**
 * Runs `args.command` against `proxy` under one trace id (sent with every call, shown with
 * every error and, with --trace, first on stderr); returns the exit code.
 */
export async function runBatch(args: ClientArgs, proxy: string | undefined, session: ClientSession, io: BatchIo, stop: AbortSignal): Promise<number> {
  const traceId = newTraceId();
  if (args.trace) io.stderr(`trace ${traceId}`);
  return withTraceId(traceId, () => runCommand(args, proxy, session, io, stop, traceId));
}

async function runCommand(args: ClientArgs, proxy: string | undefined, session: ClientSession, io: BatchIo, stop: AbortSignal, traceId: string): Promise<number> {
  const command = args.command!;
  const out = (json: object, text: string) => io.stdout(args.json ? JSON.stringify(json) : text);
  try {
    if (command === "help") {
      out({ ok: true, commands: Object.keys(COMMANDS).filter((c) => COMMANDS[c as keyof typeof COMMANDS].batchUsage) }, `Commands:\n${helpText("batch")}`);
      return EXIT.ok;
    }
    const target = command === "connect" ? (args.args[0] ?? proxy) : proxy;
    if (command === "connect" && args.args.length > 1) throw new UsageError("usage: connect <proxy> (one quoted word)");
    if (!target) {
      throw new ClientError("no Main proxy: give one (iceflix client PROXY COMMAND, or --main PROXY), or start IceFlix with iceflix up (it writes <data>/main.proxy)");
    }
    checkArity(args);
    // Ask for the password before connecting, so a script's stdin is read whatever happens next.
    const password = COMMANDS[command].batchNeedsLogin ? await readPassword(args) : undefined;

    if (command === "status") {
      try {
        await session.connect(target);
      } catch (e) {
        const status = await session.status();
        out({ ...statusJson(status), ok: false, error: describeError(e), trace: traceId }, statusText(status));
        io.stderr(`iceflix client: ${describeError(e)}`);
        io.stderr(`iceflix client: trace ${traceId}`);
        return EXIT.error;
      }
      const status = await session.status();
      out(statusJson(status), statusText(status));
      return status.main?.reachable ? EXIT.ok : EXIT.error;
    }

    const facts = await session.connect(target);
    if (password !== undefined) await session.login(args.user!, passwordHash(password));

    switch (command) {
      case "connect":
        out(
          { ok: true, main: target, implementation: facts.ext ? "IceFlix MainExt" : "IceFlix Main", tokenLifetimeSeconds: facts.tokenLifetimeSeconds ?? null },
          `connected to Main at ${session.link!.label} (${facts.ext ? "IceFlix MainExt" : "IceFlix Main"})`,
        );
        break;
      case "login":
        out({ ok: true, user: args.user }, `logged in as ${args.user}`);
        break;
      case "search": {
        const result = await session.search(args.args.join(" "), args.exact);
        out(searchJson(result), searchText(result));
        break;
      }
      case "tag_search": {
        const result = await session.tagSearch(args.args, args.all ?? true);
        out(searchJson(result), searchText(result));
        break;
      }
      case "rename": {
        const t = await session.rename(args.args.slice(1).join(" "), args.args[0]);
        out(titleJson(t), `renamed: ${titleText(t)}`);
        break;
      }
      case "add_tags": {
        const t = await session.addTags(args.args.slice(1), args.args[0]);
        out(titleJson(t), `tags added: ${titleText(t)}`);
        break;
      }
      case "remove_tags": {
        const t = await session.removeTags(args.args.slice(1), args.args[0]);
        out(titleJson(t), `tags removed: ${titleText(t)}`);
        break;
      }
      case "play":
        return await play(args, session, io, out, stop);
      default:
        throw new UsageError(`"${command}" works in the interactive client only`);
    }
    return EXIT.ok;
  } catch (e) {
    const code = e instanceof ClientError ? e.exitCode : EXIT.error;
    if (args.json) io.stdout(JSON.stringify({ ok: false, error: describeError(e), exitCode: code, trace: traceId }));
    io.stderr(`iceflix client: ${describeError(e)}`);
    // Its own line, so the error line reads the same; the id finds the services' lines for it.
    io.stderr(`iceflix client: trace ${traceId}`);
    return code;
  }
}

/** Streams until it ends by itself, --duration passes, or SIGINT/SIGTERM; then reports. */
async function play(args: ClientArgs, session: ClientSession, io: BatchIo, out: (json: object, text: string) => void, stop: AbortSignal): Promise<number> {
  const started = await session.play(args.args[0]);
  io.stderr(`playing ${playbackText(started)}`);
  const interrupted = stop.aborted ? Promise.resolve() : new Promise<void>((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
  await Promise.race([session.waitForPlaybackEnd(args.durationMs), interrupted]);
  const final = (await session.stop()) ?? session.lastPlayback ?? started;
  if (final.frames === 0) {
    out({ ok: false, error: "no video was received", exitCode: EXIT.error, ...final }, `no video was received: ${playbackText(final)}`);
    return EXIT.error;
  }
  out({ ok: true, ...final }, `played ${playbackText(final)}`);
  return EXIT.ok;
}

function checkArity(args: ClientArgs): void {
  const n = args.args.length;
  const usage = () => new UsageError(`usage: iceflix client ${COMMANDS[args.command!].batchUsage}`);
  switch (args.command) {
    case "status":
    case "login":
      if (n > 0) throw usage();
      break;
    case "rename":
    case "add_tags":
    case "remove_tags":
      if (n < 2) throw usage();
      break;
    case "tag_search":
      if (n < 1) throw usage();
      break;
    case "play":
      if (n !== 1) throw usage();
      break;
  }
  if (COMMANDS[args.command!].batchNeedsLogin && !args.user) throw new UsageError(`${args.command} needs --user U (and the password on stdin with --password-stdin)`);
}

async function readPassword(args: ClientArgs): Promise<string> {
  if (args.passwordStdin) return readPasswordFromStdin();
  if (!process.stdin.isTTY) throw new UsageError("give the password on stdin with --password-stdin (stdin is not a terminal)");
  // Asked on stderr, so stdout stays clean for --json.
  const term = new Terminal({ input: process.stdin, output: process.stderr, completion: () => ({ tags: [], resultCount: 0 }) });
  try {
    return await term.askHidden(`Password for ${args.user}: `);
  } finally {
    term.close();
  }
}
