/**
 * Authenticator (spec §3, §7, §10) with real IceStorm, two replicas on one users store, driven
 * from an unmodified Python Ice client; run on SQLite (one data folder) and on PostgreSQL (the
 * second replica in another data folder, on the same database, like a second host).
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN, startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { runPython, startPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";
import { until } from "../helpers/waitFor.js";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.js";
import { STORE_KINDS, type StoreKind } from "../helpers/stores.js";
import { recordDatabaseUrl, databaseChoice } from "../../src/runtime/database.js";

type Login = { token?: string; error?: string };

function cli(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin ?? "");
  });
}

for (const kind of STORE_KINDS) authenticatorSuite(kind);

function authenticatorSuite(kind: StoreKind): void {
describe(`Authenticator on ${kind}`, { timeout: 180_000 }, () => {
  let broker: TestBroker;
  let data: string;
  /** postgres: a second data folder on the same database (another host), for replica b. */
  let otherData: string;
  let postgres: TestPostgres | undefined;
  let databaseUrl = "";
  const started: ReadyProcess[] = [];
  let a: string;
  let b: string;
  let listener: ReadyProcess;

  const startAuth = async (extra: string[] = [], name = `auth-${started.length}`, dataDir = data) => {
    const p = await startIceflix(
      [
        "auth",
        "--data",
        dataDir,
        `--IceFlix.Secret.File=${join(data, "secret")}`,
        "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
        "--IceFlix.Token.LifetimeSeconds=3",
        "--IceFlix.Announce.PeriodSeconds=1",
        ...extra,
      ],
      { logFile: join(data, `${name}.log`) },
    );
    started.push(p as unknown as ReadyProcess);
    return p;
  };

  /**
   * An Authenticator with the default lifetime, logged in to at the suite's start: the 30 s
   * until its revocation pass while the other tests run, and its test awaits the outcome.
   */
  async function defaultLifetimeRevocation(): Promise<{ delay: number }> {
    const dflt = await startIceflix(
      [
        "auth",
        "--data",
        data,
        "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
      ],
      { logFile: join(data, "auth-default.log") },
    );
    started.push(dflt as unknown as ReadyProcess);
    const before = listener.stdout.length;
    const { token } = await login(dflt.ready.proxy, "alice", "wonderland");
    const issuedAt = Date.now();
    assert.equal(await check(dflt.ready.proxy, token!), true);
    const event = await until(
      "revoke event",
      () =>
        listener.stdout
          .slice(before)
          .map((l) => JSON.parse(l) as { token: string; at: number })
          .find((e) => e.token === token),
      40_000,
    );
    return { delay: event.at - issuedAt };
  }
  let defaultLifetime: Promise<{ delay: number }> | undefined;

  before(async () => {
    requireTool("/usr/bin/python3");
    broker = await startTestBroker();
    data = mkdtempSync(join(tmpdir(), "iceflix-auth-"));
    otherData = kind === "postgres" ? mkdtempSync(join(tmpdir(), "iceflix-auth-b-")) : data;
    if (kind === "postgres") {
      postgres = await startTestPostgres();
      databaseUrl = await postgres.newDatabase();
      // As `up --database` does: the CLI and the services with --data D use the recorded store.
      recordDatabaseUrl(data, databaseChoice(databaseUrl));
    }
    assert.equal((await cli(["user", "add", "alice", "--data", data, "--password-stdin"], "wonderland\n")).code, 0);
    a = (await startAuth()).ready.proxy;
    // The other replica is told the database by property (IceFlix.Database), not by its folder.
    b = (await startAuth(kind === "postgres" ? [`--IceFlix.Database=${databaseUrl}`] : [], "auth-b", otherData)).ready.proxy;
    listener = await startPython("revoke_listener.py", [broker.proxy]);
    if (kind === "sqlite") {
      defaultLifetime = defaultLifetimeRevocation();
      defaultLifetime.catch(() => undefined); // its test awaits it and reports the failure
    }
  });

  after(async () => {
    await listener?.stop();
    for (const p of started) await p.stop();
    await broker?.stop();
    await postgres?.stop();
    if (data) rmSync(data, { recursive: true, force: true });
    if (otherData) rmSync(otherData, { recursive: true, force: true });
  });

  const login = (proxy: string, user: string, password: string) => runPython<Login>("auth_client.py", [proxy, "login", user, password]);
  const check = async (proxy: string, token: string) => (await runPython<{ valid: boolean }>("auth_client.py", [proxy, "check", token])).valid;

  it("a valid login returns a token that is valid on both replicas", async () => {
    const { token } = await login(a, "alice", "wonderland");
    assert.ok(token);
    const r = await runPython<{ valid: boolean[] }>("auth_client.py", [a, "check-many", b, token!]);
    assert.deepEqual(r.valid, [true, true]);
  });

  it("wrong password, unknown user, malformed hash and over-long names are Unauthorized", async () => {
    assert.equal((await login(a, "alice", "wrong")).error, "Unauthorized");
    assert.equal((await login(a, "nobody", "x")).error, "Unauthorized");
    assert.equal((await runPython<Login>("auth_client.py", [a, "login-hash", "alice", "not-hex"])).error, "Unauthorized");
    assert.equal((await login(a, "x".repeat(65), "x")).error, "Unauthorized");
  });

  it("tampered, foreign and over-long tokens are not valid", async () => {
    const { token } = await login(b, "alice", "wonderland");
    assert.equal(await check(a, token!.slice(0, -2) + (token!.endsWith("AA") ? "BB" : "AA")), false);
    assert.equal(await check(a, "v1.abc.def"), false);
    assert.equal(await check(a, "x".repeat(5000)), false);
    assert.equal(await check(a, ""), false);
  });

  it("an expired token is invalid and its revocation is published, signed, within the lifetime + 1 s", async () => {
    const before = listener.stdout.length;
    const { token } = await login(a, "alice", "wonderland");
    const issuedAt = Date.now();
    const event = await until(
      "revoke event",
      () =>
        listener.stdout
          .slice(before)
          .map((l) => JSON.parse(l) as { event: string; token: string; at: number; signed: boolean })
          .find((e) => e.event === "revoke" && e.token === token),
      8000,
    );
    assert.equal(event.signed, true);
    const delay = event.at - issuedAt;
    assert.ok(delay >= 2500 && delay <= 4500, `revocation came ${delay} ms after login (lifetime 3 s)`);
    assert.equal(await check(b, token!), false);
  });

  it("a user added while running can log in at once; passwd and remove invalidate live tokens at once", async () => {
    assert.equal((await cli(["user", "add", "bob", "--data", data, "--password-stdin"], "builder\n")).code, 0);
    const { token } = await login(b, "bob", "builder");
    assert.ok(token, "a user added while the services run can log in");
    const before = listener.stdout.length;
    assert.equal((await cli(["user", "passwd", "bob", "--data", data, "--password-stdin"], "builder2\n")).code, 0);
    assert.equal(await check(a, token!), false, "passwd invalidates tokens on every replica");
    assert.equal((await login(a, "bob", "builder")).error, "Unauthorized");
    const fresh = (await login(a, "bob", "builder2")).token;
    assert.ok(fresh);
    await until("revoke after passwd", () => (listener.stdout.slice(before).some((l) => l.includes(token!)) ? true : undefined), 3000);
    assert.equal((await cli(["user", "remove", "bob", "--data", data])).code, 0);
    assert.equal(await check(b, fresh!), false, "remove invalidates tokens");
    assert.equal((await cli(["user", "remove", "bob", "--data", data])).code, 1);
  });

  it("failed logins are throttled per user across replicas", async () => {
    assert.equal((await cli(["user", "add", "carol", "--data", data, "--password-stdin"], "right\n")).code, 0);
    for (let i = 0; i < 4; i++) assert.equal((await login(i % 2 ? a : b, "carol", "wrong")).error, "Unauthorized");
    assert.equal((await login(a, "carol", "right")).error, "Unauthorized", "locked right after 4 failures, on the other replica too");
    const token = await until(
      "lock to expire",
      async () => (await login(b, "carol", "right")).token,
      5000,
    );
    assert.ok(token);
  });

  it("a forged revocation (no secret, or another secret) is ignored; a signed one is obeyed", async () => {
    const { token } = await login(a, "alice", "wonderland");
    await runPython("event_publisher.py", [broker.proxy, "AuthenticationStatus", "revoke", token!]);
    const otherSecret = join(data, "other-secret");
    (await import("node:fs")).writeFileSync(otherSecret, "ab".repeat(32));
    await runPython("event_publisher.py", [broker.proxy, "AuthenticationStatus", "--secret-file", otherSecret, "revoke", token!]);
    await runPython("event_publisher.py", [broker.proxy, "AuthenticationStatus", "--secret-file", join(data, "secret"), "--stale", "revoke", token!]);
    assert.equal(await check(a, token!), true, "forged or stale revocations must not revoke");
    await runPython("event_publisher.py", [broker.proxy, "AuthenticationStatus", "--secret-file", join(data, "secret"), "revoke", token!]);
    await until("signed revocation to apply", async () => ((await check(a, token!)) ? undefined : true), 3000);
    assert.equal(await check(b, token!), false);
  });

  it("with AllowUnsigned=1 an unsigned revocation is accepted", async () => {
    const lax = (await startAuth(["--IceFlix.Events.AllowUnsigned=1"], "auth-lax")).ready.proxy;
    const { token } = await login(lax, "alice", "wonderland");
    assert.equal(await check(lax, token!), true);
    await runPython("event_publisher.py", [broker.proxy, "AuthenticationStatus", "revoke", token!]);
    await until("unsigned revocation to apply", async () => ((await check(lax, token!)) ? undefined : true), 3000);
  });

  // Lifetime bookkeeping does not touch the store: once is enough.
  if (kind === "sqlite") it("with the default 30 s lifetime, the revocation is published 30–32 s after login", async () => {
    const { delay } = await defaultLifetime!;
    assert.ok(delay >= 29_500 && delay <= 32_000, `revocation came ${delay} ms after login`);
  });

  it("no log line contains a token, a password hash, the secret or the database password", async () => {
    const secret = readFileSync(join(data, "secret"), "utf8").trim();
    const tokens = listener.stdout.filter((l) => l.includes('"revoke"')).map((l) => (JSON.parse(l) as { token: string }).token);
    assert.ok(tokens.length > 0);
    const { createHash } = await import("node:crypto");
    const hashes = ["wonderland", "builder", "builder2", "right", "wrong"].map((p) => createHash("sha256").update(p).digest("hex"));
    for (const f of readdirSync(data).filter((f) => f.endsWith(".log"))) {
      const text = readFileSync(join(data, f), "utf8");
      for (const t of tokens) assert.ok(!text.includes(t), `${f} contains a token`);
      for (const h of hashes) assert.ok(!text.includes(h), `${f} contains a password hash`);
      assert.ok(!text.includes(secret), `${f} contains the secret`);
      if (postgres) assert.ok(!text.includes(postgres.password), `${f} contains the database password`);
    }
  });
});
}
