/**
 * `iceflix up`: the whole system from one command (spec §1): broker, then N of each service.
 * Supervises its components: one that dies is restarted; SIGINT/SIGTERM stops them all in reverse
 * order. Writes `<data>/main.proxy` (every Main endpoint on one line), `<data>/up.pid` and
 * `<data>/metrics.urls` (each service's IceFlix.Metrics.Endpoint URL, one per line).
 */
import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { portsFromBase, PROP } from "../../runtime/config.js";
import { databaseChoice, recordDatabaseUrl, type DatabaseChoice } from "../../runtime/database.js";
import { postgresBoundsFor } from "../../runtime/postgres.js";
import { openUserStore } from "../../services/authenticator/userStores.js";
import { createLogger, type Logger } from "../../runtime/logger.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths, ensureDataDir, runningUpPid, type DataPaths } from "../../common/dataDir.js";
import { ensureSecret } from "../../runtime/secret.js";
import type { Ports } from "../../runtime/config.js";
import { DEMO_USER, ensureDemoMedia, ensureDemoUser } from "../demoMedia.js";
import { METRICS_ENDPOINT_PROP, metricsPort } from "../../runtime/metricsEndpoint.js";
import { ICEFLIX_BIN, lastLines, startComponent, type ComponentSpec, type StartedComponent } from "./components.js";

/** The services `up` starts after the broker, in order, each `--replicas` times. */
const SERVICES: Array<{ kind: string; adapter: string; port: keyof Ports }> = [
  { kind: "main", adapter: "MainAdapter", port: "main" },
  { kind: "auth", adapter: "AuthenticatorAdapter", port: "authenticator" },
  { kind: "catalog", adapter: "CatalogAdapter", port: "catalog" },
  { kind: "streaming", adapter: "StreamingAdapter", port: "streaming" },
];

export interface UpOptions {
  data: string;
  media?: string;
  replicas: number;
  basePort?: number;
  detach: boolean;
  /** `--Prop=value` arguments, passed on to every component. */
  propertyArgs: string[];
  /** `--database URL`: PostgreSQL for titles and users (recorded in the data folder), else SQLite. */
  database?: string;
}

export async function up(options: UpOptions): Promise<number> {
  const paths = dataPaths(options.data);
  ensureDataDir(paths);
  const running = runningUpPid(paths);
  if (running) throw new CliError(`IceFlix is already running on ${paths.root} (pid ${running})`, EXIT.alreadyRunning);
  if (options.detach) return upDetached(options, paths);

  // The console shows progress lines; only warnings and errors are logged there (components log to <data>/logs).
  const log = createLogger("up", process.env.ICEFLIX_LOG_LEVEL ?? "warn");
  writeFileSync(paths.upPid, `${process.pid}\n`);
  const supervisor = new Supervisor(paths, log);
  const stop = async (signal: string) => {
    log.info({ signal }, "stopping IceFlix");
    await supervisor.stopAll();
    cleanup(paths);
    process.exit(EXIT.ok);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const say = (line: string) => process.stdout.write(`${line}\n`);
  let demo = false;
  try {
    ensureSecret(paths.secret);
    const database = deploymentDatabase(options);
    // The services read it from the data folder: the URL (credentials) stays off command lines.
    recordDatabaseUrl(paths.root, database);
    if (database.kind === "postgres") say(`titles and users in ${database.display}`);
    const mediaDir = options.media ?? join(paths.root, "demo-media");
    // The clips are made while the broker and the first services start: only the provider needs them.
    const demoMedia = options.media ? Promise.resolve() : ensureDemoMedia(mediaDir, say);
    demoMedia.catch(() => {}); // awaited before the provider starts; this keeps an early failure handled
    if (!options.media) {
      const users = await openUserStore(database, { dataDir: paths.root, ...postgresBoundsFor(10_000), listen: false });
      try {
        demo = await ensureDemoUser(users);
      } finally {
        await users.close();
      }
    }
    const ports = portsFromBase(options.basePort);
    const common = ["--data", paths.root, ...options.propertyArgs];
    say("starting the broker");
    const broker = await supervisor.start({
      name: "broker",
      kind: "broker",
      args: [...common, ...(options.basePort !== undefined ? ["--base-port", String(options.basePort)] : [])],
    });
    const withBroker = [...common, `--IceFlix.IceStorm/TopicManager=${broker.proxy}`];
    // Mains first, so they hear the services' first announcements.
    for (const service of SERVICES) {
      if (service.kind === "streaming") await demoMedia;
      say(`starting ${options.replicas} × ${service.kind}`);
      for (let i = 0; i < options.replicas; i++) {
        const port = i === 0 ? ports[service.port] : 0;
        await supervisor.start({
          name: i === 0 ? service.kind : `${service.kind}-${i + 1}`,
          kind: service.kind,
          args: [
            // First, so a --IceFlix.Metrics.Endpoint= of the user's (e.g. empty: off) wins.
            `--${METRICS_ENDPOINT_PROP}=127.0.0.1:${i === 0 ? metricsPort(ports[service.port]) : 0}`,
            ...withBroker,
            `--${service.adapter}.Endpoints=tcp -h 127.0.0.1 -p ${port}`,
            ...(service.kind === "streaming" ? ["--media", mediaDir] : []),
          ],
        });
      }
    }
    // The web client is a client of Main: it reads main.proxy, written now.
    supervisor.writeMainProxy();
    say("starting the web server");
    const web = await supervisor.start({
      name: "web",
      kind: "web",
      args: [...common, ...(options.basePort !== undefined ? ["--base-port", String(options.basePort)] : [])],
    });
    writeFileSync(join(paths.root, "web.url"), `${web.proxy}\n`);
  } catch (e) {
    await supervisor.stopAll();
    cleanup(paths);
    throw new CliError(`IceFlix failed to start: ${(e as Error).message}`, EXIT.error, { cause: e });
  }
  const mainProxy = supervisor.writeMainProxy();
  supervisor.writeMetricsUrls();
  supervisor.writeState("ready");
  process.stdout.write(
    [
      `IceFlix is up (data: ${paths.root})`,
      `  Main: ${mainProxy}`,
      `  (also in ${paths.mainProxy})`,
      `  Web: ${readFileSync(join(paths.root, "web.url"), "utf8").trim()} (also in ${join(paths.root, "web.url")})`,
      `  Logs: ${paths.logs}`,
      `  Metrics: ${paths.metricsUrls}`,
      `  Connect: bin/iceflix client --data ${paths.root}`,
      ...(demo ? [`  Demo user: ${DEMO_USER.name} / password ${DEMO_USER.password}`] : []),
      `  Stop: Ctrl+C, or bin/iceflix down --data ${paths.root}`,
      "",
    ].join("\n"),
  );
  supervisor.superviseRestarts();
  return new Promise<number>(() => {}); // runs until a signal
}

/** How `up --detach` hands `--database` to the `up` it starts: not on its command line (ps shows those). */
const DETACHED_DATABASE_ENV = "ICEFLIX_UP_DATABASE";

/** `--database`, else an `--IceFlix.Database=` property, else SQLite. */
function deploymentDatabase(options: UpOptions): DatabaseChoice {
  const property = options.propertyArgs.find((a) => a.startsWith(`--${PROP.database}=`));
  return databaseChoice(options.database ?? process.env[DETACHED_DATABASE_ENV] ?? property?.slice(`--${PROP.database}=`.length));
}

function cleanup(paths: DataPaths): void {
  for (const f of [paths.upPid, paths.mainProxy, paths.upState, paths.metricsUrls, join(paths.root, "web.url")]) rmSync(f, { force: true });
}

/** Re-runs `up` in the background and returns once it is ready (or failed). */
async function upDetached(options: UpOptions, paths: DataPaths): Promise<number> {
  const args = [ICEFLIX_BIN, "up", "--data", paths.root, "--replicas", String(options.replicas)];
  if (options.media) args.push("--media", options.media);
  if (options.basePort !== undefined) args.push("--base-port", String(options.basePort));
  args.push(...options.propertyArgs);
  rmSync(paths.upState, { force: true });
  const out = openSync(join(paths.logs, "up.log"), "a");
  const env = options.database ? { ...process.env, [DETACHED_DATABASE_ENV]: options.database } : process.env;
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out], env });
  child.unref();
  const deadline = Date.now() + 90_000;
  let exited: number | null = null;
  child.once("exit", (code) => (exited = code ?? 1));
  while (Date.now() < deadline) {
    if (existsSync(paths.upState)) {
      const state = JSON.parse(readFileSync(paths.upState, "utf8")) as { state: string };
      if (state.state === "ready") {
        const proxy = readFileSync(paths.mainProxy, "utf8").trim();
        const webUrl = join(paths.root, "web.url");
        const web = existsSync(webUrl) ? `  Web: ${readFileSync(webUrl, "utf8").trim()} (also in ${webUrl})\n` : "";
        process.stdout.write(`IceFlix is up in the background (pid ${child.pid}).\n  Main: ${proxy}\n${web}  Stop: bin/iceflix down --data ${paths.root}\n`);
        return EXIT.ok;
      }
    }
    if (exited !== null) {
      // Empty when it could not even write its log (a full or read-only data folder).
      const why = lastLines(join(paths.logs, "up.log"), 1) || `the background process exited with code ${exited} without logging why (is the data folder full or read-only?)`;
      throw new CliError(`${why} (log: ${join(paths.logs, "up.log")})`, exited === EXIT.alreadyRunning ? EXIT.alreadyRunning : EXIT.error);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`IceFlix did not become ready within 90 s; see ${join(paths.logs, "up.log")}`);
}

class Supervisor {
  readonly #components: StartedComponent[] = [];
  #stopping = false;

  constructor(
    private readonly paths: DataPaths,
    private readonly log: Logger,
  ) {}

  async start(spec: ComponentSpec): Promise<StartedComponent> {
    const started = await startComponent(spec, this.paths.logs, this.log);
    this.log.info({ component: spec.name, pid: started.child.pid, proxy: started.proxy }, "component ready");
    this.#components.push(started);
    return started;
  }

  /**
   * Restarts a component that exits while we are not stopping (1 s back-off, at most 5 deaths a
   * minute). A restart that fails to start (e.g. its database is down) is tried again, backing off
   * to 30 s, until it starts or we stop: a dependency's outage must not leave it dead for good.
   */
  superviseRestarts(): void {
    const restarts = new Map<string, number[]>();
    const restart = async (c: StartedComponent, attempt: number): Promise<void> => {
      await new Promise((r) => setTimeout(r, Math.min(30_000, 1000 * 2 ** attempt)));
      if (this.#stopping) return;
      try {
        const next = await startComponent(c.spec, this.paths.logs, this.log);
        this.#components[this.#components.indexOf(c)] = next;
        if (c.spec.kind === "main") this.writeMainProxy();
        this.writeMetricsUrls(); // a replica's endpoint (port 0) moves
        this.log.info({ component: c.spec.name, pid: next.child.pid }, "component restarted");
        watch(next);
      } catch (e) {
        this.log.error({ component: c.spec.name, err: e, attempt: attempt + 1 }, "restart failed; trying again");
        await restart(c, attempt + 1);
      }
    };
    const watch = (c: StartedComponent) => {
      void c.child.exited.then(async (exit) => {
        if (this.#stopping) return;
        const now = Date.now();
        const recent = (restarts.get(c.spec.name) ?? []).filter((t) => now - t < 60_000);
        restarts.set(c.spec.name, [...recent, now]);
        if (recent.length >= 5) {
          this.log.error({ component: c.spec.name }, "component keeps dying; not restarting it");
          return;
        }
        this.log.warn({ component: c.spec.name, code: exit.code, signal: exit.signal }, "component died; restarting");
        await restart(c, 0);
      });
    };
    this.#components.forEach(watch);
  }

  /** Writes every Main endpoint into one proxy line, so clients fail over between Mains. */
  writeMainProxy(): string {
    const mains = this.#components.filter((c) => c.spec.kind === "main");
    const endpoints = mains.map((m) => m.proxy.slice(m.proxy.indexOf(":") + 1));
    const line = `Main:${endpoints.join(":")}`;
    writeFileSync(this.paths.mainProxy, line + "\n");
    return line;
  }

  writeMetricsUrls(): void {
    const urls = this.#components.flatMap((c) => (c.metrics ? [c.metrics] : []));
    writeFileSync(this.paths.metricsUrls, urls.map((u) => `${u}\n`).join(""));
  }

  writeState(state: string): void {
    const components = this.#components.map((c) => ({ name: c.spec.name, kind: c.spec.kind, pid: c.child.pid, proxy: c.proxy, metrics: c.metrics }));
    writeFileSync(this.paths.upState, JSON.stringify({ state, pid: process.pid, components }, null, 2) + "\n");
  }

  async stopAll(): Promise<void> {
    this.#stopping = true;
    for (const c of [...this.#components].reverse()) {
      await c.child.stop(10_000);
    }
  }
}
