/** Where `up` and the services keep their state inside `--data DIR`. */
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { processAlive } from "./processAlive.js";

export interface DataPaths {
  root: string;
  mainProxy: string;
  upPid: string;
  upState: string;
  /** The components' metrics URLs, one per line (`up`). */
  metricsUrls: string;
  logs: string;
  secret: string;
}

export function dataPaths(dir: string): DataPaths {
  const root = resolve(dir);
  return {
    root,
    mainProxy: join(root, "main.proxy"),
    upPid: join(root, "up.pid"),
    upState: join(root, "up.json"),
    metricsUrls: join(root, "metrics.urls"),
    logs: join(root, "logs"),
    secret: join(root, "secret"),
  };
}

export function ensureDataDir(paths: DataPaths): void {
  mkdirSync(paths.logs, { recursive: true, mode: 0o700 });
}

/** The pid in `up.pid` if that process is alive. */
export function runningUpPid(paths: DataPaths): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(paths.upPid, "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return processAlive(pid) ? pid : undefined;
}
