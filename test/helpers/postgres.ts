/**
 * A PostgreSQL cluster of the test's own (Debian's postgresql-15 binaries): initdb in a temporary
 * folder, run as the unprivileged `postgres` user when the tests run as root (postgres refuses
 * root), on a free port of 127.0.0.1 with password (scram) authentication, so that the URL holds
 * real credentials for the no-credentials-in-logs checks. stop() removes it; a cluster still
 * running when the process exits is stopped then too (a failing test never leaves one behind).
 * A missing PostgreSQL fails the test (CI=true or not): scripts/setup.sh installs it.
 */
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { processAlive } from "../../src/common/processAlive.js";
import { requireTool } from "./tools.js";

export const PG_BIN = "/usr/lib/postgresql/15/bin";
const USER = "iceflix";

export interface TestPostgres {
  port: number;
  password: string;
  /** URL of the cluster's `postgres` database (for admin statements). */
  adminUrl: string;
  /** A fresh, empty database on the cluster; its URL (credentials included). */
  newDatabase(prefix?: string): Promise<string>;
  /** Stops the server (fast shutdown), keeping its files: an outage. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port. */
  startServer(): Promise<void>;
  /** SIGKILL to the postmaster; resolves once every backend is gone. */
  killPostmaster(): Promise<void>;
  /** SIGSTOP / SIGCONT to every process of the cluster: a server that accepts but never answers. */
  freeze(): void;
  thaw(): void;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
  logFile: string;
}

const live = new Set<string>();
process.on("exit", () => {
  for (const dataDir of live) {
    try {
      execFileSync(...asPostgres(join(PG_BIN, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "-w", "-t", "10", "stop"]), { stdio: "ignore" });
    } catch {
      // already stopped
    }
  }
});

function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

function run(command: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const [cmd, argv] = asPostgres(command, args);
  return new Promise((resolve, reject) =>
    execFile(cmd, argv, { timeout: timeoutMs }, (error, stdout, stderr) =>
      error ? reject(new Error(`${command} ${args.join(" ")}: ${error.message} ${stderr}`)) : resolve(stdout),
    ),
  );
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}


/**
 * `host`: an address to listen on besides 127.0.0.1 (the multi-host test's lab address, reached
 * from other network namespaces); the URLs then name it, and password logins from any address
 * are allowed.
 */
export async function startTestPostgres(options: { host?: string } = {}): Promise<TestPostgres> {
  requireTool(join(PG_BIN, "initdb"));
  if (process.getuid?.() === 0) requireTool("runuser");
  const root = mkdtempSync(join(tmpdir(), "iceflix-pg-"));
  const dataDir = join(root, "data");
  const logFile = join(root, "postgres.log");
  const password = randomBytes(12).toString("hex");
  const pwFile = join(root, "pw");
  writeFileSync(pwFile, password + "\n", { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(root, uid, gid);
    chownSync(pwFile, uid, gid);
  }
  await run(join(PG_BIN, "initdb"), ["-D", dataDir, "-U", USER, "--pwfile", pwFile, "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"]);
  rmSync(pwFile, { force: true });
  const port = await freePort();
  const host = options.host ?? "127.0.0.1";
  if (options.host) appendFileSync(join(dataDir, "pg_hba.conf"), "host all all 0.0.0.0/0 scram-sha-256\n");
  const listen = options.host ? `127.0.0.1,${options.host}` : "127.0.0.1";
  const serverOptions = `-p ${port} -k ${root} -c listen_addresses=${listen} -c max_connections=200 -c fsync=on -c synchronous_commit=on`;
  const pgCtl = (args: string[], timeoutMs?: number) => run(join(PG_BIN, "pg_ctl"), ["-D", dataDir, ...args], timeoutMs);
  const startServer = async () => {
    // After a kill, the old postmaster.pid names a dead process: pg_ctl starts anyway.
    await pgCtl(["-o", serverOptions, "-l", logFile, "-w", "-t", "30", "start"]);
  };
  await startServer();
  live.add(dataDir);
  const urlOf = (db: string) => `postgresql://${USER}:${password}@${host}:${port}/${db}`;
  const adminUrl = urlOf("postgres");
  let databases = 0;

  const postmasterPid = () => Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  /** Processes of the cluster still alive (postgres processes work in the data folder): a restart waits for them. */
  const clusterProcesses = (): number[] => {
    const pids: number[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readlinkSync(`/proc/${entry}/cwd`) === dataDir) pids.push(Number(entry));
      } catch {
        // gone, or not ours to look at
      }
    }
    return pids;
  };
  const clusterProcessesLeft = () => clusterProcesses().length > 0;
  const signalAll = (signal: NodeJS.Signals) => {
    for (const pid of clusterProcesses()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone
      }
    }
  };

  return {
    port,
    password,
    adminUrl,
    logFile,
    async newDatabase(prefix = "iceflix") {
      const name = `${prefix}_${process.pid}_${++databases}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return urlOf(name);
    },
    freeze: () => signalAll("SIGSTOP"),
    thaw: () => signalAll("SIGCONT"),
    stopServer: () => pgCtl(["-m", "fast", "-w", "-t", "30", "stop"]).then(() => undefined),
    startServer,
    async killPostmaster() {
      const pid = postmasterPid();
      process.kill(pid, "SIGKILL");
      // Backends notice the postmaster's death and exit; a new postmaster needs them gone.
      const deadline = Date.now() + 15_000;
      while ((processAlive(pid) || clusterProcessesLeft()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    async stop() {
      if (!live.has(dataDir)) return;
      try {
        if (existsSync(join(dataDir, "postmaster.pid"))) await pgCtl(["-m", "immediate", "-w", "-t", "30", "stop"]);
      } catch {
        // already stopped
      }
      live.delete(dataDir);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
