/**
 * "Hosts" on this machine for the multi-host chaos test: one network namespace per host, all
 * plugged into a bridge that lives in a dedicated "switch" namespace, plus a veth from the root
 * namespace (where the test process runs) into the switch, so the test is a client host of its own.
 *
 *   root ns (client, .1) ──veth── [switch ns: bridge br0] ──veth── host ns "broker" (.10)
 *                                                         ──veth── host ns "main"   (.11) …
 *
 * All traffic stays on this machine. Names are unique per run (`ifxnet-<pid>-<tag>-<host>` for
 * namespaces, `ifx<tag>c` for the one interface in the root namespace: interface names are at
 * most 15 characters), so parallel runs do not collide; namespaces of earlier runs whose owner pid
 * is dead are removed (their processes killed) before a new lab is made. A link is cut by setting
 * the host's port on the switch down (`ip link set … down`: frames are dropped both ways, as with
 * an unplugged cable; netem is not available on this kernel) and healed by setting it up again.
 * destroy() removes everything the lab created and never throws; call it in after().
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { processAlive } from "../../../src/common/processAlive.js";

/** Prefix of every namespace a lab creates; stale-run cleanup only touches these. */
export const NETNS_PREFIX = "ifxnet-";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded); never throws. */
export function run(command: string, args: readonly string[], options: { timeoutMs?: number; stdin?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(command, [...args], { timeout: options.timeoutMs ?? 15_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (error && code !== 0 ? error.message : "") });
    });
    child.stdin?.on("error", () => undefined); // a command that does not read stdin
    child.stdin?.end(options.stdin ?? "");
  });
}

async function ip(args: readonly string[]): Promise<string> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}


async function namespaces(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  return r.code === 0 ? r.stdout.split("\n").map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean) : [];
}

/** SIGKILL to every process inside a namespace (processes keep a deleted namespace alive). */
async function killInside(ns: string): Promise<number> {
  const r = await run("ip", ["netns", "pids", ns]);
  let n = 0;
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * Removes the namespaces of earlier runs (our prefix) whose owner pid is no longer alive, with
 * whatever still runs inside them. Returns the names removed.
 */
export async function cleanStaleNamespaces(): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await namespaces()) {
    const m = new RegExp(`^${NETNS_PREFIX}(\\d+)-`).exec(ns);
    if (!m || processAlive(Number(m[1]))) continue;
    await killInside(ns);
    const r = await run("ip", ["netns", "del", ns]);
    if (r.code === 0) removed.push(ns);
  }
  return removed;
}

/** Can this process create network namespaces (root, iproute2)? The reason when it cannot. */
export async function netnsUnavailable(): Promise<string | undefined> {
  const probe = `${NETNS_PREFIX}${process.pid}-probe${randomBytes(2).toString("hex")}`;
  const r = await run("ip", ["netns", "add", probe]);
  if (r.code !== 0) return `cannot create a network namespace (ip netns add): ${r.stderr.trim()}`;
  await run("ip", ["netns", "del", probe]);
  return undefined;
}

export interface NetHost {
  /** The host's name in the lab (e.g. "catalog"). */
  name: string;
  /** Its network namespace. */
  ns: string;
  /** Its address on the lab's subnet. */
  ip: string;
  /** Its port on the switch (inside the switch namespace): what linkDown() sets down. */
  switchPort: string;
}

/** Picks a free 10.a.b.0/24 for the lab: not used by any address or route of the root namespace. */
async function pickSubnet(): Promise<string> {
  const used = (await ip(["-4", "-o", "addr"])) + (await ip(["-4", "route"]));
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = 100 + ((process.pid + attempt * 7) % 100);
    const b = randomBytes(1)[0]!;
    const prefix = `10.${a}.${b}.`;
    if (!used.includes(prefix)) return prefix;
  }
  throw new Error("no free 10.x.y.0/24 subnet for the lab");
}

export class NetLab {
  /** Unique to this lab: `<pid>-<random>`. */
  readonly id: string;
  readonly switchNs: string;
  /** The root namespace's interface into the switch, and the test process's address. */
  readonly clientIf: string;
  readonly clientIp: string;
  readonly hosts = new Map<string, NetHost>();
  readonly #created: { namespaces: string[]; rootLinks: string[] } = { namespaces: [], rootLinks: [] };
  #destroyed = false;

  private constructor(tag: string, readonly subnet: string) {
    this.id = `${process.pid}-${tag}`;
    this.switchNs = `${NETNS_PREFIX}${this.id}-sw`;
    this.clientIf = `ifx${tag}c`;
    this.clientIp = `${subnet}1`;
  }

  /**
   * Creates the switch, one namespace per host name (addresses .10, .11, … in that order) and the
   * client link; on any failure removes what it made and throws.
   */
  static async create(hostNames: readonly string[]): Promise<NetLab> {
    await cleanStaleNamespaces();
    const tag = randomBytes(3).toString("hex");
    const lab = new NetLab(tag, await pickSubnet());
    try {
      await lab.#build(hostNames);
      return lab;
    } catch (e) {
      await lab.destroy();
      throw e;
    }
  }

  async #addNs(name: string): Promise<void> {
    await ip(["netns", "add", name]);
    this.#created.namespaces.push(name);
    await ip(["-n", name, "link", "set", "lo", "up"]);
  }

  async #build(hostNames: readonly string[]): Promise<void> {
    const sw = this.switchNs;
    await this.#addNs(sw);
    await ip(["-n", sw, "link", "add", "br0", "type", "bridge"]);
    await ip(["-n", sw, "link", "set", "br0", "up"]);
    // The client host: the root namespace's end gets the lab's .1.
    await ip(["link", "add", "name", this.clientIf, "type", "veth", "peer", "name", "v-client", "netns", sw]);
    this.#created.rootLinks.push(this.clientIf);
    await ip(["-n", sw, "link", "set", "v-client", "master", "br0", "up"]);
    await ip(["addr", "add", `${this.clientIp}/24`, "dev", this.clientIf]);
    await ip(["link", "set", this.clientIf, "up"]);
    let n = 10;
    for (const name of hostNames) {
      if (!/^[a-z][a-z0-9]{0,12}$/.test(name)) throw new Error(`bad host name ${name}`);
      const host: NetHost = { name, ns: `${NETNS_PREFIX}${this.id}-${name}`, ip: `${this.subnet}${n++}`, switchPort: `v-${name}` };
      await this.#addNs(host.ns);
      await ip(["link", "add", "name", "eth0", "netns", host.ns, "type", "veth", "peer", "name", host.switchPort, "netns", sw]);
      await ip(["-n", sw, "link", "set", host.switchPort, "master", "br0", "up"]);
      await ip(["-n", host.ns, "addr", "add", `${host.ip}/24`, "dev", "eth0"]);
      await ip(["-n", host.ns, "link", "set", "eth0", "up"]);
      this.hosts.set(name, host);
    }
  }

  host(name: string): NetHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the lab`);
    return h;
  }

  /** The argv that runs `command args` inside a host (`ip netns exec` execs: the pid is the command's). */
  argv(host: string, command: string, args: readonly string[]): { command: string; args: string[] } {
    return { command: "ip", args: ["netns", "exec", this.host(host).ns, command, ...args] };
  }

  /** Runs a command inside a host to completion (bounded); never throws. */
  exec(host: string, command: string, args: readonly string[], options: { timeoutMs?: number; stdin?: string } = {}): Promise<ExecResult> {
    const a = this.argv(host, command, args);
    return run(a.command, a.args, options);
  }

  /** Cuts the host's link: its switch port goes down (frames to and from it are dropped). */
  async linkDown(host: string): Promise<void> {
    await ip(["-n", this.switchNs, "link", "set", this.host(host).switchPort, "down"]);
  }

  async linkUp(host: string): Promise<void> {
    await ip(["-n", this.switchNs, "link", "set", this.host(host).switchPort, "up"]);
  }

  /** The host's switch port state ("UP", "DOWN", …). */
  async linkState(host: string): Promise<string> {
    const out = await ip(["-n", this.switchNs, "-o", "link", "show", this.host(host).switchPort]);
    return /state (\S+)/.exec(out)?.[1] ?? "?";
  }

  /** True when a TCP connection from the test process (client host) to ip:port opens within timeoutMs. */
  static reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ host, port });
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(timeoutMs, () => done(false));
      s.once("connect", () => done(true));
      s.once("error", () => done(false));
    });
  }

  /** Namespaces of this lab that still exist (for the leak check). */
  async remaining(): Promise<string[]> {
    return (await namespaces()).filter((ns) => ns.startsWith(`${NETNS_PREFIX}${this.id}-`));
  }

  /**
   * Kills whatever still runs inside the lab's namespaces, deletes the root link and every
   * namespace (their veths and the bridge go with them). Idempotent; never throws; returns what
   * could not be removed (empty when all went).
   */
  async destroy(): Promise<string[]> {
    if (this.#destroyed) return [];
    this.#destroyed = true;
    const problems: string[] = [];
    for (const ns of this.#created.namespaces) await killInside(ns);
    for (const link of this.#created.rootLinks) {
      const r = await run("ip", ["link", "del", link]);
      if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) problems.push(`link ${link}: ${r.stderr.trim()}`);
    }
    for (const ns of [...this.#created.namespaces].reverse()) {
      const r = await run("ip", ["netns", "del", ns]);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) problems.push(`netns ${ns}: ${r.stderr.trim()}`);
    }
    return problems;
  }
}
