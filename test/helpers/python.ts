/** Runs Python Ice peers (Debian's python3-zeroc-ice under /usr/bin/python3). */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { REPO_ROOT, startReady } from "./processes.js";

export const PYTHON = "/usr/bin/python3";
export const PY_DIR = `${REPO_ROOT}test/interop/py/`;
export const SLICE_DIR = `${REPO_ROOT}slice/`;

/** Runs a script from test/interop/py to completion; resolves with its last stdout line parsed as JSON. */
export function runPython<T = unknown>(script: string, args: string[], timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [PY_DIR + script, ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${script} failed: ${error.message}\n${stderr}`));
        const lines = stdout.trim().split("\n");
        try {
          resolve(JSON.parse(lines[lines.length - 1]!) as T);
        } catch {
          reject(new Error(`${script} printed no JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/** Starts a long-running Python peer that prints a JSON `ready` line. */
export function startPython<R = Record<string, unknown>>(script: string, args: string[], timeoutMs = 20_000) {
  return startReady<R>(PYTHON, [PY_DIR + script, ...args], { timeoutMs, env: { ...process.env, ICEFLIX_SLICE_DIR: SLICE_DIR } });
}

void fileURLToPath;
