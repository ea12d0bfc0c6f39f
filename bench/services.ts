/**
 * Benchmark 8, the real services at the speed of their transport (issue 19): the C++ load client
 * (bench/cpp/load_client.cpp) against the real `bin/iceflix auth`, `catalog` and `main` (real
 * IceStorm broker, real users and catalog DBs, a real `streaming` provider serving one file),
 * side by side with the minimal TS servant (bench/rpcServer.ts: Map lookups on the same transport)
 * in the same run:
 *   isAuthorized(token)             Authenticator: HMAC token, expiry, revocation, users DB stamps
 *   getTilesByName("the", false)    catalog: indexed substring search (19 of bench/data/titles.tsv)
 *   getTile(id)                     catalog: the title, a live provider checked with isAvailable(id)
 *   getAuthenticator()              Main: the registry's next Authenticator, checked with ice_ping
 * Each round runs every op on the real service and on the minimal servant (order alternating);
 * medians over rounds. Targets (issue 19): real >= 0.9x the minimal servant's calls/s and
 * <= 1.2x its server CPU per call (the CPU of the answering process only: the Authenticator's
 * answers to Main's pings, or the provider's to the catalog's isAvailable, are not in it).
 *
 *   node dist/bench/services.js [--quick] [--seconds 3] [--warmup 1] [--prime 2] [--rounds 3]
 *        [--ops isAuthorized,getTilesByName,getTile,getAuthenticator] [--profile DIR] [--out FILE]
 *
 * --profile DIR runs auth, catalog and main under `node --cpu-prof` (profiles written to DIR when
 * they stop; `node dist/bench/profileSummary.js FILE`).
 *
 * Writes bench/results-services.json (or --out). Every process it starts is stopped at the end.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix } from "../src/slice/index.js";
import { CatalogDb, CATALOG_DB_FILE } from "../src/services/catalog/catalogDb.js";
import { SqliteCatalogStore } from "../src/services/catalog/sqliteCatalogStore.js";
import { startTestBroker } from "../test/helpers/broker.js";
import {
  BENCH_DIR,
  commonArgs,
  DIST_BENCH,
  environment,
  figure,
  figuresTable,
  fmt,
  ICEFLIX_BIN,
  median,
  numberOption,
  onCleanup,
  parseOptions,
  runCommand,
  runLoad,
  runScript,
  sig,
  sleep,
  startReady,
  TITLES_FILE,
  type BenchResult,
  type Figure,
  type LoadResult,
  type LoadSpec,
  type ReadyServer,
} from "./lib/common.js";
import { ensureCppBinaries } from "./lib/cppBuild.js";

type Op = "isAuthorized" | "getTilesByName" | "getTile" | "getAuthenticator";
type Kind = "auth" | "catalog" | "main";
const OPS: Op[] = ["isAuthorized", "getTilesByName", "getTile", "getAuthenticator"];
/** Which service answers each op, and the minimal servant's identity for it. */
const SERVED_BY: Record<Op, Kind> = { isAuthorized: "auth", getTilesByName: "catalog", getTile: "catalog", getAuthenticator: "main" };
const MINIMAL_IDENTITY: Record<Kind, string> = { auth: "auth", catalog: "catalog", main: "main" };
const ADAPTER: Record<Kind | "streaming", string> = {
  auth: "AuthenticatorAdapter",
  catalog: "CatalogAdapter",
  main: "MainAdapter",
  streaming: "StreamingAdapter",
};
const USAGE =
  "node dist/bench/services.js [--quick] [--seconds S] [--warmup W] [--prime P] [--rounds N] [--ops isAuthorized,getTilesByName,getTile,getAuthenticator] [--profile DIR] [--out FILE]";
const LOAD = { connections: 4, inflight: 16 };
const SEARCH = "the";

interface Sample extends LoadResult {
  op: Op;
  target: "real" | "minimal";
  round: number;
}

/** The titles of bench/data/titles.tsv into the catalog DB of `data`, as the minimal servant has them. */
async function seedCatalog(data: string): Promise<void> {
  const titles = readFileSync(TITLES_FILE, "utf8")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("#") && l.includes("\t"))
    .map((l) => ({ id: l.slice(0, l.indexOf("\t")), name: l.slice(l.indexOf("\t") + 1), tags: [] as string[] }));
  const db = await CatalogDb.open(SqliteCatalogStore.open(join(data, CATALOG_DB_FILE)), { maxResults: 10_000 });
  await db.addTitles(titles);
  await db.close();
}

/** Polls `probe` until it resolves true (bounded). */
async function until(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`services: ${what} not ready within ${timeoutMs} ms${last ? ` (${String(last)})` : ""}`);
}

async function main(): Promise<void> {
  const { quick, out: outArg, rest } = commonArgs(process.argv.slice(2));
  const o = parseOptions(rest, ["seconds", "warmup", "prime", "rounds", "ops", "profile"], USAGE);
  const ops = (o.get("ops")?.split(",").filter(Boolean) ?? OPS) as Op[];
  for (const op of ops) if (!OPS.includes(op)) throw new Error(`unknown op ${op} (${OPS.join(", ")})`);
  const opt = {
    seconds: numberOption(o, "seconds", quick ? 0.8 : 3),
    warmup: numberOption(o, "warmup", quick ? 0.3 : 1),
    prime: numberOption(o, "prime", quick ? 0.5 : 2),
    rounds: Math.max(1, Math.round(numberOption(o, "rounds", quick ? 1 : 3))),
    ops,
    load: LOAD,
    profileNodeArgs: o.get("profile") ? ["--cpu-prof", `--cpu-prof-dir=${o.get("profile")}`] : [],
  };
  const out = outArg ?? join(BENCH_DIR, "results-services.json");
  const startedAt = new Date().toISOString();
  const cpp = await ensureCppBinaries((l) => console.log(`services: ${l}`));
  console.log(
    `services: C++ load client (${LOAD.connections}x${LOAD.inflight} in flight) -> bin/iceflix auth, catalog, main vs the minimal TS servant; ` +
      `${ops.join(", ")}; ${opt.rounds} round(s), ${opt.seconds} s + ${opt.warmup} s warm-up per run`,
  );

  // A deployment: one user, the bench titles, one served file; broker, then the services.
  const data = mkdtempSync(join(tmpdir(), "iceflix-bench-services-"));
  onCleanup(() => rmSync(data, { recursive: true, force: true }));
  const password = "bench password";
  await runCommand(process.execPath, [ICEFLIX_BIN, "user", "add", "bench-user", "--data", data, "--password-stdin"], { stdin: `${password}\n` });
  await seedCatalog(data);
  const media = join(data, "media");
  mkdirSync(media);
  const clip = Buffer.alloc(64 * 1024, 7);
  writeFileSync(join(media, "clip.bin"), clip);
  const mediaId = createHash("sha256").update(clip).digest("hex");

  const broker = await startTestBroker();
  onCleanup(() => broker.stop());
  const start = (kind: Kind | "streaming", nodeArgs: string[]) =>
    startReady<{ proxy: string }>(kind, process.execPath, [
      ...nodeArgs,
      ICEFLIX_BIN,
      kind,
      "--data",
      data,
      ...(kind === "streaming" ? ["--media", media] : []),
      `--${ADAPTER[kind]}.Endpoints=tcp -h 127.0.0.1 -p 0`,
      `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
      "--IceFlix.Token.LifetimeSeconds=3600", // no expiry mid-measurement
    ]);
  const real: Record<Kind, ReadyServer<{ proxy: string }>> = {
    auth: await start("auth", opt.profileNodeArgs),
    catalog: await start("catalog", opt.profileNodeArgs),
    main: await start("main", opt.profileNodeArgs),
  };
  await start("streaming", []);
  const minimal = await startReady<{ endpoints: string }>("ts-server", process.execPath, [join(DIST_BENCH, "rpcServer.js"), "--titles", TITLES_FILE]);

  // A token, and every service answering what will be measured.
  const communicator = Ice.initialize(["--Ice.Default.InvocationTimeout=5000"]);
  onCleanup(() => communicator.destroy());
  const authPrx = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(real.auth.ready.proxy));
  const catalogPrx = IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(real.catalog.ready.proxy));
  const mainPrx = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(real.main.ready.proxy));
  const token = await authPrx.refreshAuthorization("bench-user", createHash("sha256").update(password).digest("hex"));
  if (!(await authPrx.isAuthorized(token))) throw new Error("a fresh token is not authorized");
  await until("Main's Authenticator", 30_000, async () => (await mainPrx.getAuthenticator()) !== null);
  await until("the catalog's provider of the clip", 30_000, async () => (await catalogPrx.getTile(mediaId)).id === mediaId);
  await communicator.destroy();

  const specOf = (op: Op, target: "real" | "minimal"): Omit<LoadSpec, "seconds" | "warmup"> => {
    const kind = SERVED_BY[op];
    const proxy = target === "real" ? real[kind].ready.proxy : `${MINIMAL_IDENTITY[kind]}:${minimal.ready.endpoints}`;
    const arg = op === "isAuthorized" ? (target === "real" ? token : "token-7") : op === "getTile" ? (target === "real" ? mediaId : "m001") : SEARCH;
    return { proxy, op, arg, exact: op === "getTilesByName" ? false : undefined, ...LOAD };
  };
  const serverOf = (target: "real" | "minimal", op: Op) => (target === "real" ? real[SERVED_BY[op]] : minimal);

  for (const op of ops) {
    for (const target of ["real", "minimal"] as const) {
      const s = serverOf(target, op);
      await runLoad(cpp.client, s.pid, { ...specOf(op, target), seconds: opt.prime, warmup: 0.1 }, s.log);
    }
  }
  const samples: Sample[] = [];
  for (let round = 1; round <= opt.rounds; round++) {
    for (const op of ops) {
      const order = round % 2 === 1 ? (["real", "minimal"] as const) : (["minimal", "real"] as const);
      for (const target of order) {
        const s = serverOf(target, op);
        const r: Sample = { op, target, round, ...(await runLoad(cpp.client, s.pid, { ...specOf(op, target), seconds: opt.seconds, warmup: opt.warmup }, s.log)) };
        samples.push(r);
        console.log(
          `  round ${round}  ${op.padEnd(16)}  ${target.padEnd(7)}  ${fmt(r.callsPerSecond).padStart(8)} calls/s  p50 ${sig(r.p50Ms)} ms  p99 ${sig(r.p99Ms)} ms  ` +
            `server CPU ${fmt(r.serverCpuPercent)}% (${sig(r.serverCpuUsPerCall)} µs/call)  client CPU ${fmt(r.clientCpuPercent)}%`,
        );
      }
    }
  }
  const results = new Map<string, number>(); // sizes must agree (search): the same work on both
  for (const s of samples.filter((x) => x.op === "getTilesByName")) results.set(s.target, (s.sample as unknown[]).length);
  if (results.size === 2 && results.get("real") !== results.get("minimal")) throw new Error(`search result sizes differ: ${JSON.stringify([...results])}`);

  const summary = ops.flatMap((op) =>
    (["real", "minimal"] as const).map((target) => {
      const r = samples.filter((s) => s.op === op && s.target === target);
      return {
        op,
        target,
        callsPerSecond: median(r.map((s) => s.callsPerSecond)),
        callsPerSecondPerRound: r.map((s) => Math.round(s.callsPerSecond)),
        p50Ms: median(r.map((s) => s.p50Ms)),
        p99Ms: median(r.map((s) => s.p99Ms)),
        serverCpuPercent: median(r.map((s) => s.serverCpuPercent)),
        serverCpuUsPerCall: median(r.map((s) => s.serverCpuUsPerCall)),
        clientCpuPercent: median(r.map((s) => s.clientCpuPercent)),
      };
    }),
  );
  const get = (op: Op, target: "real" | "minimal") => summary.find((s) => s.op === op && s.target === target)!;
  const figures: Figure[] = [];
  for (const op of ops) {
    const v = get(op, "real");
    const b = get(op, "minimal");
    const who = `bin/iceflix ${SERVED_BY[op]}`;
    const base = "minimal TS servant, same transport";
    figures.push(
      figure({
        id: `services.${op}.callsPerSecond`,
        name: `${op} calls/s on ${who} (${LOAD.connections}x${LOAD.inflight})`,
        value: v.callsPerSecond,
        unit: "calls/s",
        baseline: { name: base, value: b.callsPerSecond, unit: "calls/s" },
        ratioLabel: "service / minimal",
        target: { on: "ratio", op: ">=", value: 0.9, text: ">= 0.9x minimal" },
      }),
      figure({
        id: `services.${op}.cpuPerCall`,
        name: `${op} server CPU per call on ${who}`,
        value: v.serverCpuUsPerCall,
        unit: "µs",
        baseline: { name: base, value: b.serverCpuUsPerCall, unit: "µs" },
        ratioLabel: "service / minimal (lower is better)",
        target: { on: "ratio", op: "<=", value: 1.2, text: "<= 1.2x minimal" },
      }),
      figure({
        id: `services.${op}.p50Ms`,
        name: `${op} p50 latency on ${who} (${LOAD.connections}x${LOAD.inflight})`,
        value: v.p50Ms,
        unit: "ms",
        baseline: { name: base, value: b.p50Ms, unit: "ms" },
        ratioLabel: "service / minimal (lower is better)",
        note: "no target set; reported",
        detail: true,
      }),
    );
  }
  console.log("");
  console.log(figuresTable(figures));
  const maxClient = Math.max(...samples.map((s) => s.clientCpuPercent));
  const notes = [
    "Server CPU is the answering process only (Main's pings to the Authenticator and the catalog's isAvailable calls to the provider are answered elsewhere).",
    "Token lifetime 3600 s during the run (no expiry revocations mid-measurement).",
  ];
  if (maxClient > 90) notes.push(`The load client reached ${fmt(maxClient)}% CPU in some runs: calls/s there are partly client-bound.`);
  const result: BenchResult = {
    benchmark: "services",
    title: "8. Real services vs the minimal servant (C++ load client, issue 19)",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: opt,
    environment: environment(),
    figures,
    notes,
    details: { summary, samples },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nservices: wrote ${out}`);
}

await runScript("services", main);
