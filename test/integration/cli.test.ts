/**
 * The command-line contract (spec §1): up / down / status exit codes and files, `up --replicas`,
 * a component failing on a port in use, an unknown command. Each deployment runs in its own
 * temporary data folder on free ports; after() brings down whatever is still up, also when a test
 * fails.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice } from "../../src/slice/index.js";
import { freeBasePort, freePort } from "../helpers/broker.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/iceflix args` to completion (bounded). */
function iceflix(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

const dataDirs: string[] = [];
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), "iceflix-cli-"));
  dataDirs.push(d);
  return d;
}

/** Live (non-zombie) processes whose command line mentions `dir`: the deployment's processes. */
function processesOf(dir: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      if (!cmd.includes(dir)) continue;
      const state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0];
      if (state !== "Z") out.push({ pid, cmd });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\S+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

let communicator: Ice.Communicator | undefined;

after(async () => {
  for (const d of dataDirs) {
    if (existsSync(join(d, "up.pid"))) await iceflix(["down", "--data", d], 40_000);
    // Anything still left (e.g. `down` itself failed) is killed by pid, never by name.
    for (const p of processesOf(d)) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
    rmSync(d, { recursive: true, force: true });
  }
  await communicator?.destroy();
});

// Two at a time: every test has its own data folder and ports, and the two `up` deployments
// (~12 s each, mostly waiting for their components to be ready) need not wait for each other.
describe("bin/iceflix command line", { concurrency: 2 }, () => {
  test("up --detach, up again, status, down, down again, status", async () => {
    const data = dataDir();
    const base = await freeBasePort();

    const upRun = await iceflix(["up", "--detach", "--data", data, "--base-port", String(base)]);
    assert.equal(upRun.code, 0, show(upRun));
    const mainProxy = readFileSync(join(data, "main.proxy"), "utf8");
    assert.match(mainProxy, /^Main:tcp -h 127\.0\.0\.1 -p (\d+)[^:]*\n?$/, "main.proxy is one line with one Main endpoint");
    assert.equal(mainProxy.trim(), `Main:tcp -h 127.0.0.1 -p ${base + 1}`);
    assert.ok(upRun.stdout.includes(mainProxy.trim()), "up prints the Main proxy");

    const again = await iceflix(["up", "--detach", "--data", data, "--base-port", String(base)]);
    assert.equal(again.code, 3, show(again));
    assert.match(again.stderr, /already running/);
    const againForeground = await iceflix(["up", "--data", data]);
    assert.equal(againForeground.code, 3, show(againForeground));

    const st = await iceflix(["status", "--data", data, "--json"]);
    assert.equal(st.code, 0, show(st));
    const parsed = JSON.parse(st.stdout) as { main: string; instances: Array<{ kind: string; id: string; endpoint: string; healthy: boolean }> };
    const mains = parsed.instances.filter((i) => i.kind === "main");
    assert.equal(mains.length, 1, st.stdout);
    assert.equal(mains[0]!.endpoint, mainProxy.trim());
    assert.equal(mains[0]!.healthy, true);

    const plain = await iceflix(["status", "--data", data]);
    assert.equal(plain.code, 0, show(plain));
    assert.match(plain.stdout, /^main\s/m);

    // What runs: `up` itself, the components it recorded, icebox (found by its data folder).
    const upPid = Number(readFileSync(join(data, "up.pid"), "utf8").trim());
    const state = JSON.parse(readFileSync(join(data, "up.json"), "utf8")) as { state: string; pid: number; components: Array<{ kind: string; pid: number }> };
    assert.equal(state.state, "ready");
    assert.equal(state.pid, upPid);
    // One broker, and one of each service kind `up` starts.
    const kinds = state.components.map((c) => c.kind);
    assert.equal(kinds.filter((k) => k === "broker").length, 1);
    assert.ok(kinds.includes("main") && kinds.includes("auth"), `components: ${kinds}`);
    assert.equal(new Set(kinds).size, kinds.length, `one of each with --replicas 1: ${kinds}`);
    const before = processesOf(data);
    assert.ok(before.some((p) => p.cmd.startsWith("icebox ")), `icebox runs: ${JSON.stringify(before)}`);
    const pids = new Set([upPid, ...state.components.map((c) => c.pid), ...before.map((p) => p.pid)]);
    for (const pid of pids) assert.ok(alive(pid), `pid ${pid} runs before down`);

    const downRun = await iceflix(["down", "--data", data]);
    assert.equal(downRun.code, 0, show(downRun));
    const left = [...pids].filter(alive);
    assert.deepEqual(left, [], `left running after down: ${JSON.stringify(processesOf(data))}`);
    assert.deepEqual(processesOf(data), []);
    assert.equal(existsSync(join(data, "main.proxy")), false, "main.proxy removed");
    assert.equal(existsSync(join(data, "up.pid")), false, "up.pid removed");

    const downAgain = await iceflix(["down", "--data", data]);
    assert.equal(downAgain.code, 4, show(downAgain));
    const stDown = await iceflix(["status", "--data", data]);
    assert.equal(stDown.code, 4, show(stDown));
    const stDownJson = await iceflix(["status", "--data", data, "--json"]);
    assert.equal(stDownJson.code, 4, show(stDownJson));
  });

  test("status on a data folder that never ran anything exits 4", async () => {
    const r = await iceflix(["status", "--data", dataDir()]);
    assert.equal(r.code, 4, show(r));
    const d = await iceflix(["down", "--data", dataDir()]);
    assert.equal(d.code, 4, show(d));
  });

  test("up --replicas 2 writes a main.proxy with both Main endpoints", async () => {
    const data = dataDir();
    const base = await freeBasePort();
    const upRun = await iceflix(["up", "--detach", "--replicas", "2", "--data", data, "--base-port", String(base)]);
    try {
      assert.equal(upRun.code, 0, show(upRun));
      const line = readFileSync(join(data, "main.proxy"), "utf8").trim();
      const m = /^Main:tcp -h 127\.0\.0\.1 -p (\d+):tcp -h 127\.0\.0\.1 -p (\d+)$/.exec(line);
      assert.ok(m, `two endpoints in ${line}`);
      assert.equal(Number(m[1]), base + 1, "the first Main on the base port + 1");
      assert.notEqual(m[2], m[1]);
      // Each endpoint is a Main that answers.
      communicator ??= Ice.initialize();
      for (const port of [m[1], m[2]]) {
        const prx = communicator.stringToProxy(`Main:tcp -h 127.0.0.1 -p ${port}`).ice_invocationTimeout(3000);
        assert.equal(await prx.ice_isA("::IceFlix::Main"), true, `Main on port ${port}`);
      }
      const state = JSON.parse(readFileSync(join(data, "up.json"), "utf8")) as { components: Array<{ kind: string }> };
      const kinds = state.components.map((c) => c.kind);
      assert.equal(kinds.filter((k) => k === "broker").length, 1);
      assert.equal(kinds.filter((k) => k === "web").length, 1, "one web server per deployment, like the broker");
      for (const kind of new Set(kinds.filter((k) => k !== "broker" && k !== "web"))) {
        assert.equal(kinds.filter((k) => k === kind).length, 2, `two ${kind} with --replicas 2: ${kinds}`);
      }
    } finally {
      const downRun = await iceflix(["down", "--data", data]);
      assert.equal(downRun.code, 0, show(downRun));
      assert.deepEqual(processesOf(data), []);
    }
  });

  test("main on a port in use exits 1 with a clear message and no stack trace", async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(port, "127.0.0.1", () => r()));
    try {
      const tmPort = await freePort(); // nothing listens there: Main must fail before needing it
      const r = await iceflix(
        [
          "main",
          "--data",
          dataDir(),
          `--MainAdapter.Endpoints=tcp -h 127.0.0.1 -p ${port}`,
          `--IceFlix.IceStorm/TopicManager=IceStorm/TopicManager:tcp -h 127.0.0.1 -p ${tmPort}`,
        ],
        20_000,
      );
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /address already in use/i);
      assert.ok(r.stderr.includes(String(port)), "the message names the port");
      const all = r.stdout + r.stderr;
      assert.doesNotMatch(all, /\bat \S+ \(?\S*:\d+:\d+\)?/, "no stack frames");
      assert.doesNotMatch(all, /file:\/\/|\.js:\d+/, "no source paths");
      assert.doesNotMatch(r.stdout, /"event":"ready"/);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  test("an unknown command exits 2", async () => {
    const r = await iceflix(["nonsense"]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /unknown command/);
  });
});
