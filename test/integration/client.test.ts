/**
 * The client (spec §8) against a real deployment (`iceflix up --detach` on a temporary data
 * folder and free ports: broker, Main, Authenticator, MediaCatalog, StreamProvider with the demo
 * media), driven in a real terminal (tmux) like a person would, and through its non-interactive
 * form like a script would.
 *
 * Every process a test starts is stopped in after(), also when a test fails; every wait is bounded.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix, IceStorm } from "../../src/slice/index.js";
import { freeBasePort, freePort } from "../helpers/broker.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { requireTool } from "../helpers/tools.js";
import { until } from "../helpers/waitFor.js";
import { TmuxPane } from "../helpers/tmuxPane.js";
import { ServerAdapter } from "../../src/ice-server/index.js";

const USER = "tester";
const PASSWORD = "Corr3ct-Horse-battery";
const WRONG_PASSWORD = "Wr0ng-Pa55word";
/** Short tokens, so scheduled renewal happens within the tests. */
const TOKEN_LIFETIME_S = 4;
/** The demo media (`up` without --media); the catalog names a title after its file. */
const COLOUR = "Colour Bars.mp4";
const PATTERN = "Test Pattern (720p).mp4";
const MANDEL = "Mandelbrot (VP8).webm";
/** A prompt line (capture-pane trims its trailing space). */
const PROMPT = /^iceflix .*>$/;
const STACK = /^\s+at .+\(.*:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const data = mkdtempSync(join(tmpdir(), "iceflix-client-data-"));
/** TMPDIR of every client we start: their SDP files and players live under it. */
const clientTmp = mkdtempSync(join(tmpdir(), "iceflix-client-tmp-"));
let base = 0;
let mainProxy = "";
let brokerProxy = "";
const panes: TmuxPane[] = [];
let communicator: Ice.Communicator | undefined;
let plainMainServer: ServerAdapter | undefined;

/** A Main of another implementation: the original contract only (no MainExt), same services. */
class PlainMain extends IceFlix.Main {
  constructor(private readonly real: IceFlix.MainPrx) {
    super();
  }
  async getAuthenticator(): Promise<IceFlix.AuthenticatorPrx> {
    return (await this.real.getAuthenticator())!;
  }
  async getCatalogService(): Promise<IceFlix.MediaCatalogPrx> {
    return (await this.real.getCatalogService())!;
  }
}

function iceflix(args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [ICEFLIX_BIN, ...args],
      { timeout: options.timeoutMs ?? 60_000, killSignal: "SIGKILL", env: { ...process.env, TMPDIR: clientTmp, DISPLAY: "", WAYLAND_DISPLAY: "" } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
    child.stdin?.end(options.stdin ?? "");
  });
}

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** `iceflix client …` against the test deployment, short retries. */
function client(args: string[], options: { stdin?: string; timeoutMs?: number } = {}) {
  return iceflix(["client", ...args, "--data", data, "--retries", "2", "--retry-delay", "0.3"], options);
}

function json(r: Run): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`stdout is not one JSON object:\n${show(r)}`);
  }
}

/** Live (non-zombie) processes whose command line mentions `text`. */
function processesMentioning(text: string): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ");
      if (!cmd.includes(text)) continue;
      if (readFileSync(`/proc/${entry}/stat`, "utf8").replace(/^.*\) /s, "")[0] !== "Z") out.push({ pid: Number(entry), cmd });
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

interface Instance {
  kind: string;
  id: string;
  endpoint: string;
  healthy: boolean;
}

async function instances(): Promise<Instance[]> {
  const r = await iceflix(["status", "--data", data, "--json"], { timeoutMs: 15_000 });
  return r.code === 0 ? (json(r).instances as Instance[]) : [];
}

function upState(): { components: Array<{ kind: string; pid: number; proxy: string }> } {
  return JSON.parse(readFileSync(join(data, "up.json"), "utf8"));
}

/** A client in a terminal, headless, with short retries; waits for its first prompt. */
async function startPane(extra: string[] = [], firstPrompt = PROMPT): Promise<TmuxPane> {
  const argv = [process.execPath, ICEFLIX_BIN, "client", "--data", data, "--retries", "2", "--retry-delay", "0.3", "--headless", ...extra];
  // CLIENT_TEST_LOG_LEVEL=debug keeps the clients' logs in <data>/logs/client-<n>.log.
  const logLevel = process.env.CLIENT_TEST_LOG_LEVEL;
  const pane = await TmuxPane.start(
    argv,
    { DISPLAY: undefined, WAYLAND_DISPLAY: undefined, TMPDIR: clientTmp, ICEFLIX_CLIENT_LOG_LEVEL: logLevel },
    logLevel ? join(data, "logs", `client-${panes.length}.log`) : undefined,
  );
  panes.push(pane);
  await pane.waitFor("the first prompt", (s) => firstPrompt.test(s.split("\n").at(-1)!), 30_000);
  return pane;
}

/** How the clients of this test are doing, for a failure message (state, CPU ticks, kernel wait). */
function clientProcesses(): string {
  return processesMentioning(data)
    .filter((p) => / client /.test(p.cmd) && !p.cmd.startsWith("sh ") && !p.cmd.startsWith("tmux"))
    .map((p) => {
      const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
      const wchan = (() => {
        try {
          return readFileSync(`/proc/${p.pid}/wchan`, "utf8");
        } catch {
          return "?";
        }
      })();
      return `pid ${p.pid} state ${stat[0]} utime ${stat[11]} stime ${stat[12]} wchan ${wchan}`;
    })
    .join("; ");
}

/** Waits for a pane's client to exit; says what the client is doing if it does not. */
async function exitStatusOf(pane: TmuxPane): Promise<number> {
  try {
    return await pane.waitForExit(15_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\nclient processes: ${clientProcesses()}`);
  }
}

/** Logs in at the prompt; returns the screen from the login line on. */
async function login(pane: TmuxPane, password = PASSWORD): Promise<string> {
  await pane.run(`login ${USER}`, /^Password:$/);
  return pane.run(password, PROMPT);
}

/** The frames a `status` reports for the playback, or undefined. */
function framesIn(screen: string): number | undefined {
  const m = /^Playing:\s+".*": (\d+) frames received/m.exec(screen);
  return m ? Number(m[1]) : undefined;
}

/** Players of our clients still running (their command line names an SDP under clientTmp). */
const players = () => processesMentioning(clientTmp).filter((p) => /\bff(mpeg|play)\b/.test(p.cmd));

before(async () => {
  requireTool("tmux");
  requireTool("ffmpeg");
  base = await freeBasePort();
  const up = await iceflix(
    [
      "up", "--detach", "--data", data, "--base-port", String(base),
      `--IceFlix.Token.LifetimeSeconds=${TOKEN_LIFETIME_S}`, "--IceFlix.Announce.PeriodSeconds=1",
    ],
    { timeoutMs: 120_000 },
  );
  assert.equal(up.code, 0, show(up));
  mainProxy = readFileSync(join(data, "main.proxy"), "utf8").trim();
  brokerProxy = upState().components.find((c) => c.kind === "broker")!.proxy;
  const add = await iceflix(["user", "add", USER, "--data", data, "--password-stdin"], { stdin: `${PASSWORD}\n` });
  assert.equal(add.code, 0, show(add));
  await until("Main to know every service", async () => {
    const kinds = new Set((await instances()).filter((i) => i.healthy).map((i) => i.kind));
    return ["authenticator", "catalog", "streaming"].every((k) => kinds.has(k)) ? true : undefined;
  }, 30_000);
  // The catalog learns the demo media from the StreamProvider (reannounceMedia when it learns it).
  await until("the demo titles in the catalog", async () => {
    const r = await client(["search", "--json"]);
    return r.code === 0 && json(r).total >= 3 ? true : undefined;
  }, 30_000);
  const props = Ice.createProperties();
  props.setProperty("Ice.Default.InvocationTimeout", "5000");
  const init = new Ice.InitializationData();
  init.properties = props;
  communicator = Ice.initialize(init);
});

after(async () => {
  for (const p of panes) await p.kill().catch(() => undefined);
  await plainMainServer?.destroy().catch(() => undefined);
  if (existsSync(join(data, "up.pid"))) await iceflix(["down", "--data", data], { timeoutMs: 40_000 });
  // Whatever is left of ours (a deployment process, a player) is killed by pid, never by name.
  for (const p of [...processesMentioning(data), ...processesMentioning(clientTmp)]) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  await communicator?.destroy();
  if (process.env.CLIENT_TEST_LOG_LEVEL) {
    const keep = mkdtempSync(join(tmpdir(), "iceflix-client-test-logs-"));
    cpSync(join(data, "logs"), keep, { recursive: true });
    process.stdout.write(`# client test logs kept in ${keep}\n`);
  }
  rmSync(data, { recursive: true, force: true });
  rmSync(clientTmp, { recursive: true, force: true });
});

describe("iceflix client in a terminal", { timeout: 300_000 }, () => {
  let pane: TmuxPane;
  const mainLabel = () => `127.0.0.1:${base + 1}`;

  test("starts connected to the Main that up wrote; help lists the commands", async () => {
    pane = await startPane();
    const screen = await pane.screen();
    assert.match(screen, new RegExp(`connected to Main at ${mainLabel().replace(/\./g, "\\.")} \\(IceFlix MainExt; tokens last ${TOKEN_LIFETIME_S} s\\)`));
    assert.equal(screen.split("\n").at(-1), `iceflix ${mainLabel()}>`);
    const help = await pane.run("help", PROMPT);
    for (const c of ["connect", "status", "login", "logout", "search", "tag_search", "select", "deselect", "rename", "add_tags", "remove_tags", "play", "stop", "help", "exit"]) {
      assert.match(help, new RegExp(`^  ${c}\\b`, "m"), `help lists ${c}`);
    }
    const status = await pane.run("status", PROMPT);
    assert.match(status, /^Main:\s+Main:tcp .* \(reachable, IceFlix MainExt\)$/m);
    assert.match(status, /^User:\s+not logged in$/m);
  });

  test("search: substring, exact when quoted (case folded), everything when empty", async () => {
    const sub = await pane.run("search colour", PROMPT);
    assert.match(sub, /^ ?#\s+ID\s+NAME\s+TAGS\s+AVAILABLE$/m);
    assert.match(sub, /^ ?1\s+[0-9a-f]{12}\s+Colour Bars\.mp4\s+(yes|no)$/m);
    assert.doesNotMatch(sub, /Test Pattern/);
    const exact = await pane.run(`search "colour bars.mp4"`, PROMPT);
    assert.match(exact, /^ ?1\s+[0-9a-f]{12}\s+Colour Bars\.mp4/m);
    const exactPart = await pane.run(`search "colour"`, PROMPT);
    assert.match(exactPart, /^no titles found$/m);
    const all = await pane.run("search", PROMPT);
    for (const name of [COLOUR, PATTERN, MANDEL]) assert.ok(all.includes(name), `${name} listed:\n${all}`);
    assert.match(all, /^ ?3\s+/m);
  });

  test("edits need a selection and a login; select checks the range", async () => {
    const noSelection = await pane.run("rename Something", PROMPT);
    assert.match(noSelection, /^error: select a title first/m);
    await pane.run("search colour", PROMPT);
    const out = await pane.run("select 9", PROMPT);
    assert.match(out, /^error: there is no result 9 \(the last search shows 1 result\)$/m);
    const sel = await pane.run("select 1", PROMPT);
    assert.match(sel, /^selected #1 "Colour Bars\.mp4"/m);
    assert.equal(sel.split("\n").at(-1), `iceflix ${mainLabel()} "Colour Bars.mp4">`);
    for (const edit of ["rename Something", "add_tags a", "remove_tags a", "play"]) {
      assert.match(await pane.run(edit, PROMPT), /^error: log in first \(login <user>\)$/m, edit);
    }
  });

  test("login: a wrong password is refused; the password never shows, nor enters the history", async () => {
    const wrong = await login(pane, WRONG_PASSWORD);
    assert.match(wrong, /^Password:$/m, `nothing is echoed after the password prompt:\n${wrong}`);
    assert.match(wrong, /^error: wrong user name or password$/m);
    const right = await login(pane);
    assert.match(right, new RegExp(`^logged in as ${USER}$`, "m"));
    assert.equal(right.split("\n").at(-1), `iceflix ${USER}@${mainLabel()} "Colour Bars.mp4">`);
    const screen = await pane.screen();
    assert.ok(!screen.includes(PASSWORD) && !screen.includes(WRONG_PASSWORD), "no password on screen");
    const history = readFileSync(join(data, "client_history"), "utf8");
    assert.ok(history.includes(`login ${USER}`), history);
    assert.ok(!history.includes(PASSWORD) && !history.includes(WRONG_PASSWORD), "no password in the history");
  });

  test("rename, add_tags, tag_search (all / any), remove_tags, deselect", async () => {
    const renamed = await pane.run("rename Colour Bars HD", PROMPT);
    assert.match(renamed, /^renamed: "Colour Bars HD" \([0-9a-f]{12}\)/m);
    assert.match(renamed.split("\n").at(-1)!, /"Colour Bars HD">$/);
    assert.match(await pane.run("search bars hd", PROMPT), /^ ?1\s+[0-9a-f]{12}\s+Colour Bars HD\s/m);
    await pane.run("select 1", PROMPT);
    const added = await pane.run("add_tags client-test demo-tag", PROMPT);
    assert.match(added, /^tags added: "Colour Bars HD" \([0-9a-f]{12}\); tags: client-test, demo-tag$/m);
    assert.match(await pane.run("tag_search client-test demo-tag", PROMPT), /^ ?1\s+[0-9a-f]{12}\s+Colour Bars HD\s+client-test, demo-tag\s/m);
    assert.match(await pane.run("tag_search client-test nowhere --all", PROMPT), /^no titles found$/m);
    assert.match(await pane.run("tag_search client-test nowhere --any", PROMPT), /^ ?1\s+[0-9a-f]{12}\s+Colour Bars HD\s/m);
    await pane.run("select 1", PROMPT);
    const removed = await pane.run("remove_tags demo-tag", PROMPT);
    assert.match(removed, /^tags removed: "Colour Bars HD" \([0-9a-f]{12}\); tags: client-test$/m);
    assert.match(await pane.run("rename Colour Bars.mp4", PROMPT), /^renamed: "Colour Bars\.mp4"/m);
    const cleared = await pane.run("deselect", PROMPT);
    assert.match(cleared, /^selection cleared$/m);
    assert.equal(cleared.split("\n").at(-1), `iceflix ${USER}@${mainLabel()}>`);
    assert.match(await pane.run("add_tags x", PROMPT), /^error: select a title first/m);
  });

  test("the token is renewed before its lifetime runs out; edits keep working", async () => {
    await new Promise((r) => setTimeout(r, (TOKEN_LIFETIME_S + 2) * 1000));
    const status = await pane.run("status", PROMPT);
    const m = new RegExp(`^User:\\s+${USER} \\(token lifetime ${TOKEN_LIFETIME_S} s, next renewal in \\d+ s, renewed (\\d+) times\\)$`, "m").exec(status);
    assert.ok(m, status);
    assert.ok(Number(m[1]) >= 1, `renewed at least once:\n${status}`);
    await pane.run("search colour", PROMPT);
    await pane.run("select 1", PROMPT);
    assert.match(await pane.run("remove_tags client-test", PROMPT), /^tags removed: .*; no tags$/m);
  });

  test("play (headless) returns to the prompt at once; frames arrive; stop ends it", async () => {
    await pane.run("search colour", PROMPT);
    await pane.run("select 1", PROMPT);
    const started = Date.now();
    const play = await pane.run("play", PROMPT, 15_000);
    const promptAfterMs = Date.now() - started;
    assert.match(play, /^playing "Colour Bars\.mp4": .*ffmpeg \(headless\)/m);
    assert.match(play.split("\n").at(-1)!, /"Colour Bars\.mp4" \[playing\]>$/);
    assert.ok(promptAfterMs < 8000, `the prompt came back after ${promptAfterMs} ms`);
    assert.equal(players().length, 1, JSON.stringify(players()));
    const status = await until("frames to arrive", async () => {
      const s = await pane.run("status", PROMPT);
      return (framesIn(s) ?? 0) > 10 ? s : undefined;
    }, 30_000);
    assert.match(status, /sync topic \S+ listening/);
    const stop = await pane.run("stop", PROMPT);
    assert.match(stop, /^stopped "Colour Bars\.mp4": \d+ frames received/m);
    assert.match(stop.split("\n").at(-1)!, /"Colour Bars\.mp4">$/);
    await until("the player to be gone", () => (players().length === 0 ? true : undefined), 5000);
    assert.match(await pane.run("status", PROMPT), /^Playing:\s+nothing$/m);
    assert.match(await pane.run("stop", PROMPT), /^nothing is playing$/m);
  });

  test("a stream's request for a fresh token (sync topic) is answered, playback continues", async () => {
    await pane.run("play", PROMPT, 15_000);
    const status = await until("frames", async () => {
      const s = await pane.run("status", PROMPT);
      return (framesIn(s) ?? 0) > 5 ? s : undefined;
    }, 30_000);
    const topicName = /sync topic (\S+) listening/.exec(status)?.[1];
    assert.ok(topicName, status);
    const refreshesIn = (s: string) => Number(/token refreshes (\d+)/.exec(s)?.[1] ?? "-1");
    const before = refreshesIn(status);
    // Publish requestAuthentication() on the controller's topic, as the controller does.
    const tm = IceStorm.TopicManagerPrx.uncheckedCast(communicator!.stringToProxy(brokerProxy));
    const topic = await tm.retrieve(topicName);
    const publisher = IceFlix.StreamerSyncPrx.uncheckedCast((await topic.getPublisher())!);
    await publisher.requestAuthentication();
    const after = await until("the stream to be given a fresh token", async () => {
      const s = await pane.run("status", PROMPT);
      return refreshesIn(s) > before ? s : undefined;
    }, 15_000);
    assert.match(after, /^Playing:\s+"Colour Bars\.mp4"/m, "still playing");
    await pane.run("stop", PROMPT);
  });

  test("logout forgets the user and stops playback", async () => {
    await pane.run("play", PROMPT, 15_000);
    const out = await pane.run("logout", PROMPT);
    assert.match(out, new RegExp(`^logged out ${USER}$`, "m"));
    assert.equal(out.split("\n").at(-1), `iceflix ${mainLabel()} "Colour Bars.mp4">`);
    await until("the player to be gone", () => (players().length === 0 ? true : undefined), 5000);
    assert.match(await pane.run("add_tags x", PROMPT), /^error: log in first/m);
    assert.match(await pane.run("status", PROMPT), /^User:\s+not logged in$/m);
  });

  test("exit stops the stream, the player and the client", async () => {
    await login(pane);
    await pane.run("play", PROMPT, 15_000);
    await until("the player", () => (players().length === 1 ? true : undefined), 5000);
    const topicName = /sync topic (\S+) listening/.exec(await pane.run("status", PROMPT))?.[1];
    assert.ok(topicName, "the stream's sync topic");
    await pane.type("exit");
    assert.equal(await exitStatusOf(pane), 0);
    assert.deepEqual(players(), [], "no player left");
    assert.deepEqual(processesMentioning(clientTmp).filter((p) => !p.cmd.startsWith("tmux")), [], "nothing of the client left");
    // The controller was told to stop: a destroyed controller removes its sync topic.
    const tm = IceStorm.TopicManagerPrx.uncheckedCast(communicator!.stringToProxy(brokerProxy));
    await until("the stream's controller to be gone", async () => {
      try {
        await tm.retrieve(topicName);
        return undefined;
      } catch (e) {
        if (e instanceof IceStorm.NoSuchTopic) return true;
        throw e;
      }
    }, 10_000);
    assert.doesNotMatch(await pane.screen(), STACK);
  });
});

describe("iceflix client when things fail", { timeout: 300_000 }, () => {
  let pane: TmuxPane;

  test("Main down at start: retried with the configured delay, then a clear message; connect recovers", async () => {
    const dead = `Main:tcp -h 127.0.0.1 -p ${await freePort()}`;
    const started = Date.now();
    pane = await startPane(["--main", dead, "--retries", "3", "--retry-delay", "0.4"]);
    const elapsed = Date.now() - started;
    const screen = await pane.screen();
    assert.equal((screen.match(/cannot reach Main at 127\.0\.0\.1:\d+ \(connection refused\); attempt \d\/3, retrying in 0\.4 s/g) ?? []).length, 2, screen);
    assert.match(screen, /^error: Main at Main:tcp .* is not reachable after 3 attempts \(connection refused\)\. Is IceFlix running/m);
    assert.match(screen.split("\n").at(-1)!, /^iceflix 127\.0\.0\.1:\d+ \(lost\)>$/);
    assert.ok(elapsed >= 800, `two pauses of 0.4 s (took ${elapsed} ms)`);
    assert.doesNotMatch(screen, STACK);
    const connected = await pane.run(`connect ${mainProxy}`, PROMPT);
    assert.match(connected, /^connected to Main at 127\.0\.0\.1:\d+ \(IceFlix MainExt/m);
    assert.match(await pane.run("search colour", PROMPT), /Colour Bars\.mp4/);
  });

  test("Main killed mid-session: reported, then the next commands reach it again", async () => {
    await login(pane);
    const main = upState().components.find((c) => c.kind === "main")!;
    process.kill(main.pid, "SIGKILL");
    // `up` restarts it after a 1 s pause: status sees it gone first.
    const status = await pane.run("status", PROMPT);
    assert.match(status, /^Main:\s+Main:tcp .* \(not reachable: (connection refused|connection lost)/m);
    assert.match(status.split("\n").at(-1)!, /\(lost\)>$/);
    await until("Main back", async () => {
      const s = await pane.run("status", PROMPT);
      return /\(reachable, IceFlix MainExt\)/.test(s) ? true : undefined;
    }, 30_000);
    assert.match(await pane.run("search colour", PROMPT), /Colour Bars\.mp4/);
    await pane.run("select 1", PROMPT);
    assert.match(await pane.run("add_tags after-restart", PROMPT), /^tags added: .*after-restart/m);
    assert.match(await pane.run("remove_tags after-restart", PROMPT), /^tags removed:/m);
    assert.doesNotMatch(await pane.screen(), STACK);
  });

  test("a token made invalid (password set again, same password): the edit logs in again with the held hash", async () => {
    const passwd = await iceflix(["user", "passwd", USER, "--data", data, "--password-stdin"], { stdin: `${PASSWORD}\n` });
    assert.equal(passwd.code, 0, show(passwd));
    await pane.run("search colour", PROMPT);
    await pane.run("select 1", PROMPT);
    assert.match(await pane.run("add_tags after-passwd", PROMPT), /^tags added: .*after-passwd/m);
    assert.match(await pane.run("remove_tags after-passwd", PROMPT), /^tags removed:/m);
    assert.match(await pane.run("status", PROMPT), new RegExp(`^User:\\s+${USER} \\(`, "m"), "still logged in");
  });

  test("the catalog lost mid-session: the client asks Main for the one that replaced it", async () => {
    // `up` restarts it after a 1 s pause.
    const catalog = upState().components.find((c) => c.kind === "catalog")!;
    process.kill(catalog.pid, "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    // At most one failed attempt is reported while the replacement comes up; never a stack trace.
    const row = /^ ?1\s+[0-9a-f]{12}\s+Colour Bars\.mp4\s/m;
    const found = await until("search to work again", async () => {
      const s = await pane.run("search colour", PROMPT);
      return row.test(s) ? s : undefined;
    }, 30_000);
    assert.match(found, /^ ?1\s+[0-9a-f]{12}\s+Colour Bars\.mp4/m);
    assert.doesNotMatch(await pane.screen(), STACK);
  });

  test("the authenticator lost mid-session: reported, then the one that replaced it is used", async () => {
    const auth = upState().components.find((c) => c.kind === "auth")!;
    process.kill(auth.pid, "SIGKILL");
    // `up` restarts it after a 1 s pause; meanwhile a login says why it cannot be done.
    const first = await login(pane);
    assert.match(first, /^(error: no authentication service is available right now; try again later|error: the authentication service does not answer .*|logged in as tester)$/m);
    await until("a login to work again", async () => {
      const out = await login(pane);
      return /^logged in as tester$/m.test(out) ? true : undefined;
    }, 30_000);
    await pane.run("select 1", PROMPT);
    assert.match(await pane.run("add_tags after-auth-restart", PROMPT), /^tags added: .*after-auth-restart/m);
    assert.match(await pane.run("remove_tags after-auth-restart", PROMPT), /^tags removed:/m);
    assert.doesNotMatch(await pane.screen(), STACK);
  });

  test("unknown commands, bad quoting and Ctrl+C keep the session", async () => {
    assert.match(await pane.run("serch colour", PROMPT), /^error: unknown command "serch" \(type help for the list\)$/m);
    assert.match(await pane.run(`search "colour`, PROMPT), /^error: unterminated double quote$/m);
    await pane.type("half typed", false);
    await pane.keys("C-c");
    await pane.waitFor("a fresh prompt", (s) => PROMPT.test(s.split("\n").at(-1)!) && !s.split("\n").at(-1)!.includes("half typed"), 5000);
    await pane.keys("C-d");
    assert.equal(await exitStatusOf(pane), 0);
    assert.match(await pane.screen(), /^\[exited with status 0\]$/m, "Ctrl+D ends the prompt's line");
  });
});

describe("iceflix client, non-interactive", { timeout: 300_000 }, () => {
  let colourId = "";

  before(async () => {
    // After the catalog was replaced above, it relearns which titles have a live provider.
    await until("every demo title available again", async () => {
      const r = await client(["search", "--json"]);
      const rows = r.code === 0 ? (json(r).results as Array<{ name: string | null; available: boolean | null }>) : [];
      return rows.length >= 3 && rows.every((row) => row.available && row.name) ? true : undefined;
    }, 30_000);
  });

  test("search --json: substring and --exact; tag_search --all / --any", async () => {
    const sub = await client(["search", "colour", "--json"]);
    assert.equal(sub.code, 0, show(sub));
    const body = json(sub);
    assert.equal(body.ok, true);
    assert.equal(body.total, 1);
    assert.equal(body.results[0].name, COLOUR);
    assert.match(body.results[0].id, /^[0-9a-f]{64}$/);
    assert.equal(typeof body.results[0].available, "boolean");
    colourId = body.results[0].id;
    const exact = json(await client(["search", "COLOUR BARS.MP4", "--exact", "--json"]));
    assert.deepEqual(exact.results.map((r: { id: string }) => r.id), [colourId]);
    assert.deepEqual(json(await client(["search", "colour", "--exact", "--json"])).results, []);
    const text = await client(["search", "colour"]);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, /^ ?1\s+[0-9a-f]{12}\s+Colour Bars\.mp4/m);

    const tag = await client(["add_tags", colourId, "nb-one", "nb-two", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(tag.code, 0, show(tag));
    assert.deepEqual(json(tag).tags, ["nb-one", "nb-two"]);
    const all = json(await client(["tag_search", "nb-one", "nowhere", "--all", "--json"]));
    assert.deepEqual(all.results, []);
    const any = json(await client(["tag_search", "nb-one", "nowhere", "--any", "--json"]));
    assert.deepEqual(any.results.map((r: { id: string }) => r.id), [colourId]);
    const removed = await client(["remove_tags", colourId, "nb-one", "nb-two", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(removed.code, 0, show(removed));
    assert.deepEqual(json(removed).tags, []);
  });

  test("login --user --password-stdin: 0 when right, 1 when wrong", async () => {
    const ok = await client(["login", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(ok.code, 0, show(ok));
    assert.deepEqual(json(ok), { ok: true, user: USER });
    const bad = await client(["login", "--user", USER, "--password-stdin", "--json"], { stdin: `${WRONG_PASSWORD}\n` });
    assert.equal(bad.code, 1, show(bad));
    assert.equal(json(bad).ok, false);
    assert.match(json(bad).error, /wrong user name or password/);
    assert.ok(!bad.stdout.includes(WRONG_PASSWORD) && !bad.stderr.includes(WRONG_PASSWORD));
  });

  test("rename ID NAME logs in per invocation; the catalog keeps it", async () => {
    const r = await client(["rename", colourId, "Renamed", "by", "script", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(r.code, 0, show(r));
    assert.equal(json(r).name, "Renamed by script");
    assert.equal(json(await client(["search", "renamed by script", "--exact", "--json"])).results[0].id, colourId);
    const back = await client(["rename", colourId, COLOUR, "--user", USER, "--password-stdin"], { stdin: `${PASSWORD}\n` });
    assert.equal(back.code, 0, show(back));
    assert.match(back.stdout, /^renamed: "Colour Bars\.mp4"/m);
  });

  test("the short id a search table shows is enough for an edit; an unknown prefix is one clear line", async () => {
    const short = colourId.slice(0, 12);
    const tagged = await client(["add_tags", short, "short-id", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(tagged.code, 0, show(tagged));
    assert.equal(json(tagged).id, colourId);
    assert.deepEqual(json(await client(["tag_search", "short-id", "--json"])).results.map((r: { id: string }) => r.id), [colourId]);
    const untagged = await client(["remove_tags", short, "short-id", "--user", USER, "--password-stdin"], { stdin: `${PASSWORD}\n` });
    assert.equal(untagged.code, 0, show(untagged));
    const none = await client(["rename", "000000", "X", "--user", USER, "--password-stdin"], { stdin: `${PASSWORD}\n` });
    assert.equal(none.code, 1, show(none));
    assert.match(none.stderr, /^iceflix client: no title's id starts with 000000$/m);
  });

  test("errors: unknown id → 1; no --user → 2; unknown command, interactive-only, misplaced option → 2", async () => {
    const unknown = await client(["rename", "f".repeat(64), "X", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(unknown.code, 1, show(unknown));
    assert.match(json(unknown).error, /unknown media id f{64}/);
    const noUser = await client(["rename", colourId, "X"]);
    assert.equal(noUser.code, 2, show(noUser));
    assert.match(noUser.stderr, /needs --user/);
    for (const args of [["bogus"], ["select", "1"], ["search", "x", "--all"], ["play"]]) {
      const r = await client(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${show(r)}`);
      assert.doesNotMatch(r.stderr, STACK);
    }
  });

  test("status --json; the proxy as the first word; Main down → 1 after the retries", async () => {
    const st = await client(["status", "--json"]);
    assert.equal(st.code, 0, show(st));
    const body = json(st);
    assert.equal(body.main.reachable, true);
    assert.equal(body.main.implementation, "IceFlix MainExt");
    assert.equal(body.tokenLifetimeSeconds, TOKEN_LIFETIME_S);
    assert.equal(body.broker, brokerProxy);
    const positional = await iceflix(["client", mainProxy, "status", "--json"]);
    assert.equal(positional.code, 0, show(positional));
    const dead = `Main:tcp -h 127.0.0.1 -p ${await freePort()}`;
    const down = await iceflix(["client", "--main", dead, "status", "--json", "--retries", "2", "--retry-delay", "0.2"]);
    assert.equal(down.code, 1, show(down));
    assert.equal(json(down).ok, false);
    assert.equal(json(down).main.reachable, false);
    assert.match(down.stderr, /not reachable after 2 attempts/);
    assert.doesNotMatch(down.stderr, STACK);
    const search = await iceflix(["client", "--main", dead, "search", "x", "--retries", "1"]);
    assert.equal(search.code, 1, show(search));
    assert.match(search.stderr, /^iceflix client: Main at .* is not reachable after 1 attempt \(connection refused\)/m);
  });

  test("a Main that is not a MainExt: everything works, the broker from IceStorm.TopicManager.Proxy", async () => {
    plainMainServer = await ServerAdapter.create(communicator!, "PlainMain", { endpoints: "tcp -h 127.0.0.1 -p 0" });
    const real = IceFlix.MainPrx.uncheckedCast(communicator!.stringToProxy(mainProxy));
    const plain = communicator!.proxyToString(plainMainServer.add(new PlainMain(real), "Main"));
    const withBroker = [`--IceStorm.TopicManager.Proxy=${brokerProxy}`];
    const st = await iceflix(["client", "--main", plain, "status", "--json", ...withBroker]);
    assert.equal(st.code, 0, show(st));
    assert.equal(json(st).main.implementation, "IceFlix Main");
    assert.equal(json(st).tokenLifetimeSeconds, null);
    assert.equal(json(st).broker, brokerProxy);
    const found = json(await iceflix(["client", "--main", plain, "search", "colour", "--json"]));
    assert.equal(found.results[0].id, colourId);
    const tagged = await iceflix(["client", "--main", plain, "add_tags", colourId, "plain", "--user", USER, "--password-stdin", "--json"], { stdin: `${PASSWORD}\n` });
    assert.equal(tagged.code, 0, show(tagged));
    await iceflix(["client", "--main", plain, "remove_tags", colourId, "plain", "--user", USER, "--password-stdin"], { stdin: `${PASSWORD}\n` });
    const play = await iceflix(
      ["client", "--main", plain, "play", colourId, "--user", USER, "--password-stdin", "--headless", "--duration", "3", "--json", ...withBroker],
      { stdin: `${PASSWORD}\n`, timeoutMs: 60_000 },
    );
    assert.equal(play.code, 0, show(play));
    assert.equal(json(play).sync, "listening", "subscribed to the sync topic through the broker property");
    assert.ok(json(play).frames > 0);
  });

  test("play ID --headless --duration, and --record FILE", async () => {
    // Both at once (two streams of one title): neither waits out the other's 4 s.
    const file = join(clientTmp, "recorded.mkv");
    const [r, rec] = await Promise.all([
      client(["play", colourId, "--user", USER, "--password-stdin", "--headless", "--duration", "4", "--json"], { stdin: `${PASSWORD}\n`, timeoutMs: 60_000 }),
      client(["play", colourId, "--user", USER, "--password-stdin", "--record", file, "--duration", "4", "--json"], { stdin: `${PASSWORD}\n`, timeoutMs: 60_000 }),
    ]);
    assert.equal(r.code, 0, show(r));
    const body = json(r);
    assert.equal(body.ok, true);
    assert.ok(body.frames > 10, show(r));
    assert.equal(rec.code, 0, show(rec));
    assert.ok(existsSync(file) && statSync(file).size > 1000, `the recording has content (${existsSync(file) ? statSync(file).size : "no file"}): ${show(rec)}`);
    assert.deepEqual(players(), []);
  });
});
