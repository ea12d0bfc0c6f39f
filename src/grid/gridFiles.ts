/**
 * What `iceflix grid up` keeps in its data folder: the registry's and nodes' folders under
 * `grid/`, the state file `grid.json` (pid of the `grid up` process, locator, nodes), and the
 * proxies clients read: main.proxy (direct), locator.proxy, topicmanager.proxy.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { processAlive } from "../common/processAlive.js";

export interface GridPaths {
  root: string;
  /** Registry and node folders. */
  grid: string;
  state: string;
  mainProxy: string;
  locatorProxy: string;
  topicManagerProxy: string;
  /** The servers' metrics URLs, one per line. */
  metricsUrls: string;
  logs: string;
  secret: string;
  /** The descriptor as deployed (variables filled in by icegridadmin, nodes adapted). */
  descriptor: string;
}

export function gridPaths(dir: string): GridPaths {
  const root = resolve(dir);
  return {
    root,
    grid: join(root, "grid"),
    state: join(root, "grid.json"),
    mainProxy: join(root, "main.proxy"),
    locatorProxy: join(root, "locator.proxy"),
    topicManagerProxy: join(root, "topicmanager.proxy"),
    metricsUrls: join(root, "metrics.urls"),
    logs: join(root, "logs"),
    secret: join(root, "secret"),
    descriptor: join(root, "grid", "iceflix.xml"),
  };
}

export interface GridState {
  state: "starting" | "ready";
  /** The `grid up` process, which owns the registry and the nodes. */
  pid: number;
  locator: string;
  nodes: string[];
}

export function readGridState(paths: GridPaths): GridState | undefined {
  try {
    return JSON.parse(readFileSync(paths.state, "utf8")) as GridState;
  } catch {
    return undefined;
  }
}

export function writeGridState(paths: GridPaths, state: GridState): void {
  writeFileSync(paths.state, JSON.stringify(state, null, 2) + "\n");
}

/** The pid of the `grid up` that owns this folder, if it is alive. */
export function runningGridPid(paths: GridPaths): number | undefined {
  const pid = readGridState(paths)?.pid;
  if (!pid) return undefined;
  return processAlive(pid) ? pid : undefined;
}

/** Removes what says a grid runs here (after it stopped). */
export function removeGridFiles(paths: GridPaths): void {
  for (const f of [paths.state, paths.mainProxy, paths.locatorProxy, paths.topicManagerProxy, paths.metricsUrls, join(paths.root, "web.url")]) rmSync(f, { force: true });
}
