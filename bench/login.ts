/**
 * Benchmark 3, login: a running `bin/iceflix auth` (real IceStorm broker, real users DB) driven by
 * the C++ load client (bench/cpp/load_client.cpp).
 *   refreshAuthorization  logins/s and latency with the chosen KDF (scrypt N=2^14, r=8, p=1,
 *                         src/services/authenticator/passwordKdf.ts), --login-concurrency calls in
 *                         flight; baseline: raw node:crypto scrypt with the same parameters and
 *                         the same concurrency, in this process, in the same run (the KDF's own
 *                         cost, so the ratio is the share of the service's time spent on it).
 *   isAuthorized          token checks/s and latency (HMAC, expiry, revocation, users DB lookup),
 *                         4x16 calls in flight; baseline: the minimal TS bench server
 *                         (bench/rpcServer.ts: a Map lookup on the same transport) under the
 *                         same load in the same run.
 *
 *   node dist/bench/login.js [--quick] [--seconds 4] [--warmup 1] [--users 3] [--login-concurrency 4]
 *        [--profile DIR] [--out FILE]
 *
 * Writes bench/results-login.json (or --out). Every process it starts is stopped at the end.
 */
import { createHash, scrypt } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Ice, IceFlix } from "../src/slice/index.js";
import { DEFAULT_KDF, encodeParams } from "../src/services/authenticator/passwordKdf.js";
import { startTestBroker } from "../test/helpers/broker.js";
import {
  BENCH_DIR,
  commonArgs,
  DIST_BENCH,
  environment,
  figure,
  fmt,
  ICEFLIX_BIN,
  numberOption,
  onCleanup,
  parseOptions,
  runCommand,
  runLoad,
  runScript,
  sig,
  startReady,
  table,
  TITLES_FILE,
  type BenchResult,
  type Figure,
} from "./lib/common.js";
import { ensureCppBinaries } from "./lib/cppBuild.js";

const USAGE = "node dist/bench/login.js [--quick] [--seconds S] [--warmup W] [--users N] [--login-concurrency C] [--profile DIR] [--out FILE]";

const sha256Hex = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** Raw scrypt derivations with `concurrency` in flight for `seconds`: per-second rate and latencies. */
async function scryptBaseline(seconds: number, warmup: number, concurrency: number) {
  const params = DEFAULT_KDF;
  const derive = (i: number) =>
    new Promise<void>((resolve, reject) =>
      scrypt(sha256Hex(`password-${i}`), Buffer.alloc(16, i), params.keyLength, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 }, (e) =>
        e ? reject(e) : resolve(),
      ),
    );
  const latencies: number[] = [];
  let start = Infinity;
  let end = Infinity;
  let stop = false;
  let n = 0;
  const lane = async () => {
    while (!stop) {
      const a = performance.now();
      await derive(n++);
      const b = performance.now();
      if (b >= start && b <= end) latencies.push(b - a); // completed inside the window, as the load client counts
    }
  };
  const lanes = Array.from({ length: concurrency }, lane);
  await new Promise((r) => setTimeout(r, warmup * 1000));
  start = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  end = performance.now();
  stop = true;
  await Promise.all(lanes);
  latencies.sort((a, b) => a - b);
  const q = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(p * latencies.length) - 1))]! : null);
  return { perSecond: latencies.length / ((end - start) / 1000), calls: latencies.length, p50Ms: q(0.5), p99Ms: q(0.99) };
}

async function main(): Promise<void> {
  const { quick, out: outArg, rest } = commonArgs(process.argv.slice(2));
  const o = parseOptions(rest, ["seconds", "warmup", "users", "login-concurrency", "profile"], USAGE);
  const opt = {
    seconds: numberOption(o, "seconds", quick ? 1.5 : 4),
    warmup: numberOption(o, "warmup", quick ? 0.3 : 1),
    users: Math.max(1, Math.round(numberOption(o, "users", quick ? 1 : 3))),
    loginConcurrency: Math.max(1, Math.round(numberOption(o, "login-concurrency", 4))),
    tokenLoad: { connections: 4, inflight: 16 },
    // --profile DIR: the Authenticator runs under `node --cpu-prof` (profile written to DIR at its stop).
    authNodeArgs: o.get("profile") ? ["--cpu-prof", `--cpu-prof-dir=${o.get("profile")}`] : [],
  };
  const out = outArg ?? join(BENCH_DIR, "results-login.json");
  const startedAt = new Date().toISOString();
  const cpp = await ensureCppBinaries((l) => console.log(`login: ${l}`));
  console.log(
    `login: ${encodeParams(DEFAULT_KDF)}; ${opt.users} user(s); refreshAuthorization with ${opt.loginConcurrency} in flight, ` +
      `isAuthorized with ${opt.tokenLoad.connections}x${opt.tokenLoad.inflight}; ${opt.seconds} s + ${opt.warmup} s warm-up per run`,
  );

  // Users first (the CLI, as an operator would), then broker and Authenticator.
  const data = mkdtempSync(join(tmpdir(), "iceflix-bench-login-"));
  onCleanup(() => rmSync(data, { recursive: true, force: true }));
  const users = Array.from({ length: opt.users }, (_, i) => `bench-user-${i}`);
  const password = "bench password";
  for (const u of users) {
    await runCommand(process.execPath, [ICEFLIX_BIN, "user", "add", u, "--data", data, "--password-stdin"], { stdin: `${password}\n` });
  }
  const broker = await startTestBroker();
  onCleanup(() => broker.stop());
  const auth = await startReady<{ proxy: string }>("auth", process.execPath, [
    ...opt.authNodeArgs,
    ICEFLIX_BIN,
    "auth",
    "--data",
    data,
    "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
    `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
    // Tokens outlive the run: no expiry revocations published in the middle of the measurement.
    "--IceFlix.Token.LifetimeSeconds=3600",
  ]);
  const baselineServer = await startReady<{ endpoints: string }>("ts-server", process.execPath, [join(DIST_BENCH, "rpcServer.js"), "--titles", TITLES_FILE]);

  // A token for the isAuthorized runs, from this process.
  const communicator = Ice.initialize();
  onCleanup(() => communicator.destroy());
  const prx = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(auth.ready.proxy));
  const token = await prx.refreshAuthorization(users[0]!, sha256Hex(password));
  if (!(await prx.isAuthorized(token))) throw new Error("a fresh token is not authorized");
  await communicator.destroy();

  const hash = sha256Hex(password);
  const login = await runLoad(
    cpp.client,
    auth.pid,
    {
      proxy: auth.ready.proxy,
      op: "refreshAuthorization",
      arg: users.join(","),
      arg2: hash,
      connections: 1,
      inflight: opt.loginConcurrency,
      seconds: opt.seconds,
      warmup: opt.warmup,
      iceArgs: ["--Ice.Default.InvocationTimeout=60000"],
    },
    auth.log,
  );
  console.log(`  refreshAuthorization  ${fmt(login.callsPerSecond, 1)} logins/s  p50 ${sig(login.p50Ms)} ms  p99 ${sig(login.p99Ms)} ms  server CPU ${fmt(login.serverCpuPercent)}%`);
  const kdf = await scryptBaseline(opt.seconds, opt.warmup, opt.loginConcurrency);
  console.log(`  raw scrypt (baseline) ${fmt(kdf.perSecond, 1)} derivations/s  p50 ${sig(kdf.p50Ms)} ms  p99 ${sig(kdf.p99Ms)} ms`);

  const tokenSpec = { op: "isAuthorized" as const, ...opt.tokenLoad, seconds: opt.seconds, warmup: opt.warmup };
  const check = await runLoad(cpp.client, auth.pid, { ...tokenSpec, proxy: auth.ready.proxy, arg: token }, auth.log);
  console.log(`  isAuthorized (auth)   ${fmt(check.callsPerSecond)} calls/s  p50 ${sig(check.p50Ms)} ms  p99 ${sig(check.p99Ms)} ms  server CPU ${fmt(check.serverCpuPercent)}%`);
  const base = await runLoad(cpp.client, baselineServer.pid, { ...tokenSpec, proxy: `auth:${baselineServer.ready.endpoints}`, arg: "token-7" }, baselineServer.log);
  console.log(`  isAuthorized (Map)    ${fmt(base.callsPerSecond)} calls/s  p50 ${sig(base.p50Ms)} ms  p99 ${sig(base.p99Ms)} ms  server CPU ${fmt(base.serverCpuPercent)}%`);

  const noTarget = "no target set in issue #7; reported";
  const figures: Figure[] = [
    figure({
      id: "login.refreshAuthorization.callsPerSecond",
      name: `refreshAuthorization logins/s (${opt.loginConcurrency} in flight)`,
      value: login.callsPerSecond,
      unit: "logins/s",
      baseline: { name: `raw scrypt derivations/s, ${opt.loginConcurrency} concurrent`, value: kdf.perSecond, unit: "/s" },
      ratioLabel: "service / raw KDF",
      note: noTarget,
    }),
    figure({
      id: "login.refreshAuthorization.p50Ms",
      name: `refreshAuthorization p50 latency (${opt.loginConcurrency} in flight)`,
      value: login.p50Ms,
      unit: "ms",
      baseline: { name: "raw scrypt p50 at the same concurrency", value: kdf.p50Ms, unit: "ms" },
      ratioLabel: "service / raw KDF (lower is better)",
      note: noTarget,
    }),
    figure({
      id: "login.isAuthorized.callsPerSecond",
      name: `isAuthorized calls/s on bin/iceflix auth (${opt.tokenLoad.connections}x${opt.tokenLoad.inflight})`,
      value: check.callsPerSecond,
      unit: "calls/s",
      baseline: { name: "minimal TS bench server (Map lookup)", value: base.callsPerSecond, unit: "calls/s" },
      ratioLabel: "auth / minimal",
      note: noTarget,
    }),
    figure({
      id: "login.isAuthorized.p50Ms",
      name: `isAuthorized p50 latency on bin/iceflix auth (${opt.tokenLoad.connections}x${opt.tokenLoad.inflight})`,
      value: check.p50Ms,
      unit: "ms",
      baseline: { name: "minimal TS bench server (Map lookup)", value: base.p50Ms, unit: "ms" },
      ratioLabel: "auth / minimal (lower is better)",
      note: noTarget,
    }),
  ];
  console.log("");
  console.log(
    table(
      ["figure", "value", "baseline", "ratio"],
      figures.map((f) => [f.name, `${sig(f.value)} ${f.unit}`, sig(f.baseline.value), f.ratio === null ? "-" : `${sig(f.ratio)}x`]),
    ),
  );

  const result: BenchResult = {
    benchmark: "login",
    title: "3. Login (bin/iceflix auth: refreshAuthorization with scrypt, isAuthorized)",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: { ...opt, kdf: encodeParams(DEFAULT_KDF) },
    environment: environment(),
    figures,
    notes: [
      "Token lifetime 3600 s during the run (no expiry revocations mid-measurement).",
      `scrypt runs on libuv's thread pool (UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}); the machine's cores bound logins/s.`,
    ],
    details: { login, kdfBaseline: kdf, isAuthorized: check, isAuthorizedBaseline: base },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`\nlogin: wrote ${out}`);
}

await runScript("login", main);
