/** `iceflix grid status`: the grid's nodes and servers with their state, from the registry (icegridadmin). */
import { CliError, EXIT } from "../../common/exitCodes.js";
import { gridPaths, readGridState, runningGridPid } from "../../grid/gridFiles.js";
import { gridAdmin, GridAdminError } from "../../grid/iceGridAdmin.js";

interface ServerStatus {
  server: string;
  node: string;
  state: string;
  pid: number | null;
}

export async function gridStatus(data: string, json: boolean): Promise<number> {
  const paths = gridPaths(data);
  const state = readGridState(paths);
  if (!runningGridPid(paths) || !state?.locator) throw new CliError(`no IceFlix grid is running on ${paths.root}`, EXIT.notRunning);
  const admin = (command: string) => gridAdmin(command, { locator: state.locator, timeoutMs: 10_000 });
  let nodes: Array<{ node: string; up: boolean }>;
  let servers: ServerStatus[];
  try {
    servers = await Promise.all(words(await admin("server list")).map((server) => serverStatus(server, admin)));
    // The descriptor's nodes too: one that never started is missing from "node list".
    const names = [...new Set([...words(await admin("node list")), ...servers.map((x) => x.node).filter(Boolean)])].sort();
    nodes = await Promise.all(names.map(async (node) => ({ node, up: (await admin(`node ping ${node}`).catch(() => "")).includes("up") })));
  } catch (e) {
    if (e instanceof GridAdminError) throw new CliError(`the grid's registry (${state.locator}) does not answer: ${e.message}`, EXIT.notRunning);
    throw e;
  }
  if (json) {
    process.stdout.write(JSON.stringify({ locator: state.locator, nodes, servers }, null, 2) + "\n");
    return EXIT.ok;
  }
  process.stdout.write(`Locator: ${state.locator}\n`);
  for (const n of nodes) process.stdout.write(`node ${n.node}: ${n.up ? "up" : "down"}\n`);
  const rows = [["SERVER", "NODE", "STATE", "PID"], ...servers.map((s) => [s.server, s.node, s.state, s.pid === null ? "" : String(s.pid)])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd() + "\n");
  return EXIT.ok;
}

async function serverStatus(server: string, admin: (command: string) => Promise<string>): Promise<ServerStatus> {
  const [stateText, describe] = await Promise.all([
    // A server whose node is down has no state to report.
    admin(`server state ${server}`).catch(() => "unreachable"),
    admin(`server describe ${server}`),
  ]);
  const state = stateText.trim().split(/\s+/)[0] ?? "unknown";
  const node = /node = `([^']*)'/.exec(describe)?.[1] ?? "";
  let pid: number | null = null;
  if (state === "active") {
    const n = Number((await admin(`server pid ${server}`).catch(() => "")).trim());
    pid = Number.isInteger(n) && n > 0 ? n : null;
  }
  return { server, node, state, pid };
}

function words(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}
