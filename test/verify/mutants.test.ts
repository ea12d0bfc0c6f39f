/**
 * `iceflix verify` is not tuned to us: a small Python implementation of the contract
 * (test/verify/py/mini_iceflix.py, python3-zeroc-ice) passes, and each mutant of it (one behaviour
 * broken) is caught by a failing check that names that behaviour.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
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

const SCRIPT = `${REPO_ROOT}test/verify/py/mini_iceflix.py`;
const LIFETIME = "2";

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
];

async function verifyMini(mutant: string, only: string[], fast: boolean, extra: string[] = []): Promise<{ code: number; checks: Check[] }> {
  const peer = await startReady<{ proxy: string }>(PYTHON, [SCRIPT, "--lifetime", LIFETIME, ...(mutant ? ["--mutant", mutant] : [])], {
    env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR },
  });
  try {
    const args = ["verify", peer.ready.proxy, "--user", "demo", "--password-stdin", "--json", "--token-lifetime", LIFETIME, ...(fast ? ["--fast"] : []), ...extra];
    if (only.length) args.push("--only", ...only);
    const r = await iceflix(args, "demo\n", 60_000);
    const report = JSON.parse(r.stdout) as { checks: Check[] };
    return { code: r.code, checks: report.checks };
  } finally {
    await peer.stop();
  }
}

describe("verify against a small Python implementation and its mutants", () => {
  it("the unbroken implementation passes every group (exit 0)", async () => {
    const { code, checks } = await verifyMini("", [], false);
    assert.deepEqual(checks.filter((c) => c.status === "fail"), []);
    assert.ok(checks.filter((c) => c.status === "pass").length >= 24);
    assert.equal(code, 0);
  });

  it("has at least 12 mutants", () => assert.ok(MUTANTS.length >= 12));

  for (const m of MUTANTS) {
    it(`mutant ${m.mutant} is caught by "${m.check.source}" (exit 1)`, async () => {
      const { code, checks } = await verifyMini(m.mutant, [m.group], !m.slow);
      const failed = checks.filter((c) => c.status === "fail");
      assert.ok(
        failed.some((c) => m.check.test(c.name)),
        `no failing check matches ${m.check}: ${JSON.stringify(checks.map((c) => `${c.status} ${c.name}: ${c.reason}`))}`,
      );
      assert.equal(code, 1);
    });
  }

  // The HTML report of a run with one failure, opened in Chromium; VERIFY_SCREENSHOT=FILE keeps
  // a screenshot (docs/verify-report.png was made so).
  it("the HTML report opens in Chromium with every check and the failure marked", async () => {
    requireTool("/usr/bin/chromium");
    const dir = mkdtempSync(join(tmpdir(), "iceflix-verify-html-"));
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    try {
      const file = join(dir, "report.html");
      const { checks } = await verifyMini("case-sensitive-search", [], true, ["--html", file]);
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

  // Edits are undone on Ctrl+C: the catalog group renames a title, then the auth group waits for
  // token expiry; SIGINT during that wait puts the name back before the checker exits.
  it("Ctrl+C during a slow check undoes the edits (exit 130)", async () => {
    const peer = await startReady<{ proxy: string }>(PYTHON, [SCRIPT, "--lifetime", "30"], { env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } });
    const communicator = Ice.initialize();
    try {
      const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(peer.ready.proxy));
      const catalog = (await main.getCatalogService())!;
      const names = async () => (await Promise.all((await catalog.getTilesByName("", false)).map((id) => catalog.getTile(id)))).map((m) => m.info.name).sort();
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
