/**
 * `iceflix client`: the interactive client, or one command non-interactively (spec §8). Reads the
 * options, finds the Main proxy (argument, --main, or `<data>/main.proxy` written by `up`),
 * builds the session, runs the REPL or the command, and always cleans up: players stopped,
 * streams stopped, communicator destroyed. Nothing reaches the user as a stack trace.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT } from "../common/exitCodes.js";
import { dataPaths } from "../common/dataDir.js";
import { ConfigError, defaultDataDir, intProperty, loadProperties, PROP } from "../runtime/config.js";
import { createCommunicator } from "../runtime/communicator.js";
import { traceOutgoingCalls } from "../runtime/requestObserver.js";
import { createLogger } from "../runtime/logger.js";
import { runBatch } from "./batch.js";
import { parseClientArgs, type ClientArgs } from "./cliArgs.js";
import { helpText } from "./commands.js";
import { describeError } from "./errors.js";
import { DEFAULT_STALL } from "./playback.js";
import { Repl } from "./repl.js";
import { DEFAULT_RETRY } from "../mainlink/retry.js";
import { ClientSession, type SessionSettings } from "./session.js";
import { Terminal } from "./terminal.js";

/** Properties of the client (all optional; command-line options win). */
export const CLIENT_PROP = {
  retries: "IceFlix.Client.Retries",
  retryDelayMs: "IceFlix.Client.RetryDelayMs",
  resultLimit: "IceFlix.Client.ResultLimit",
} as const;

const USAGE = `Usage: iceflix client [PROXY] [--main PROXY] [--data DIR] [options] [COMMAND ARGS…]

Without a command: the interactive client. With one: runs it and exits (0 ok, 1 error, 2 usage).
The Main proxy comes from PROXY or --main, else from <data>/main.proxy (written by iceflix up).

Options:
  --retries N          connection attempts before giving up [3] (IceFlix.Client.Retries)
  --retry-delay S      seconds between attempts [10] (IceFlix.Client.RetryDelayMs, in ms)
  --user U             log in as U (non-interactive commands that need it; asks at start otherwise)
  --password-stdin     read the password from the first line of stdin
  --json               machine-readable output (non-interactive)
  --headless           never open a player window: receive with ffmpeg and count frames
  --trace              print each command's trace id (iceflix-trace-id, in every service's log lines for it;
                       errors always show it)
  --record FILE        save the stream to FILE (ffmpeg -c copy)
  --exact, --limit N   search: exact name; most titles shown [50]
  --all, --any         tag_search: titles with all (default) or any of the tags
  --duration S         play: stop after S seconds
  --Ice.Prop=value     Ice / IceFlix properties, e.g. --IceStorm.TopicManager.Proxy=… for a Main
                       that does not tell the broker; ClientAdapter.Endpoints for the sync servant

Interactive commands:
${helpText("interactive")}

Non-interactive commands:
${helpText("batch")}`;

function settingsFrom(args: ClientArgs, props: ReturnType<typeof loadProperties>): SessionSettings {
  return {
    retry: {
      attempts: args.retries ?? intProperty(props, CLIENT_PROP.retries, DEFAULT_RETRY.attempts, 1, 1000),
      delayMs: args.retryDelayMs ?? intProperty(props, CLIENT_PROP.retryDelayMs, DEFAULT_RETRY.delayMs, 0, 3_600_000),
    },
    player: { headless: args.headless, record: args.record },
    stall: DEFAULT_STALL,
    resultLimit: args.limit ?? intProperty(props, CLIENT_PROP.resultLimit, 50, 1, 100_000),
  };
}

/** PROXY / --main, else the first line of <data>/main.proxy. */
function findProxy(args: ClientArgs, dataDir: string): string | undefined {
  if (args.proxy) return args.proxy;
  try {
    return readFileSync(dataPaths(dataDir).mainProxy, "utf8").split("\n")[0]!.trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function runClient(argv: string[], propertyOverrides: Map<string, string>): Promise<number> {
  const err = (line: string) => process.stderr.write(line + "\n");
  let args: ClientArgs;
  let props: ReturnType<typeof loadProperties>;
  let settings: SessionSettings;
  try {
    args = parseClientArgs(argv);
    if (args.help) {
      process.stdout.write(USAGE + "\n");
      return EXIT.ok;
    }
    if (!args.command && args.passwordStdin) throw new ConfigError("--password-stdin is for non-interactive commands");
    props = loadProperties(propertyOverrides);
    settings = settingsFrom(args, props);
  } catch (e) {
    err(`iceflix client: ${describeError(e)}`);
    err("(iceflix client --help shows the usage)");
    return EXIT.usage;
  }

  const dataDir = args.data ?? (props.getProperty(PROP.data) || defaultDataDir());
  const proxy = findProxy(args, dataDir);
  const log = createLogger("client", process.env.ICEFLIX_CLIENT_LOG_LEVEL ?? "silent");
  let communicator: ReturnType<typeof createCommunicator>;
  try {
    communicator = createCommunicator(props, log);
    traceOutgoingCalls();
  } catch (e) {
    err(`iceflix client: ${describeError(e)}`);
    return EXIT.usage;
  }

  let notice: (line: string) => void = err;
  const session = new ClientSession({
    communicator,
    props,
    log,
    settings,
    notice: (line) => notice(line),
    progress: (line) => notice(line),
  });

  // Whatever happens, stop what the session started; never print a stack.
  const stop = new AbortController();
  let closing: Promise<void> | undefined;
  const shutdown = (code: number) => {
    closing ??= session.close().catch(() => undefined);
    void closing.then(() => process.exit(code));
    setTimeout(() => process.exit(code), 10_000).unref();
  };
  process.on("uncaughtException", (e) => {
    err(`iceflix client: internal error: ${describeError(e)}`);
    shutdown(EXIT.error);
  });
  process.on("unhandledRejection", (e) => log.warn({ error: describeError(e) }, "unhandled rejection"));
  const onSignal = (signal: NodeJS.Signals) => {
    log.debug({ signal }, "signal");
    // A non-interactive play ends gracefully (and reports); anything else just stops.
    if (args.command === "play" && !stop.signal.aborted) stop.abort();
    else shutdown(args.command ? EXIT.error : EXIT.ok);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  if (args.command) process.on("SIGINT", onSignal);

  try {
    if (args.command) {
      return await runBatch(args, proxy, session, { stdout: (t) => process.stdout.write(t + "\n"), stderr: err }, stop.signal);
    }
    const term = new Terminal({
      input: process.stdin,
      output: process.stdout,
      historyFile: existsSync(dataDir) ? join(dataDir, "client_history") : undefined,
      completion: () => ({ tags: session.knownTags(), resultCount: session.results.length }),
    });
    const repl = new Repl(session, term, log, args.trace);
    notice = (line) => repl.notice(line);
    if (!proxy) term.print(`no Main proxy given and no ${dataPaths(dataDir).mainProxy}`);
    return await repl.run({ proxy, user: args.user });
  } catch (e) {
    err(`iceflix client: ${describeError(e)}`);
    return EXIT.error;
  } finally {
    await session.close().catch(() => undefined);
    log.debug("session closed");
    // Nothing of ours should keep the process; if something does, do not hang.
    setTimeout(() => {
      log.debug("still running 2 s after closing; exiting");
      process.exit(process.exitCode ?? 0);
    }, 2000).unref();
  }
}
