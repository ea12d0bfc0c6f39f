/**
 * A whole IceFlix deployment for a chaos test, started the way a user does it
 * (`bin/iceflix up --detach` on a temporary data folder and free ports) and stopped with
 * `bin/iceflix down`; whatever is left of it afterwards (found by its data folder in the command
 * line, or by its media folder among a gst-launch's open files) is killed by pid.
 *
 * Components are found live under the `up` process, so pids stay right after `up` restarted one:
 * `main`, `auth`, `catalog`, `streaming` listen on the base ports, `main-2` … on port 0 (free),
 * `broker` runs icebox as its child.
 */
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix, IceFlixExt } from "../../../src/slice/index.js";
import { freeBasePort } from "../../helpers/broker.js";
import { logEntries } from "../../helpers/logFiles.js";
import { DIST, ICEFLIX_BIN } from "../../helpers/processes.js";
import { waitFor } from "../../helpers/waitFor.js";
import { mainPrx, newCommunicator } from "./client.js";
import { allProcesses, descendants, fdCount, killPid, openFiles, rssOf, type ProcInfo } from "./procs.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin/iceflix args…` to completion (bounded); stdin is written and closed. */
export function iceflix(args: string[], stdin = "", timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: timeoutMs }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(stdin);
  });
}

/** The demo clips of `up`, generated once per build folder and copied into each deployment. */
export async function cachedDemoMedia(): Promise<string> {
  const dir = join(DIST, ".chaos-cache", "demo-media");
  const { ensureDemoMedia } = await import("../../../src/cli/demoMedia.js");
  await ensureDemoMedia(dir, () => undefined);
  return dir;
}

export interface Component {
  name: string;
  kind: string;
  pid: number;
}

export interface UpOptions {
  /** Names the temporary folder. */
  label: string;
  replicas?: number;
  /** `--Prop=value` arguments for every component. */
  props?: string[];
  /**
   * Makes the media folder inside the deployment's temporary folder and returns its path (no
   * demo user is created then); default: the demo clips.
   */
  media?: (root: string) => string | Promise<string>;
  /** Titles every catalog must know (with a live provider) before up() resolves. */
  expectTitles?: number;
  /** `up --database URL`: titles and users in PostgreSQL. */
  database?: string;
}

export type LogLine = Record<string, unknown> & { level?: number; msg?: string; time?: number };

export class Deployment {
  readonly root: string;
  readonly data: string;
  readonly basePort: number;
  readonly replicas: number;
  readonly mediaDir: string;
  readonly communicator: Ice.Communicator;
  mainProxy = "";
  upPid = 0;
  #stopped = false;

  private constructor(root: string, basePort: number, replicas: number, mediaDir: string) {
    this.root = root;
    this.data = join(root, "data");
    this.basePort = basePort;
    this.replicas = replicas;
    this.mediaDir = mediaDir;
    this.communicator = newCommunicator();
  }

  /** Temporary folders of this deployment, for a test's own files (removed by down()). */
  tmp(name: string): string {
    const dir = join(this.root, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  static async up(options: UpOptions): Promise<Deployment> {
    const root = mkdtempSync(join(tmpdir(), `iceflix-chaos-${options.label}-`));
    const replicas = options.replicas ?? 1;
    const data = join(root, "data");
    mkdirSync(data, { recursive: true });
    const mediaDir = options.media ? await options.media(root) : join(data, "demo-media");
    if (!options.media) cpSync(await cachedDemoMedia(), mediaDir, { recursive: true });
    let lastError = "";
    // A base port found free can be taken before `up` binds it (other jobs run here): try again.
    for (let attempt = 0; attempt < 3; attempt++) {
      const base = await freeBasePort();
      const d = new Deployment(root, base, replicas, mediaDir);
      const r = await iceflix(
        [
          "up",
          "--data",
          data,
          "--replicas",
          String(replicas),
          "--base-port",
          String(base),
          "--detach",
          ...(options.media ? ["--media", mediaDir] : []),
          ...(options.database ? ["--database", options.database] : []),
          ...(options.props ?? []),
        ],
        "",
        120_000,
      );
      if (r.code !== 0) {
        lastError = `${r.stderr}${r.stdout}`;
        await d.down({ keepFiles: true }); // a half-started `up` goes too
        continue;
      }
      d.mainProxy = readFileSync(join(data, "main.proxy"), "utf8").trim();
      d.upPid = Number(readFileSync(join(data, "up.pid"), "utf8").trim());
      try {
        await d.waitReady(options.expectTitles ?? (options.media ? 0 : 3));
      } catch (e) {
        await d.down();
        throw e;
      }
      return d;
    }
    rmSync(root, { recursive: true, force: true });
    throw new Error(`iceflix up failed 3 times: ${lastError}`);
  }

  get ports() {
    const b = this.basePort;
    return { auth: b, main: b + 1, catalog: b + 2, streaming: b + 3, topicManager: b + 10, publish: b + 11 };
  }

  /** The Main through main.proxy (every Main endpoint). */
  main(communicator = this.communicator): IceFlixExt.MainExtPrx {
    return mainPrx(communicator, readFileSync(join(this.data, "main.proxy"), "utf8").trim());
  }

  /** The first Main only (fixed port), e.g. to read its registries. */
  firstMain(communicator = this.communicator): IceFlixExt.MainExtPrx {
    return mainPrx(communicator, `Main:tcp -h 127.0.0.1 -p ${this.ports.main}`);
  }

  catalogAt(port: number, communicator = this.communicator): IceFlix.MediaCatalogPrx {
    return IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(`MediaCatalog:tcp -h 127.0.0.1 -p ${port}`));
  }

  authAt(port: number, communicator = this.communicator): IceFlix.AuthenticatorPrx {
    return IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(`Authenticator:tcp -h 127.0.0.1 -p ${port}`));
  }

  providerAt(port: number, communicator = this.communicator): IceFlix.StreamProviderPrx {
    return IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy(`StreamProvider:tcp -h 127.0.0.1 -p ${port}`));
  }

  get secretHex(): string {
    return readFileSync(join(this.data, "secret"), "utf8").trim();
  }

  get secret(): Buffer {
    return Buffer.from(this.secretHex, "hex");
  }

  /** Every instance registered with the first Main, by kind. */
  async instances(): Promise<IceFlixExt.InstanceInfo[]> {
    return this.firstMain().listInstances();
  }

  /**
   * Waits (bounded) until the first Main lists `replicas` of each kind and every catalog it lists
   * knows `titles` titles, each with a live provider.
   */
  async waitReady(titles: number, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${this.replicas} of each service registered and ${titles} titles available in every catalog`,
      async () => {
        const list = await this.instances();
        const count = (k: string) => list.filter((i) => i.kind === k).length;
        if (!["authenticator", "catalog", "streaming"].every((k) => count(k) === this.replicas)) return `instances: ${list.map((i) => i.kind)}`;
        for (const c of list.filter((i) => i.kind === "catalog")) {
          const catalog = IceFlix.MediaCatalogPrx.uncheckedCast(c.proxy);
          const ids = await catalog.getTilesByName("", false);
          if (ids.length < titles) return `catalog ${c.id} knows ${ids.length} titles`;
          for (const id of ids) await catalog.getTile(id);
        }
        return "ready";
      },
      (v) => v === "ready",
      timeoutMs,
    );
  }

  /** `bin/iceflix` with `--data` of this deployment. */
  cli(args: string[], stdin = ""): Promise<CliResult> {
    return iceflix([...args, "--data", this.data], stdin);
  }

  async addUser(name: string, password: string): Promise<void> {
    const r = await this.cli(["user", "add", name, "--password-stdin"], `${password}\n`);
    if (r.code !== 0) throw new Error(`user add ${name}: ${r.stderr}`);
  }

  // -------------------------------------------------------------------------------------------
  // Processes

  /** The components `up` runs now (restarted ones included), by name. */
  components(): Component[] {
    const out: Component[] = [];
    for (const p of descendants(this.upPid)) {
      if (p.ppid !== this.upPid || !p.args[1]?.endsWith("bin/iceflix")) continue;
      const kind = p.args[2] ?? "?";
      const endpoints = p.args.find((a) => /^--\w+Adapter\.Endpoints=/.test(a));
      const port = endpoints ? Number(/-p (\d+)/.exec(endpoints)?.[1]) : -1;
      out.push({ kind, pid: p.pid, name: port === 0 ? `${kind}-2` : kind });
    }
    return out;
  }

  component(name: string): Component {
    const c = this.components().find((x) => x.name === name);
    if (!c) throw new Error(`no running component ${name}: ${this.components().map((x) => x.name)}`);
    return c;
  }

  /** The icebox process (the real IceStorm) under the broker component. */
  icebox(): ProcInfo | undefined {
    return descendants(this.upPid).find((p) => p.args[0] === "icebox" || p.args[0]?.endsWith("/icebox"));
  }

  /** Every process of this deployment: up, its components and theirs (icebox, setpriv, gst-launch). */
  processes(): ProcInfo[] {
    const all = allProcesses();
    return [...all.filter((p) => p.pid === this.upPid), ...descendants(this.upPid, all)];
  }

  /** gst-launch processes reading a file of this deployment's media folder. */
  gstProcesses(dir = this.mediaDir): ProcInfo[] {
    return allProcesses().filter((p) => p.args[0]?.endsWith("gst-launch-1.0") && openFiles(p.pid).some((f) => f.startsWith(dir + "/")));
  }

  rss(name: string): number {
    return rssOf(this.component(name).pid);
  }

  fds(name: string): number {
    return fdCount(this.component(name).pid);
  }

  // -------------------------------------------------------------------------------------------
  // Logs

  /** Every file under <data>/logs, the broker's own log, and the *.log files tests wrote under this deployment's folder. */
  logFiles(): string[] {
    const dir = join(this.data, "logs");
    const files = existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
    const icebox = join(this.data, "broker", "icebox.log");
    const extra = readdirSync(this.root, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".log") && !f.startsWith(join("data", "logs")))
      .map((f) => join(this.root, f));
    return [...new Set([...files, ...(existsSync(icebox) ? [icebox] : []), ...extra])].filter((f) => statSync(f).isFile());
  }

  /** The JSON lines of a component's log (`<data>/logs/<name>.log`). */
  log(name: string): LogLine[] {
    return logEntries(join(this.data, "logs", `${name}.log`)) as LogLine[];
  }


  /** "event dropped" lines of a component's log, counted as topic → reason → n. */
  droppedEvents(name: string): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const l of this.log(name)) {
      if (l.msg !== "event dropped") continue;
      const t = ((out[String(l.topic)] ??= {}) as Record<string, number>);
      t[String(l.reason)] = (t[String(l.reason)] ?? 0) + 1;
    }
    return out;
  }

  /** Lines at level error (50) or above in the service logs. */
  errorLines(): Array<{ file: string; line: LogLine }> {
    const out: Array<{ file: string; line: LogLine }> = [];
    for (const name of ["main", "main-2", "auth", "auth-2", "catalog", "catalog-2", "streaming", "streaming-2"]) {
      for (const line of this.log(name)) if ((line.level ?? 0) >= 50) out.push({ file: name, line });
    }
    return out;
  }

  /** Files under the logs that contain any of `needles` (and which needle, abbreviated). */
  logsContaining(needles: readonly string[]): string[] {
    const hits: string[] = [];
    for (const file of this.logFiles()) {
      const text = readFileSync(file, "utf8");
      for (const n of needles) if (n && text.includes(n)) hits.push(`${file}: ${n.slice(0, 12)}…`);
    }
    return hits;
  }

  // -------------------------------------------------------------------------------------------
  // Stop

  /**
   * `iceflix down`, then SIGKILL to anything of this deployment still alive (by pid), then the
   * folder goes. Idempotent; never throws.
   */
  async down(options: { keepFiles?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.communicator.destroy().catch(() => undefined);
    await iceflix(["down", "--data", this.data], "", 45_000);
    const leftovers = allProcesses().filter(
      (p) =>
        p.pid !== process.pid &&
        (p.args.some((a) => a.includes(this.data) || a.includes(this.root)) ||
          (p.args[0]?.endsWith("gst-launch-1.0") && openFiles(p.pid).some((f) => f.startsWith(this.root + "/") || f.startsWith(this.mediaDir + "/")))),
    );
    for (const p of leftovers) killPid(p.pid);
    if (leftovers.length) console.log(`# chaos: killed ${leftovers.length} leftover process(es) of ${this.data}: ${leftovers.map((p) => p.pid)}`);
    if (!options.keepFiles && !process.env.ICEFLIX_KEEP_TEST_DATA) rmSync(this.root, { recursive: true, force: true });
    else if (process.env.ICEFLIX_KEEP_TEST_DATA) console.log(`# chaos: kept ${this.root}`);
  }
}
