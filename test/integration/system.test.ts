/**
 * The whole system from `iceflix up --replicas 2` (spec §1–§5), used through Main only by an
 * unmodified Python client: replicas share tokens, round-robin alternates, and a kill -9 of one
 * replica of each service costs a client at most one retry per operation.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeBasePort } from "../helpers/broker.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { runPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";

interface SystemRun {
  authenticators: string[];
  catalogs: string[];
  retried: number;
  failed: Array<{ op: string; error: string }>;
  tokensValidEverywhere: boolean;
  titles: number;
}

function iceflix(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the whole system, two replicas of everything", { timeout: 240_000 }, () => {
  let data: string;
  let mainProxy: string;
  const client = (rounds: number) => runPython<SystemRun>("system_client.py", [mainProxy, "demo", "demo", String(rounds)], 90_000);
  const statusJson = async () => {
    const r = await iceflix(["status", "--data", data, "--json"]);
    return JSON.parse(r.stdout) as { instances: Array<{ kind: string; endpoint: string; healthy: boolean }> };
  };

  before(async () => {
    requireTool("/usr/bin/python3");
    requireTool("ffmpeg");
    data = mkdtempSync(join(tmpdir(), "iceflix-system-"));
    const base = await freeBasePort();
    const r = await iceflix([
      "up",
      "--data",
      data,
      "--replicas",
      "2",
      "--base-port",
      String(base),
      "--detach",
      "--IceFlix.Announce.PeriodSeconds=1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    mainProxy = readFileSync(join(data, "main.proxy"), "utf8").trim();
    // Every replica announced and the demo media reached the catalogs.
    await until(
      "2 of each kind registered",
      async () => {
        const kinds = (await statusJson()).instances.map((i) => i.kind);
        return ["authenticator", "catalog", "streaming"].every((k) => kinds.filter((x) => x === k).length === 2);
      },
      60_000,
    );
    await until("demo titles to be searchable", async () => (await client(1)).titles >= 3, 60_000);
  });

  after(async () => {
    if (data) {
      await iceflix(["down", "--data", data]);
      rmSync(data, { recursive: true, force: true });
    }
  });

  it("main.proxy lists both Mains", () => {
    assert.equal(mainProxy.split(":tcp ").length - 1, 2, mainProxy);
  });

  it("a token from one Authenticator is valid on the other, and round-robin alternates", async () => {
    const run = await client(6);
    assert.deepEqual(run.failed, []);
    assert.equal(run.tokensValidEverywhere, true);
    assert.equal(new Set(run.authenticators).size, 2, `both authenticators handed out: ${run.authenticators}`);
    assert.equal(new Set(run.catalogs).size, 2, `both catalogs handed out: ${run.catalogs}`);
  });

  it("kill -9 of one replica of each service: every operation still succeeds through Main (at most one retry)", async () => {
    const state = JSON.parse(readFileSync(join(data, "up.json"), "utf8")) as { components: Array<{ name: string; pid: number }> };
    const victims = state.components.filter((c) => ["main-2", "auth-2", "catalog-2", "streaming-2"].includes(c.name));
    assert.equal(victims.length, 4);
    for (const v of victims) process.kill(v.pid, "SIGKILL");
    const run = await client(8);
    assert.deepEqual(run.failed, [], JSON.stringify(run));
    assert.ok(run.retried <= 8, `retries: ${run.retried}`);
    assert.ok(run.titles >= 3);
  });
});
