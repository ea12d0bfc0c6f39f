/**
 * `iceflix grid up --detach` on a real IceGrid (registry, 3 icegridnodes, IceStorm HA), then a
 * login and a search through Main from the written direct proxy, a Python client with only the
 * locator resolving every indirect proxy, the web server (an IceGrid server) used over HTTP, `grid status`, `user` on the grid's data folder, and
 * `grid down` stopping every process. after() brings the grid down even when a test failed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { passwordHash } from "../../src/common/password.js";
import { processAlive } from "../../src/common/processAlive.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { TestResources } from "../helpers/testResources.js";
import { runPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function iceflix(args: string[], timeoutMs = 180_000, stdin = ""): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/** The last lines of a server's output, for a failure message. */
function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ").slice(0, 1500) : "(no output)";
}


interface StatusJson {
  locator: string;
  nodes: Array<{ node: string; up: boolean }>;
  servers: Array<{ server: string; node: string; state: string; pid: number | null }>;
}

describe("iceflix grid up/status/down (real IceGrid)", () => {
  const res = new TestResources();
  let data: string;
  let communicator: Ice.Communicator;
  let upSeconds = 0;

  before(async () => {
    for (const tool of ["icegridregistry", "icegridnode", "icegridadmin", "icebox", "ffmpeg"]) requireTool(tool);
    data = res.tmp("iceflix-grid-");
    const started = Date.now();
    const up = await iceflix(["grid", "up", "--data", data, "--detach"]);
    upSeconds = (Date.now() - started) / 1000;
    assert.equal(up.code, 0, up.stderr + up.stdout);
    communicator = Ice.initialize();
  });

  after(async () => {
    await communicator?.destroy();
    // Whatever a failed test left: grid down stops it (a no-op when it was already stopped).
    await iceflix(["grid", "down", "--data", data], 90_000);
    await res.release();
  });

  test("grid up writes every server's metrics URL, and each answers", async () => {
    // The 4 services of the 3 nodes, on free ports, read from the servers' output.
    const urls = readFileSync(join(data, "metrics.urls"), "utf8").trim().split("\n");
    assert.equal(urls.length, 12, urls.join(" "));
    for (const u of urls) {
      assert.match(u, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.match(await (await fetch(u, { signal: AbortSignal.timeout(5000) })).text(), /^iceflix_dispatch_total\{/m);
    }
  });

  test("grid up writes a direct Main proxy, the locator and the TopicManager", () => {
    console.log(`# grid up --detach (3 nodes, demo media made) took ${upSeconds.toFixed(1)} s`);
    const main = readFileSync(join(data, "main.proxy"), "utf8").trim();
    assert.match(main, /^Main(:tcp -h 127\.0\.0\.1 -p \d+ -t \d+){3}$/);
    assert.match(readFileSync(join(data, "locator.proxy"), "utf8").trim(), /^IceGrid\/Locator:tcp -h 127\.0\.0\.1 -p \d+$/);
    assert.equal(readFileSync(join(data, "topicmanager.proxy"), "utf8").trim(), "IceFlix.IceStorm/TopicManager");

  });

  test("a client with only main.proxy logs in and searches through Main", async () => {
    const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(readFileSync(join(data, "main.proxy"), "utf8").trim()));
    const auth = await main.getAuthenticator();
    const token = await auth.refreshAuthorization("demo", passwordHash("demo"));
    assert.equal(await auth.isAuthorized(token), true);
    const catalog = await main.getCatalogService();
    // The providers announce the demo media within an announce period of starting.
    let ids: string[] = [];
    for (const deadline = Date.now() + 20_000; ids.length === 0 && Date.now() < deadline; ) {
      ids = await catalog.getTilesByName("Colour", false);
      if (ids.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(ids.length, 1);
    const tile = await catalog.getTile(ids[0]!);
    assert.equal(tile.info.name, "Colour Bars.mp4");
  });

  test("the web server is a grid server: web.url written, a login, a search and a ticket's bytes through it", async () => {
    const web = readFileSync(join(data, "web.url"), "utf8").trim();
    assert.match(web, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal((await fetch(web)).status, 200);
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    // "Main" through the locator the node gave it: every catalog's titles, as the direct proxy sees them.
    const found = await (await fetch(new URL("/api/search?q=Colour&mode=name", web), { headers: { cookie } })).json() as { results: Array<{ id: string; name: string }> };
    assert.deepEqual(found.results.map((r) => r.name), ["Colour Bars.mp4"]);
    const play = await fetch(new URL(`/api/titles/${found.results[0]!.id}/play`, web), { method: "POST", headers: { cookie } });
    assert.equal(play.status, 200, await play.clone().text());
    const { url } = (await play.json()) as { url: string };
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/media\//);
    assert.equal((await fetch(url, { headers: { range: "bytes=0-9" } })).status, 206);
    // Its output is the node's, like every server's.
    assert.match(readFileSync(join(data, "grid", "node1", "output", "IceFlix.Web-node1.err"), "utf8"), /"msg":"web server ready"/);
  });

  test("a Python client with only the locator resolves and calls every indirect proxy", async () => {
    requireTool("/usr/bin/python3");
    const locator = readFileSync(join(data, "locator.proxy"), "utf8").trim();
    const topicManager = readFileSync(join(data, "topicmanager.proxy"), "utf8").trim();
    const proxies = ["Main", "Authenticator@IceFlix.Authenticator", "MediaCatalog@IceFlix.Catalog", topicManager];
    type Result = { proxy: string; value?: unknown; error?: string };
    const out = await runPython<{ results: Result[] }>("locator_client.py", ["--locator", locator, ...proxies.flatMap((p) => ["--proxy", p])]);
    assert.deepEqual(
      out.results.map((r) => r.error),
      [undefined, undefined, undefined, undefined],
      JSON.stringify(out),
    );
    assert.ok((out.results[3]!.value as string[]).includes("ServiceAvailability"), JSON.stringify(out.results[3]));
  });

  test("grid status lists the nodes and their servers; user works on the grid's data folder", async () => {
    const status = await iceflix(["grid", "status", "--data", data, "--json"], 60_000);
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as StatusJson;
    assert.deepEqual(s.nodes, ["node1", "node2", "node3"].map((node) => ({ node, up: true })));
    assert.equal(s.servers.length, 16);
    assert.deepEqual(s.servers.filter((x) => x.server.startsWith("IceFlix.Web")).map((x) => [x.server, x.node]), [["IceFlix.Web-node1", "node1"]]);
    const notActive = s.servers.filter((x) => x.state !== "active" || x.pid === null);
    const why = notActive.map((x) => `${x.server} ${x.state}: ${tail(join(data, "grid", x.node, "output", `${x.server}.err`))}`);
    assert.deepEqual(why, [], "every server active");
    const users = await iceflix(["user", "list", "--data", data], 30_000);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /^demo$/m);
    const again = await iceflix(["grid", "up", "--data", data], 30_000);
    assert.equal(again.code, 3, "a second grid up on the same folder is refused");
  });

  // The conformance checker finds nothing wrong with the grid either; the broker Main names is
  // an indirect proxy, so verify gets the locator as an Ice property.
  test("iceflix verify --fast against the grid's Main passes, exit 0", async () => {
    const main = readFileSync(join(data, "main.proxy"), "utf8").trim();
    const locator = readFileSync(join(data, "locator.proxy"), "utf8").trim();
    const run = await iceflix(["verify", main, "--user", "demo", "--password-stdin", "--fast", "--json", `--Ice.Default.Locator=${locator}`], 120_000, "demo\n");
    const report = JSON.parse(run.stdout) as { checks: Array<{ group: string; name: string; status: string; reason: string; evidence: string }> };
    assert.deepEqual(report.checks.filter((c) => c.status === "fail").map((c) => `${c.group}: ${c.name}: ${c.reason} [${c.evidence}]`), []);
    assert.equal(run.code, 0, run.stderr);
    const status = (name: string) => report.checks.find((c) => c.name === name)?.status;
    assert.equal(status("hand-outs round-robin over several instances"), "pass", "three nodes: Main hands out several instances");
    assert.equal(status("services announce themselves on ServiceAvailability"), "pass", "the event checks ran on the grid's IceStorm");
  });

  test("grid down stops the registry, the nodes and every server", async () => {
    const s = JSON.parse((await iceflix(["grid", "status", "--data", data, "--json"], 60_000)).stdout) as StatusJson;
    const pids = s.servers.map((x) => x.pid!).filter(Boolean);
    const gridPid = (JSON.parse(readFileSync(join(data, "grid.json"), "utf8")) as { pid: number }).pid;
    const down = await iceflix(["grid", "down", "--data", data], 90_000);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(pids.filter(processAlive), [], "no server left running");
    assert.equal(processAlive(gridPid), false);
    assert.equal(existsSync(join(data, "main.proxy")), false);
    const status = await iceflix(["grid", "status", "--data", data], 30_000);
    assert.equal(status.code, 4);
    // Every service stopped through Ice::Process, as SIGTERM would stop it.
    const err = readFileSync(join(data, "grid", "node2", "output", "IceFlix.Catalog-node2.err"), "utf8");
    assert.match(err, /"signal":"Ice.Process.shutdown","msg":"catalog stopping"/);
    const webErr = readFileSync(join(data, "grid", "node1", "output", "IceFlix.Web-node1.err"), "utf8");
    assert.match(webErr, /"signal":"Ice.Process.shutdown","msg":"web stopping"/);
    assert.equal(existsSync(join(data, "web.url")), false);
  });
});

describe("iceflix grid up: bad input", () => {
  const res = new TestResources();
  after(() => res.release());

  test("a media folder that does not exist fails in one line, exit 1", async () => {
    const run = await iceflix(["grid", "up", "--data", res.tmp("iceflix-grid-bad-"), "--media", "/nonexistent/media"], 60_000);
    assert.equal(run.code, 1);
    assert.deepEqual(run.stderr.trim().split("\n"), ["iceflix: --media /nonexistent/media: no such folder"]);
  });

  test("grid down and grid status with nothing running exit 4", async () => {
    const dir = res.tmp("iceflix-grid-none-");
    assert.equal((await iceflix(["grid", "down", "--data", dir], 30_000)).code, 4);
    assert.equal((await iceflix(["grid", "status", "--data", dir], 30_000)).code, 4);
  });
});
