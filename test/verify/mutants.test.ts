/**
 * `iceflix verify` is not tuned to us: a small Python implementation of the contract
 * (test/verify/py/mini_iceflix.py, python3-zeroc-ice, on a real IceStorm) passes, and each mutant
 * of it (one behaviour broken) is caught by a failing check that names that behaviour.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { waitFor } from "../helpers/waitFor.js";
import { iceflix } from "../chaos/lib/deployment.js";
import { PYTHON, SLICE_DIR } from "../helpers/python.js";
import { ICEFLIX_BIN, REPO_ROOT, startReady } from "../helpers/processes.js";
import { requireTool } from "../helpers/tools.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { passwordHash } from "../../src/common/password.js";

const SCRIPT = `${REPO_ROOT}test/verify/py/mini_iceflix.py`;
const LIFETIME = "2";
const MINI = `${PYTHON} ${SCRIPT}`;

interface Check {
  group: string;
  name: string;
  status: string;
  reason: string;
}

/** Each mutant, the group to run and the check that must fail for it. */
const MUTANTS: Array<{ mutant: string; group: string; check: RegExp; slow?: boolean }> = [
  { mutant: "tokens-never-expire", group: "auth", check: /token expires at the lifetime/, slow: true },
  { mutant: "same-token-each-login", group: "auth", check: /each login gives a new token/ },
  { mutant: "wrong-password-accepted", group: "auth", check: /wrong password hash refused/ },
  { mutant: "unknown-user-accepted", group: "auth", check: /unknown user refused/ },
  { mutant: "plain-password-accepted", group: "auth", check: /plain \(unhashed\) password refused/ },
  { mutant: "isauthorized-always-true", group: "auth", check: /isAuthorized true for a fresh token, false for a made-up one/ },
  { mutant: "case-sensitive-search", group: "catalog", check: /substring search is case-insensitive/ },
  { mutant: "gettile-unknown-exception", group: "catalog", check: /getTile with an unknown id raises WrongMediaId/ },
  { mutant: "tags-all-as-any", group: "catalog", check: /tags: add, search all\/any/ },
  { mutant: "rename-ignored", group: "catalog", check: /rename with a token is seen/ },
  { mutant: "edits-without-token", group: "catalog", check: /edits without a valid token raise Unauthorized/ },
  { mutant: "dead-proxy-handed-out", group: "main", check: /getAuthenticator hands out a live Authenticator/ },
  { mutant: "catalog-hand-out-wrong-type", group: "main", check: /getCatalogService hands out a live MediaCatalog/ },
  { mutant: "isavailable-always-true", group: "provider", check: /isAvailable true for its title, false for an unknown id/ },
  { mutant: "same-controller", group: "provider", check: /each getStream gives a distinct controller/ },
  { mutant: "stop-keeps-sending", group: "controller", check: /stop\(\) stops it/ },
  { mutant: "sdp-wrong-port", group: "controller", check: /getSDP names the port/ },
  { mutant: "huge-name-crash", group: "robustness", check: /getTilesByName with odd names/ },
  { mutant: "round-robin-broken", group: "main", check: /hand-outs round-robin over several instances/ },
  { mutant: "no-temporary-unavailable", group: "main", check: /TemporaryUnavailable when no Authenticator or MediaCatalog is alive/ },
  { mutant: "users-read-at-start", group: "auth", check: /a user added while running can log in/ },
  { mutant: "rename-lost-on-reannounce", group: "catalog", check: /a rename survives reannounceMedia/ },
  { mutant: "reannounce-silent", group: "provider", check: /reannounceMedia publishes newMedia on MediaAnnouncements/ },
  { mutant: "rtp-not-h264", group: "controller", check: /RTP decodes as H\.264 with ffmpeg/ },
  { mutant: "no-reauth-request", group: "controller", check: /requestAuthentication arrives on the sync topic/, slow: true },
  { mutant: "no-revoke-event", group: "events", check: /a token is revoked on AuthenticationStatus at its lifetime/, slow: true },
];

/** Mutants run this many at a time, each lane on its own broker (their events must not mix). */
const LANES = 3;
let brokers: TestBroker[] = [];
/** The broker of the tests that run one at a time. */
let broker: TestBroker | undefined;
let work = "";

/** Lends each concurrent test a broker of its own. */
class BrokerLanes {
  readonly #idle: TestBroker[];
  readonly #waiting: Array<(b: TestBroker) => void> = [];
  constructor(all: TestBroker[]) {
    this.#idle = [...all];
  }
  async use<T>(run: (b: TestBroker) => Promise<T>): Promise<T> {
    const b = this.#idle.pop() ?? (await new Promise<TestBroker>((resolve) => this.#waiting.push(resolve)));
    try {
      return await run(b);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(b);
      else this.#idle.push(b);
    }
  }
}

/** A users file (the original users.json format) with only demo/demo. */
function freshUsersFile(name = "users"): string {
  const file = join(work, `${name}.json`);
  writeFileSync(file, JSON.stringify({ demo: { password_hash: passwordHash("demo") } }));
  return file;
}

/** The mini implementation on the shared broker, with two of each service and a users file. */
function startMini(mutant: string, lifetime: string, usersFile: string, on: TestBroker = broker!) {
  const args = [SCRIPT, "--lifetime", lifetime, "--topic-manager", on.proxy, "--instances", "2", "--users-file", usersFile, ...(mutant ? ["--mutant", mutant] : [])];
  return startReady<{ proxy: string; pid: number }>(PYTHON, args, { env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } });
}

/** verify's options for the mini: the broker, its announce period, and the operator commands. */
function miniOptions(pid: number, usersFile: string, on: TestBroker = broker!): string[] {
  return [
    "--topic-manager", on.proxy,
    "--announce-period", "1",
    "--add-user-command", `${MINI} user-add ${usersFile}`,
    "--remove-user-command", `${MINI} user-remove ${usersFile}`,
    "--stop-services-command", `kill -USR1 ${pid}`,
    "--start-services-command", `kill -USR2 ${pid}`,
  ];
}

async function verifyMini(mutant: string, only: string[], fast: boolean, extra: string[] = [], on: TestBroker = broker!): Promise<{ code: number; checks: Check[] }> {
  const usersFile = freshUsersFile(mutant ? `users-${mutant}` : "users");
  const peer = await startMini(mutant, LIFETIME, usersFile, on);
  try {
    const args = ["verify", peer.ready.proxy, "--user", "demo", "--password-stdin", "--json", "--token-lifetime", LIFETIME, ...miniOptions(peer.ready.pid, usersFile, on), ...(fast ? ["--fast"] : []), ...extra];
    if (only.length) args.push("--only", ...only);
    const r = await iceflix(args, "demo\n", 60_000);
    const report = JSON.parse(r.stdout) as { checks: Check[] };
    return { code: r.code, checks: report.checks };
  } finally {
    await peer.stop();
  }
}

describe("verify against a small Python implementation and its mutants", () => {
  before(async () => {
    requireTool("ffmpeg");
    work = mkdtempSync(join(tmpdir(), "iceflix-verify-mini-"));
    brokers = await Promise.all(Array.from({ length: LANES }, () => startTestBroker()));
    broker = brokers[0];
  });
  after(async () => {
    await Promise.all(brokers.map((b) => b.stop()));
    rmSync(work, { recursive: true, force: true });
  });

  it("the unbroken implementation passes every check it can be given (exit 0)", async () => {
    const { code, checks } = await verifyMini("", [], false);
    assert.deepEqual(checks.filter((c) => c.status === "fail"), []);
    // Only the media folder check is skipped (the mini serves no files): every new check ran.
    assert.deepEqual(checks.filter((c) => c.status === "skip").map((c) => c.name), ["every file of --media-dir is found by its SHA-256"]);
    assert.ok(checks.filter((c) => c.status === "pass").length >= 37, `${checks.length} checks`);
    // Unsigned events are information, never a failure: the mini obeys them, and verify says so.
    const info = checks.find((c) => /unsigned and forged revocations/.test(c.name))!;
    assert.match(info.reason, /^info: an unsigned revoke was obeyed/);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(readFileSync(join(work, "users.json"), "utf8")), { demo: { password_hash: passwordHash("demo") } }, "the added user was removed");
  });

  it("without the broker and the commands, the checks that need them are skipped, not failed", async () => {
    const peer = await startReady<{ proxy: string }>(PYTHON, [SCRIPT, "--lifetime", LIFETIME], { env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } });
    try {
      const r = await iceflix(["verify", peer.ready.proxy, "--user", "demo", "--password-stdin", "--json", "--fast", "--only", "main", "auth", "provider", "events"], "demo\n", 60_000);
      const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
      const skipped = Object.fromEntries(checks.filter((c) => c.status === "skip").map((c) => [c.name, c.reason]));
      assert.deepEqual(checks.filter((c) => c.status === "fail"), []);
      assert.match(skipped["hand-outs round-robin over several instances"]!, /only one Authenticator and one MediaCatalog handed out/);
      assert.match(skipped["TemporaryUnavailable when no Authenticator or MediaCatalog is alive"]!, /needs --stop-services-command/);
      assert.match(skipped["a user added while running can log in"]!, /needs --add-user-command/);
      assert.match(skipped["reannounceMedia publishes newMedia on MediaAnnouncements"]!, /needs --topic-manager/);
      assert.match(skipped["services announce themselves on ServiceAvailability"]!, /needs --topic-manager/);
      assert.equal(r.code, 0);
    } finally {
      await peer.stop();
    }
  });

  it("has at least 12 mutants", () => assert.ok(MUTANTS.length >= 12));

  // A mutant only has to fail its check: more load (three at a time) cannot make it pass.
  describe("each mutant", { concurrency: LANES }, () => {
    let lanes: BrokerLanes;
    before(() => (lanes = new BrokerLanes(brokers)));
    for (const m of MUTANTS) {
      it(`mutant ${m.mutant} is caught by "${m.check.source}" (exit 1)`, async () => {
        const { code, checks } = await lanes.use((on) => verifyMini(m.mutant, [m.group], !m.slow, [], on));
        const failed = checks.filter((c) => c.status === "fail");
        assert.ok(
          failed.some((c) => m.check.test(c.name)),
          `no failing check matches ${m.check}: ${JSON.stringify(checks.map((c) => `${c.status} ${c.name}: ${c.reason}`))}`,
        );
        assert.equal(code, 1);
      });
    }
  });

  // The HTML report of a run with one failure, opened in Chromium; VERIFY_SCREENSHOT=FILE keeps
  // a screenshot (docs/verify-report.png was made so).
  it("the HTML report opens in Chromium with every check and the failure marked", async () => {
    requireTool("/usr/bin/chromium");
    const dir = mkdtempSync(join(tmpdir(), "iceflix-verify-html-"));
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const file = join(dir, "report.html");
      const { checks } = await verifyMini("case-sensitive-search", ["main", "catalog", "robustness"], true, ["--html", file]);
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await page.goto(`file://${file}`);
      assert.equal(await page.locator("tbody tr").count(), checks.length);
      assert.equal(await page.locator("tbody tr.fail").count(), checks.filter((c) => c.status === "fail").length);
      assert.match((await page.locator("tr.fail").first().textContent()) ?? "", /case-insensitive/);
      assert.match((await page.locator("#summary").textContent()) ?? "", /1 failed/);
      if (process.env.VERIFY_SCREENSHOT) await page.screenshot({ path: process.env.VERIFY_SCREENSHOT, fullPage: true });
    } finally {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Reads every title's name, sorted (what the Ctrl+C tests compare before and after). */
  async function titleNames(main: IceFlix.MainPrx): Promise<() => Promise<string[]>> {
    const catalog = (await main.getCatalogService())!;
    return async () => (await Promise.all((await catalog.getTilesByName("", false)).map((id) => catalog.getTile(id)))).map((m) => m.info.name).sort();
  }

  // The new edits are undone on Ctrl+C too: two renames, an added user, and the services stopped
  // (the mutant hands out dead proxies instead of TemporaryUnavailable, so the check polls while
  // they are down, and SIGINT comes then).
  it("Ctrl+C while the services are stopped starts them again, removes the added user, restores the names (exit 130)", async () => {
    const usersFile = freshUsersFile();
    const usersBefore = readFileSync(usersFile, "utf8");
    const peer = await startMini("no-temporary-unavailable", "30", usersFile);
    const communicator = Ice.initialize();
    try {
      const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(peer.ready.proxy));
      const names = await titleNames(main);
      const before = await names();
      const args = ["verify", peer.ready.proxy, "--user", "demo", "--password-stdin", "--fast", "--only", "catalog", "auth", "main", ...miniOptions(peer.ready.pid, usersFile)];
      const child = spawn(process.execPath, [ICEFLIX_BIN, ...args]);
      child.stdin.end("demo\n");
      let stderr = "";
      let stdout = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      try {
        await waitFor("the services stopped", () => stderr, (s) => s.includes("services stopped"), 30_000);
        assert.match(stdout, /PASS auth: a user added while running can log in/);
        assert.notEqual(readFileSync(usersFile, "utf8"), usersBefore, "a user is added while the checker runs");
        await assert.rejects((async () => (await main.getAuthenticator())!.ice_ping())(), "the services are stopped");
        child.kill("SIGINT");
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 15_000))]);
        assert.equal(code, 130, stderr);
        assert.deepEqual(await names(), before);
        assert.equal(readFileSync(usersFile, "utf8").replace(/\s/g, ""), usersBefore.replace(/\s/g, ""));
        await (await main.getAuthenticator())!.ice_ping();
        await (await main.getCatalogService())!.ice_ping();
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    } finally {
      await communicator.destroy();
      await peer.stop();
    }
  });

  // Edits are undone on Ctrl+C: the catalog group renames a title, then the auth group waits for
  // token expiry; SIGINT during that wait puts the name back before the checker exits.
  it("Ctrl+C during a slow check undoes the edits (exit 130)", async () => {
    const peer = await startReady<{ proxy: string }>(PYTHON, [SCRIPT, "--lifetime", "30"], { env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } });
    const communicator = Ice.initialize();
    try {
      const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(peer.ready.proxy));
      const names = await titleNames(main);
      const before = await names();
      const child = spawn(process.execPath, [ICEFLIX_BIN, "verify", peer.ready.proxy, "--user", "demo", "--password-stdin", "--only", "catalog", "auth", "--token-lifetime", "30"]);
      child.stdin.end("demo\n");
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      try {
        await waitFor("the lifetime wait", () => stderr, (s) => s.includes("waiting"), 20_000);
        assert.notDeepEqual(await names(), before, "a title is renamed while the checker runs");
        child.kill("SIGINT");
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("timeout"), 10_000))]);
        assert.equal(code, 130, stderr);
        assert.deepEqual(await names(), before);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    } finally {
      await communicator.destroy();
      await peer.stop();
    }
  });
});
