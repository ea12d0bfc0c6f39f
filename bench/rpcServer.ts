/**
 * The TypeScript RPC bench server (bench/rpc.ts), served by our transport (src/ice-server): the
 * same logic as bench/cpp/bench_server.cpp and bench/py/bench_server.py.
 *   "auth"    Authenticator: isAuthorized(t) = lookup of t in a Map of 1000 tokens ("token-0" …
 *             "token-999"); refreshAuthorization raises Unauthorized.
 *   "catalog" MediaCatalog: getTilesByName(name, exact) = the ids of bench/data/titles.tsv whose
 *             lower-cased name equals (exact) or contains the lower-cased name, in file order;
 *             getTile(id) = Media{id, a fixed provider proxy, {name, []}} for an id of the file
 *             (a Map lookup), else WrongMediaId.
 *   "main"    Main: getAuthenticator / getCatalogService = the proxies of "auth" / "catalog".
 * (getTile and Main are the baselines of bench/services.ts only; the C++ and Python servers lack them.)
 *
 *   node dist/bench/rpcServer.js --titles FILE [--experiment baseline] [--Prop=value ...]
 *
 * `--experiment baseline` (bench/rpc.ts target "ts-base") turns off the per-call fast paths of
 * src/ice-server (setServerFastPaths(false): one message per event-loop turn, the runtime's
 * reads/writes, servant lookup and string coding), so before/after can be measured side by side
 * in one run. Write coalescing (cork) stays on in both.
 * `--experiment trace` (target "ts-trace") serves every request in its trace scope, as the services
 * do (src/runtime/requestObserver.ts, IceFlix.Metrics.Endpoint unset); `--experiment metrics`
 * (target "ts-metrics") also counts and times every dispatch and serves /metrics on a free port,
 * as under `iceflix up`: the cost of observability, side by side with "ts"; `--experiment
 * dispatch-metrics` (target "ts-dispatch-metrics") counts and times without serving /metrics (no
 * process/Node metrics sampling): which part costs what.
 *
 * Endpoints from `BenchAdapter.Endpoints` (default `tcp -h 127.0.0.1 -p 0`). Prints one JSON line:
 *   {"event":"ready","endpoints":"tcp -h 127.0.0.1 -p N","pid":…}
 * and stops on SIGTERM/SIGINT.
 */
import { readFileSync } from "node:fs";
import { Ice, IceFlix } from "../src/slice/index.js";
import { ServerAdapter } from "../src/ice-server/index.js";
import { setServerFastPaths } from "../src/ice-server/iceInternals.js";
import { createCommunicator } from "../src/runtime/communicator.js";
import { createLogger } from "../src/runtime/logger.js";
import { loadProperties, splitPropertyArgs } from "../src/runtime/config.js";
import { observeRequests } from "../src/runtime/requestObserver.js";
import { startMetricsEndpoint } from "../src/runtime/metricsEndpoint.js";

const BENCH_TOKENS = 1000;

function loadTitles(file: string): Array<{ id: string; name: string; folded: string }> {
  return readFileSync(file, "ascii")
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#") && line.includes("\t"))
    .map((line) => {
      const tab = line.indexOf("\t");
      const name = line.slice(tab + 1);
      return { id: line.slice(0, tab), name, folded: name.toLowerCase() };
    });
}

class AuthI extends IceFlix.Authenticator {
  readonly #tokens = new Map<string, string>();
  constructor() {
    super();
    for (let i = 0; i < BENCH_TOKENS; i++) this.#tokens.set(`token-${i}`, `user-${i % 10}`);
  }
  refreshAuthorization(): string {
    throw new IceFlix.Unauthorized();
  }
  isAuthorized(authentication: string): boolean {
    return this.#tokens.has(authentication);
  }
}

class CatalogI extends IceFlix.MediaCatalog {
  readonly #byId: Map<string, string>;
  constructor(
    private readonly titles: ReadonlyArray<{ id: string; name: string; folded: string }>,
    private readonly provider: IceFlix.StreamProviderPrx,
  ) {
    super();
    this.#byId = new Map(titles.map((t) => [t.id, t.name]));
  }
  getTile(id: string): IceFlix.Media {
    const name = this.#byId.get(id);
    if (name === undefined) throw new IceFlix.WrongMediaId(id);
    return new IceFlix.Media(id, this.provider, new IceFlix.MediaInfo(name, []));
  }
  getTilesByName(name: string, exact: boolean): string[] {
    const q = name.toLowerCase();
    const ids: string[] = [];
    for (const t of this.titles) if (exact ? t.folded === q : t.folded.includes(q)) ids.push(t.id);
    return ids;
  }
  getTilesByTags(): string[] {
    return [];
  }
  renameTile(): void {
    throw new IceFlix.Unauthorized();
  }
  addTags(): void {
    throw new IceFlix.Unauthorized();
  }
  removeTags(): void {
    throw new IceFlix.Unauthorized();
  }
}

class MainI extends IceFlix.Main {
  constructor(
    private readonly auth: IceFlix.AuthenticatorPrx,
    private readonly catalog: IceFlix.MediaCatalogPrx,
  ) {
    super();
  }
  getAuthenticator(): IceFlix.AuthenticatorPrx {
    return this.auth;
  }
  getCatalogService(): IceFlix.MediaCatalogPrx {
    return this.catalog;
  }
}

async function run(): Promise<void> {
  const argv = process.argv.slice(2);
  let observed: "trace" | "metrics" | "dispatch-metrics" | undefined;
  const experiment = argv.indexOf("--experiment");
  if (experiment >= 0) {
    const name = argv[experiment + 1];
    argv.splice(experiment, 2);
    if (name === "baseline") setServerFastPaths(false);
    else if (name === "trace" || name === "metrics" || name === "dispatch-metrics") observed = name;
    else {
      console.error(`unknown experiment ${name} (baseline, trace, metrics, dispatch-metrics)`);
      process.exit(2);
    }
  }
  const at = argv.indexOf("--titles");
  if (at < 0 || !argv[at + 1]) {
    console.error("usage: node dist/bench/rpcServer.js --titles FILE [--Prop=value ...]");
    process.exit(2);
  }
  const titles = loadTitles(argv[at + 1]!);
  argv.splice(at, 2);
  const { properties } = splitPropertyArgs(argv);
  const props = loadProperties(properties, { "BenchAdapter.Endpoints": "tcp -h 127.0.0.1 -p 0" });
  const log = createLogger("bench-rpc-server", process.env.ICEFLIX_LOG_LEVEL ?? "warn");
  const communicator: Ice.Communicator = createCommunicator(props, log);
  // Before the adapter: servants are observed when they are added.
  if (observed) observeRequests({ metrics: observed !== "trace", logRequests: false, log });
  const metricsEndpoint = observed === "metrics" ? await startMetricsEndpoint("127.0.0.1:0", log) : undefined;
  const server = await ServerAdapter.create(communicator, "BenchAdapter");
  const auth = IceFlix.AuthenticatorPrx.uncheckedCast(server.add(new AuthI(), "auth"));
  const provider = IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(`provider:${server.publishedEndpoints}`));
  const catalog = IceFlix.MediaCatalogPrx.uncheckedCast(server.add(new CatalogI(titles, provider), "catalog"));
  server.add(new MainI(auth, catalog), "main");
  process.stdout.write(JSON.stringify({ event: "ready", endpoints: server.publishedEndpoints, pid: process.pid }) + "\n");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.destroy();
    await metricsEndpoint?.close();
    await communicator.destroy();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

void run();
