/**
 * `iceflix verify` against our own system started with `up` (1 and 2 replicas): nothing fails, the
 * event checks run on the broker Main names, a user added with `iceflix user add` logs in, Main
 * answers TemporaryUnavailable while the Authenticator and catalog are paused (SIGSTOP), the
 * edits are undone; the JUnit report parses with a real XML consumer and matches the JSON; and on
 * a deployment whose tokens live 5 s the slow event checks pass while the lifetime check of a 10 s
 * contract fails.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { XMLParser } from "fast-xml-parser";
import { Deployment, iceflix } from "../chaos/lib/deployment.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { requireTool } from "../helpers/tools.js";

interface JsonReport {
  checks: Array<{ group: string; name: string; status: "pass" | "fail" | "skip"; reason: string; evidence: string; ms: number }>;
  summary: { pass: number; fail: number; skip: number; total: number; ms: number; main: string };
}

async function verify(dep: Deployment, args: string[]): Promise<{ code: number; report: JsonReport; stderr: string }> {
  const r = await iceflix(["verify", dep.mainProxy, "--user", "demo", "--password-stdin", "--json", ...args], "demo\n", 120_000);
  let report: JsonReport;
  try {
    report = JSON.parse(r.stdout) as JsonReport;
  } catch {
    throw new Error(`verify printed no JSON (exit ${r.code}): ${r.stdout}${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

/** Announcements every 2 s (and verify told so), so the checks that count them wait 3 s, not 11. */
const ANNOUNCE = ["--IceFlix.Announce.PeriodSeconds=2"];

/** `iceflix user add/remove` on the deployment's data folder, as verify's operator commands. */
function userCommands(dep: Deployment): string[] {
  const cli = `${process.execPath} ${ICEFLIX_BIN}`;
  return [
    "--add-user-command", `printf '%s\\n' "$ICEFLIX_VERIFY_PASSWORD" | ${cli} user add "$ICEFLIX_VERIFY_USER" --data ${dep.data} --password-stdin`,
    "--remove-user-command", `${cli} user remove "$ICEFLIX_VERIFY_USER" --data ${dep.data}`,
  ];
}

/**
 * SIGSTOP / SIGCONT of the deployment's Authenticator and catalog (pids from D/up.json), as
 * verify's stop/start commands: `up` restarts components that exit, so stopping is pausing.
 */
function serviceCommands(dep: Deployment): string[] {
  const pids = `$(${process.execPath} -e 'const s = require(process.argv[1]); console.log(s.components.filter((c) => c.kind === "auth" || c.kind === "catalog").map((c) => c.pid).join(" "))' ${join(dep.data, "up.json")})`;
  return ["--stop-services-command", `kill -STOP ${pids}`, "--start-services-command", `kill -CONT ${pids}`];
}

const statusOf = (r: JsonReport, name: string) => r.checks.find((c) => c.name === name);

const failures = (r: JsonReport) => r.checks.filter((c) => c.status === "fail").map((c) => `${c.group}: ${c.name}: ${c.reason} [${c.evidence}]`);

async function titles(dep: Deployment): Promise<string[]> {
  const main = dep.main();
  const catalog = (await main.getCatalogService())!;
  const ids = await catalog.getTilesByName("", false);
  const media = await Promise.all(ids.map((id) => catalog.getTile(id)));
  return media.map((m) => `${m.id} ${m.info.name} [${[...m.info.tags].sort().join(",")}]`).sort();
}

for (const replicas of [1, 2]) {
  describe(`verify against up --replicas ${replicas}`, () => {
    let dep: Deployment | undefined;
    const out = mkdtempSync(join(tmpdir(), "iceflix-verify-"));
    before(async () => {
      requireTool("ffmpeg");
      dep = await Deployment.up({ label: `verify-r${replicas}`, replicas, props: ANNOUNCE });
    });
    after(async () => {
      await dep?.down();
      rmSync(out, { recursive: true, force: true });
    });

    it("passes every check (--fast), exit 0, names and tags as before", async () => {
      const before = await titles(dep!);
      const junitFile = join(out, "report.xml");
      const { code, report } = await verify(dep!, ["--fast", "--media-dir", dep!.mediaDir, "--junit", junitFile, "--announce-period", "2", ...(replicas === 1 ? [...userCommands(dep!), ...serviceCommands(dep!)] : [])]);
      assert.deepEqual(failures(report), []);
      assert.equal(code, 0);
      assert.ok(report.summary.pass >= 30, JSON.stringify(report.summary));
      // The broker comes from MainExt: the event checks ran, and the additions to the groups too.
      for (const name of [
        "services announce themselves on ServiceAvailability",
        "reannounceMedia publishes newMedia on MediaAnnouncements",
        "a rename survives reannounceMedia",
        "RTP decodes as H.264 with ffmpeg",
        "getSyncTopic names a topic of its own on the broker; refreshAuthentication accepts a fresh token",
        ...(replicas === 1 ? ["a user added while running can log in", "TemporaryUnavailable when no Authenticator or MediaCatalog is alive"] : []),
      ]) {
        assert.equal(statusOf(report, name)?.status, "pass", `${name}: ${JSON.stringify(statusOf(report, name))}`);
      }
      // Our services sign their events and drop unsigned and forged ones (spec §7).
      assert.match(statusOf(report, "unsigned and forged revocations: obeyed or dropped (information)")!.reason, /^info: an unsigned revoke was dropped.*forged signature was dropped/);
      const roundRobin = statusOf(report, "hand-outs round-robin over several instances")!;
      if (replicas === 1) assert.match(`${roundRobin.status}: ${roundRobin.reason}`, /^skip: only one Authenticator and one MediaCatalog announced/);
      else assert.equal(roundRobin.status, "pass", JSON.stringify(roundRobin));
      for (const c of report.checks) {
        assert.ok(["pass", "fail", "skip"].includes(c.status));
        assert.equal(typeof c.reason, "string");
        assert.equal(typeof c.evidence, "string");
        assert.equal(typeof c.ms, "number");
      }
      assert.deepEqual(await titles(dep!), before, "the checker's edits were undone");

      if (replicas === 1) {
        const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(readFileSync(junitFile, "utf8")) as {
          testsuites: { tests: string; failures: string; skipped: string; testsuite: Array<{ name: string; testcase: Array<{ name: string; skipped?: unknown; failure?: unknown }> }> };
        };
        assert.equal(Number(parsed.testsuites.tests), report.summary.total);
        assert.equal(Number(parsed.testsuites.failures), 0);
        const cases = parsed.testsuites.testsuite.flatMap((s) => s.testcase.map((t) => ({ group: s.name, name: t.name, skipped: t.skipped !== undefined })));
        assert.deepEqual(
          cases.map((c) => `${c.group}/${c.name}/${c.skipped}`),
          report.checks.map((c) => `${c.group}/${c.name}/${c.status === "skip"}`),
        );
      }
    });
  });
}

describe("verify against tokens that live 5 s", () => {
  let dep: Deployment | undefined;
  before(async () => {
    dep = await Deployment.up({ label: "verify-lifetime", props: ["--IceFlix.Token.LifetimeSeconds=5", ...ANNOUNCE] });
  });

  it("revoke on AuthenticationStatus and requestAuthentication on the sync topic come at the 5 s expiry (exit 0)", async () => {
    const { code, report } = await verify(dep!, ["--only", "events", "controller", "--announce-period", "2"]);
    assert.deepEqual(failures(report), []);
    for (const name of ["a token is revoked on AuthenticationStatus at its lifetime", "requestAuthentication arrives on the sync topic after the token expires"]) {
      assert.equal(statusOf(report, name)?.status, "pass", `${name}: ${JSON.stringify(statusOf(report, name))}`);
    }
    assert.equal(code, 0);
  });
  after(async () => {
    await dep?.down();
  });

  it("fails the lifetime check of a 10 s lifetime, exit 1", async () => {
    const { code, report } = await verify(dep!, ["--only", "auth", "--token-lifetime", "10"]);
    const lifetime = report.checks.find((c) => c.name.includes("expires at the lifetime"));
    assert.equal(lifetime?.status, "fail", JSON.stringify(lifetime));
    assert.match(lifetime!.reason, /already invalid/);
    assert.deepEqual(failures(report).length, 1, failures(report).join("\n"));
    assert.equal(code, 1);
  });
});
