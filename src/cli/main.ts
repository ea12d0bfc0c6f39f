/**
 * `bin/iceflix`: the command-line contract of spec §1. `--Prop.Name=value` arguments (and
 * `--config FILE`) are Ice properties, taken out before the options are parsed.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { ConfigError, DEFAULT_PORTS, defaultDataDir, loadProperties, portsFromBase, PROP, splitPropertyArgs } from "../runtime/config.js";
import type { Ice } from "../slice/index.js";
import type { Logger } from "../runtime/logger.js";
import type { RunningComponent } from "../runtime/lifecycle.js";
import { CliError, EXIT } from "../common/exitCodes.js";
import { runService } from "./runService.js";
import { toStorageFault } from "../runtime/storageErrors.js";
import type { UserAction } from "./commands/user.js";

// Each command loads only what it runs (the client needs no SQLite, a service no REPL): faster
// start-up, and one component's problem cannot break the others' commands.
type StartComponent = (communicator: Ice.Communicator, props: Ice.Properties, log: Logger) => Promise<RunningComponent>;

function intOption(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number");
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

export async function main(argv: string[]): Promise<void> {
  let split: ReturnType<typeof splitPropertyArgs>;
  try {
    split = splitPropertyArgs(argv);
  } catch (e) {
    process.stderr.write(`iceflix: ${(e as Error).message}\n`);
    process.exit(EXIT.usage);
  }
  const propertyArgs = [...split.properties].map(([k, v]) => (k === "Ice.Config" ? `--Ice.Config=${v}` : `--${k}=${v}`));
  const props = () => loadProperties(split.properties);
  const dataOf = (opts: { data?: string }) => opts.data ?? defaultDataDir();
  const say = (line: string) => process.stdout.write(line + "\n");

  const program = new Command("iceflix")
    .description("IceFlix: a distributed streaming platform on ZeroC Ice")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("up")
    .description("start broker + Main + services (demo user and media unless --media)")
    .option("--data <dir>", "data folder")
    .option("--media <dir>", "media folder to serve")
    .option("--replicas <n>", "instances of each service (one broker)", intOption(1, 16), 1)
    .option("--base-port <port>", "move the default ports to P…P+3, P+10, P+11", intOption(1, 65_000))
    .option("--detach", "run in the background; stop with `iceflix down`", false)
    .option("--database <url>", "titles and users in PostgreSQL (postgresql://user:pass@host:port/db); default SQLite in the data folder")
    .action(async (o: { data?: string; media?: string; replicas: number; basePort?: number; detach: boolean; database?: string }) => {
      const { up } = await import("./commands/up.js");
      process.exitCode = await up({
        data: dataOf(o),
        media: o.media,
        replicas: o.replicas,
        basePort: o.basePort,
        detach: o.detach,
        propertyArgs,
        database: o.database,
      });
    });

  program
    .command("down")
    .description("stop what `up` started from the data folder")
    .option("--data <dir>", "data folder")
    .action(async (o: { data?: string }) => {
      const { down } = await import("./commands/down.js");
      process.exitCode = await down(dataOf(o));
    });

  program
    .command("status")
    .description("list every registered instance with its id, endpoint and health")
    .option("--data <dir>", "data folder")
    .option("--json", "machine-readable output", false)
    .option("--watch", "a live view every second: instances per kind, calls/s and p99 per component, streams, events dropped", false)
    .option("--frames <n>", "with --watch: stop after N views")
    .action(async (o: { data?: string; json: boolean; watch: boolean; frames?: string }) => {
      const { status } = await import("./commands/status.js");
      const frames = o.frames === undefined ? undefined : Number(o.frames);
      if (frames !== undefined && !(Number.isInteger(frames) && frames > 0)) throw new CliError("--frames must be a whole number above 0", EXIT.usage);
      process.exitCode = await status(dataOf(o), { json: o.json, watch: o.watch, frames }, props());
    });

  // `grid up|down|status`: IceFlix on a local IceGrid from deploy/icegrid/iceflix.xml (docs/icegrid.md).
  const grid = program.command("grid").description("IceFlix on IceGrid on this machine: a registry, N nodes, deploy/icegrid/iceflix.xml");
  grid
    .command("up")
    .description("start a registry and N nodes, deploy IceFlix on them (demo user and media unless --media)")
    .option("--data <dir>", "data folder")
    .option("--nodes <n>", "IceGrid nodes, each running a replica of every service (IceStorm on the first 3)", intOption(3, 16), 3)
    .option("--media <dir>", "media folder every StreamProvider serves")
    .option("--detach", "run in the background; stop with `iceflix grid down`", false)
    .option("--database <url>", "titles and users in PostgreSQL (postgresql://user:pass@host:port/db); default SQLite in the data folder")
    .action(async (o: { data?: string; nodes: number; media?: string; detach: boolean; database?: string }) => {
      const { gridUp } = await import("./commands/gridUp.js");
      process.exitCode = await gridUp({ data: dataOf(o), nodes: o.nodes, media: o.media, detach: o.detach, database: o.database });
    });
  grid
    .command("down")
    .description("stop the grid `grid up` started from the data folder")
    .option("--data <dir>", "data folder")
    .action(async (o: { data?: string }) => {
      const { gridDown } = await import("./commands/gridDown.js");
      process.exitCode = await gridDown(dataOf(o));
    });
  grid
    .command("status")
    .description("the grid's nodes and servers with their state")
    .option("--data <dir>", "data folder")
    .option("--json", "machine-readable output", false)
    .action(async (o: { data?: string; json: boolean }) => {
      const { gridStatus } = await import("./commands/gridStatus.js");
      process.exitCode = await gridStatus(dataOf(o), o.json);
    });

  program
    .command("broker")
    .description("run IceStorm (Debian zeroc-icebox) in the foreground")
    .option("--data <dir>", "data folder")
    .option("--base-port <port>", "TopicManager on P+10, Publish on P+11", intOption(1, 65_000))
    .action(async (o: { data?: string; basePort?: number }) => {
      const ports = portsFromBase(o.basePort);
      const p = props();
      const { IceStormBroker } = await import("../broker/iceStormBroker.js");
      await runService("broker", p, async (communicator, log) => {
        // `--IceStorm.TopicManager.Endpoints=…` / `--IceStorm.Publish.Endpoints=…` (spec §1) replace
        // the loopback defaults, e.g. to listen on another host's address.
        const broker = await IceStormBroker.start(
          {
            dataDir: dataOf(o),
            topicManagerPort: ports.topicManager,
            publishPort: ports.publish,
            topicManagerEndpoints: p.getProperty("IceStorm.TopicManager.Endpoints"),
            publishEndpoints: p.getProperty("IceStorm.Publish.Endpoints"),
            log,
          },
          communicator,
        );
        void broker.child.exited.then((exit) => {
          log.error({ code: exit.code, signal: exit.signal }, "icebox exited");
          process.exit(EXIT.error);
        });
        return { proxy: broker.proxy, stop: () => broker.stop() };
      });
    });

  program
    .command("main")
    .description("run a Main service in the foreground")
    .option("--data <dir>", "data folder")
    .action(async (o: { data?: string }) => {
      const p = props();
      if (!p.getProperty("MainAdapter.Endpoints")) p.setProperty("MainAdapter.Endpoints", `tcp -h 127.0.0.1 -p ${DEFAULT_PORTS.main}`);
      if (!p.getProperty(PROP.data)) p.setProperty(PROP.data, dataOf(o));
      const { MainService } = await import("../services/main/mainService.js");
      const { createServiceContext } = await import("../runtime/serviceContext.js");
      await runService("main", p, async (communicator, log) => {
        const service = await MainService.start(createServiceContext(communicator, p, log));
        return { proxy: service.proxyString, stop: () => service.stop() };
      });
    });

  program
    .command("user")
    .description("edit the users DB: add|remove|passwd NAME, import FILE (original users.json), list")
    .argument("<action>", "add, remove, passwd, import or list")
    .argument("[name]", "user name (or FILE for import)")
    .option("--data <dir>", "data folder")
    .option("--password-stdin", "read the password from the first line of stdin", false)
    .option("--database <url>", "the users store (default: the one the deployment in --data uses)")
    .action(async (action: string, name: string | undefined, o: { data?: string; passwordStdin: boolean; database?: string }) => {
      if (!["add", "remove", "passwd", "import", "list"].includes(action)) {
        throw new CliError(`unknown user action "${action}" (add, remove, passwd, import, list)`, EXIT.usage);
      }
      const { user } = await import("./commands/user.js");
      process.exitCode = await user(action as UserAction, name, {
        data: dataOf(o),
        passwordStdin: o.passwordStdin,
        database: o.database ?? props().getProperty(PROP.database),
      });
    });

  program
    .command("verify")
    .description("conformance checker: tells, behaviour by behaviour, what a Main's deployment gets right (docs/verify.md)")
    .argument("<main-proxy>", 'e.g. "Main:tcp -h 127.0.0.1 -p 9095"')
    .option("--user <name>", "a user to log in with (auth, edits, streams)")
    .option("--password-stdin", "read that user's password from the first line of stdin", false)
    .option("--media-dir <dir>", "check every file there is in the catalog by its SHA-256")
    .option("--token-lifetime <s>", "the token lifetime to check (default: what Main says, if it says)", intOption(1, 86_400))
    .option("--topic-manager <proxy>", "IceStorm TopicManager, for the event checks (default: what Main says, if it says)")
    .option("--announce-period <s>", "how often the services announce themselves on ServiceAvailability", intOption(1, 3600), 10)
    .option("--add-user-command <cmd>", "sh command adding $ICEFLIX_VERIFY_USER (password $ICEFLIX_VERIFY_PASSWORD, hash …_HASH)")
    .option("--remove-user-command <cmd>", "sh command removing that user again (run at the end)")
    .option("--stop-services-command <cmd>", "sh command stopping every Authenticator and MediaCatalog")
    .option("--start-services-command <cmd>", "sh command starting them again")
    .option("--only <group...>", "run only these groups (main, auth, catalog, provider, controller, events, robustness)")
    .option("--fast", "skip the checks that wait for token expiry", false)
    .option("--json", "print the report as JSON", false)
    .option("--junit <file>", "also write a JUnit XML report")
    .option("--html <file>", "also write an HTML report")
    .action(async (mainProxy: string, o: Omit<import("./commands/verify.js").VerifyOptions, "propertyArgs">) => {
      const { verify } = await import("./commands/verify.js");
      process.exitCode = await verify(mainProxy, { ...o, propertyArgs });
    });

  const db = program.command("db").description("the PostgreSQL store: schema migration, import of an SQLite deployment");
  db.command("migrate")
    .description("bring the database schema to this version (the services also do it at start)")
    .option("--data <dir>", "data folder of a deployment started with --database")
    .option("--database <url>", "postgresql://user:pass@host:port/db")
    .action(async (o: { data?: string; database?: string }) => {
      const { dbMigrate } = await import("./commands/db.js");
      process.exitCode = await dbMigrate({ data: dataOf(o), database: o.database ?? props().getProperty(PROP.database) }, say);
    });
  db.command("import")
    .description("copy titles, tags and users of an SQLite data folder into PostgreSQL (idempotent; existing ones kept)")
    .requiredOption("--from <dir>", "the SQLite deployment's data folder")
    .option("--data <dir>", "data folder of a deployment started with --database")
    .option("--database <url>", "postgresql://user:pass@host:port/db")
    .action(async (o: { from: string; data?: string; database?: string }) => {
      const { dbImport } = await import("./commands/db.js");
      process.exitCode = await dbImport(o.from, { data: dataOf(o), database: o.database ?? props().getProperty(PROP.database) }, say);
    });

  /** `auth`, `catalog`, `streaming`: one service in the foreground on its spec §1 default port. */
  const serviceCommand = (
    name: string,
    description: string,
    adapter: string,
    port: number,
    load: () => Promise<StartComponent>,
    extra?: (cmd: Command) => Command,
  ) => {
    let cmd = program.command(name).description(description).option("--data <dir>", "data folder");
    if (extra) cmd = extra(cmd);
    cmd.action(async (o: { data?: string; media?: string }) => {
      const p = props();
      if (!p.getProperty(`${adapter}.Endpoints`)) p.setProperty(`${adapter}.Endpoints`, `tcp -h 127.0.0.1 -p ${port}`);
      if (!p.getProperty(PROP.data)) p.setProperty(PROP.data, dataOf(o));
      if (o.media && !p.getProperty(PROP.mediaDir)) p.setProperty(PROP.mediaDir, o.media);
      const start = await load();
      await runService(name, p, (communicator, log) => start(communicator, p, log));
    });
  };
  serviceCommand("auth", "run an Authenticator in the foreground", "AuthenticatorAdapter", DEFAULT_PORTS.authenticator, async () =>
    (await import("../services/authenticator/component.js")).startAuthenticatorComponent,
  );
  serviceCommand("catalog", "run a MediaCatalog in the foreground", "CatalogAdapter", DEFAULT_PORTS.catalog, async () =>
    (await import("../services/catalog/component.js")).startCatalogComponent,
  );
  serviceCommand(
    "streaming",
    "run a StreamProvider in the foreground",
    "StreamingAdapter",
    DEFAULT_PORTS.streaming,
    async () => (await import("../services/streaming/component.js")).startStreamingComponent,
    (c) => c.option("--media <dir>", "media folder to serve"),
  );

  program
    .command("web")
    .description("the web client's server (a client of Main) on IceFlix.Web.Endpoint [127.0.0.1:8080]")
    .option("--data <dir>", "data folder (its main.proxy names Main unless IceFlix.Web.Main is set)")
    .option("--base-port <port>", "listen on P+4 instead of 8080", intOption(1, 65_000))
    .action(async (o: { data?: string; basePort?: number }) => {
      const p = props();
      if (!p.getProperty(PROP.data)) p.setProperty(PROP.data, dataOf(o));
      if (o.basePort !== undefined && !p.getProperty("IceFlix.Web.Endpoint")) p.setProperty("IceFlix.Web.Endpoint", `127.0.0.1:${portsFromBase(o.basePort).web}`);
      const { startWebComponent } = await import("../web/component.js");
      await runService("web", p, (communicator, log) => startWebComponent(communicator, p, log));
    });

  // The client parses its own arguments: a command word is never a proxy (spec §8).
  program
    .command("client")
    .description("the IceFlix client: interactive, or one command (iceflix client --help)")
    .argument("[args...]")
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async (args: string[]) => {
      const { runClient } = await import("../client/index.js");
      process.exitCode = await runClient(args, split.properties);
    });

  try {
    await program.parseAsync(split.rest, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    if (e instanceof CliError) {
      process.stderr.write(`iceflix: ${e.message}\n`);
      process.exit(e.exitCode);
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`iceflix: ${e.message}\n`);
      process.exit(EXIT.usage);
    }
    // A full or read-only disk met outside the stores that report it themselves (e.g. up's files).
    const fault = toStorageFault(e, (e as { path?: string }).path ?? "the data folder", "cannot write");
    if (fault) {
      process.stderr.write(`iceflix: ${fault.message}\n`);
      process.exit(EXIT.error);
    }
    process.stderr.write(`iceflix: unexpected error: ${(e as Error).message}\n`);
    process.exit(EXIT.error);
  }
}
