/**
 * Operator commands the checker runs to change the deployment in ways the contract has no
 * operation for (add a user, stop the services): `sh -c CMD` with the parameters in the
 * environment, bounded in time, its output's tail (credentials masked) kept for the evidence.
 * Commands still running when the checker is interrupted are killed with their process group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { CheckFailed } from "./types.js";

const TAIL_CHARS = 300;
const running = new Set<ChildProcess>();

export interface HookRun {
  ms: number;
  /** The last output line, for the evidence. */
  tail: string;
}

/**
 * Runs `command` (what it is for: `what`) with `env` added; resolves when it exits 0, else throws
 * CheckFailed with its exit status and last output line. `secrets` are masked in that line.
 */
export function runHook(what: string, command: string, env: Record<string, string>, secrets: string[] = [], timeoutMs = 30_000): Promise<HookRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    running.add(child);
    let output = "";
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4 * TAIL_CHARS));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const timer = setTimeout(() => killGroup(child), timeoutMs);
    const tail = () => {
      let line = output.trim().split("\n").pop() ?? "";
      for (const s of secrets) if (s) line = line.split(s).join("<masked>");
      return line.slice(-TAIL_CHARS);
    };
    child.on("error", (e) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new CheckFailed(`the ${what} command could not start (${e.message})`, command));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const ms = Date.now() - t0;
      if (code === 0) return resolve({ ms, tail: tail() });
      const why = signal ? `was killed (${signal}${Date.now() - t0 >= timeoutMs ? `, after ${timeoutMs / 1000} s` : ""})` : `exited ${code}`;
      reject(new CheckFailed(`the ${what} command ${why}`, `${command} -> ${tail() || "(no output)"}`));
    });
  });
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Kills every command still running (the checker is being interrupted). */
export function killRunningHooks(): void {
  for (const child of running) killGroup(child);
}
