/**
 * `iceflix grid up`: IceFlix deployed on a local IceGrid (a registry and N nodes on this
 * machine) from deploy/icegrid/iceflix.xml, with the demo user and media as `up` makes them.
 * Runs until SIGINT/SIGTERM (or `grid down`), then stops the nodes (their servers stop through
 * Ice::Process) and the registry. `--detach` runs it in the background.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { createLogger } from "../../runtime/logger.js";
import { ensureSecret } from "../../runtime/secret.js";
import { databaseChoice, recordDatabaseUrl } from "../../runtime/database.js";
import { gridPaths, readGridState, removeGridFiles, runningGridPid, writeGridState, type GridPaths } from "../../grid/gridFiles.js";
import { LocalGrid } from "../../grid/localGrid.js";
import { writeGridMetricsUrls } from "../../grid/gridMetricsUrls.js";
import { writeGridWebUrl } from "../../grid/gridWebUrl.js";
import { TOPIC_MANAGER_IDENTITY } from "../../grid/gridReadiness.js";
import { DEMO_USER, ensureDemoMedia } from "../demoMedia.js";
import { ICEFLIX_BIN, lastLines } from "./components.js";
import { ensureDemoUserThroughCli } from "./gridDemoUser.js";

export interface GridUpOptions {
  data: string;
  nodes: number;
  media?: string;
  detach: boolean;
  /** `--database URL`: titles and users in PostgreSQL, recorded in the data folder every server reads. */
  database?: string;
}

/** How `grid up --detach` hands `--database` to the `grid up` it starts: not on its command line (ps shows those). */
const DETACHED_DATABASE_ENV = "ICEFLIX_GRID_DATABASE";

const DETACHED_READY_TIMEOUT_MS = 150_000;

export async function gridUp(options: GridUpOptions): Promise<number> {
  const paths = gridPaths(options.data);
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
  const running = runningGridPid(paths);
  if (running) throw new CliError(`an IceFlix grid is already running on ${paths.root} (pid ${running})`, EXIT.alreadyRunning);
  if (options.detach) return gridUpDetached(options, paths);

  const log = createLogger("grid", process.env.ICEFLIX_LOG_LEVEL ?? "warn");
  const say = (line: string) => process.stdout.write(`${line}\n`);
  writeGridState(paths, { state: "starting", pid: process.pid, locator: "", nodes: [] });
  let grid: LocalGrid | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, "stopping the grid");
      await grid?.stop();
      removeGridFiles(paths);
      process.exit(EXIT.ok);
    })();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  let demo = false;
  try {
    ensureSecret(paths.secret);
    const database = databaseChoice(options.database ?? process.env[DETACHED_DATABASE_ENV]);
    // The servers (IceFlix.Data = this folder) and `user … --data` read it there: no credentials
    // in the descriptor, on a command line, or in what icegridadmin shows.
    recordDatabaseUrl(paths.root, database);
    if (database.kind === "postgres") say(`titles and users in ${database.display}`);
    const media = options.media ?? join(paths.root, "demo-media");
    if (!options.media) {
      await ensureDemoMedia(media, say);
      demo = await ensureDemoUserThroughCli(paths.root);
    } else if (!existsSync(media)) {
      throw new CliError(`--media ${media}: no such folder`);
    }
    grid = await LocalGrid.start({ paths, nodes: options.nodes, media, log, say });
  } catch (e) {
    await grid?.stop();
    removeGridFiles(paths);
    if (e instanceof CliError) throw e;
    throw new CliError(`the IceFlix grid failed to start: ${(e as Error).message}`, EXIT.error, { cause: e });
  }
  // Like `up`: every Main's direct endpoints on one line, for clients without a locator.
  const mainProxy = `Main:${grid.mains.map((m) => m.slice(m.indexOf(":") + 1)).join(":")}`;
  writeFileSync(paths.mainProxy, mainProxy + "\n");
  writeFileSync(paths.locatorProxy, grid.locator + "\n");
  writeFileSync(paths.topicManagerProxy, TOPIC_MANAGER_IDENTITY + "\n");
  await writeGridMetricsUrls(paths.metricsUrls, grid.nodeNames.map((n) => join(paths.grid, n)));
  // The web client is the grid server IceFlix.Web-node1 (the node started it with the others): a
  // server that fails (e.g. its port taken) leaves the grid up without a web.url.
  const webUrlFile = join(paths.root, "web.url");
  const webUrl = await writeGridWebUrl(webUrlFile, join(paths.grid, grid.nodeNames[0]!));
  if (!webUrl) say(`the web server did not report its URL: see ${join(paths.grid, grid.nodeNames[0]!, "output", `IceFlix.Web-${grid.nodeNames[0]}.err`)}`);
  writeGridState(paths, { state: "ready", pid: process.pid, locator: grid.locator, nodes: grid.nodeNames });
  say(
    [
      `IceFlix is up on IceGrid (data: ${paths.root}, ${grid.nodeNames.length} node(s))`,
      `  Main (direct): ${mainProxy}`,
      `  Locator: ${grid.locator}   (--Ice.Default.Locator=…; then "Main" resolves)`,
      ...(webUrl ? [`  Web: ${webUrl} (also in ${webUrlFile})`] : []),
      `  Proxies: ${paths.mainProxy}, ${paths.locatorProxy}, ${paths.topicManagerProxy}`,
      `  Metrics: ${paths.metricsUrls}`,
      `  Servers' output: ${join(paths.grid, "<node>", "output")}`,
      `  Connect: bin/iceflix client --data ${paths.root}`,
      ...(demo ? [`  Demo user: ${DEMO_USER.name} / password ${DEMO_USER.password}`] : []),
      `  Status: bin/iceflix grid status --data ${paths.root}`,
      `  Stop: Ctrl+C, or bin/iceflix grid down --data ${paths.root}`,
      "",
    ].join("\n"),
  );
  return new Promise<number>(() => {}); // runs until a signal
}

/** Re-runs `grid up` in the background; returns once it is ready, or fails with its last log line. */
async function gridUpDetached(options: GridUpOptions, paths: GridPaths): Promise<number> {
  const args = [ICEFLIX_BIN, "grid", "up", "--data", paths.root, "--nodes", String(options.nodes)];
  if (options.media) args.push("--media", options.media);
  const logFile = join(paths.logs, "grid.log");
  const out = openSync(logFile, "a");
  removeGridFiles(paths);
  const env = options.database ? { ...process.env, [DETACHED_DATABASE_ENV]: options.database } : process.env;
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", out, out], env });
  child.unref();
  let exited: number | null = null;
  child.once("exit", (code) => (exited = code ?? 1));
  const deadline = Date.now() + DETACHED_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const state = readGridState(paths);
    if (state?.state === "ready" && state.pid === child.pid) {
      const webUrlFile = join(paths.root, "web.url");
      const web = existsSync(webUrlFile) ? `  Web: ${readFileSync(webUrlFile, "utf8").trim()} (also in ${webUrlFile})\n` : "";
      process.stdout.write(
        `IceFlix is up on IceGrid in the background (pid ${child.pid}, ${state.nodes.length} node(s)).\n` +
          `  Locator: ${state.locator}\n  Main: ${paths.mainProxy}\n${web}  Stop: bin/iceflix grid down --data ${paths.root}\n`,
      );
      return EXIT.ok;
    }
    if (exited !== null) {
      // Its last line is its own error report ("iceflix: …"): ours adds the prefix again.
      const why = lastLines(logFile, 1).replace(/^iceflix: /, "") || `the background grid exited with code ${exited}`;
      throw new CliError(`${why} (log: ${logFile})`, exited === EXIT.alreadyRunning ? EXIT.alreadyRunning : EXIT.error);
    }
    // The background process writes grid.json when ready; there is no other channel to wait on.
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGTERM");
  throw new CliError(`the IceFlix grid was not ready within ${DETACHED_READY_TIMEOUT_MS / 1000} s; see ${logFile}`);
}
