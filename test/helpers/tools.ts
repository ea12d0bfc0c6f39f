/** Tool availability for tests: under CI=true a missing tool fails the test, never skips it. */
import { accessSync, constants } from "node:fs";
import { execFileSync } from "node:child_process";

export const IN_CI = process.env.CI === "true";

function onPath(tool: string): boolean {
  if (tool.includes("/")) {
    try {
      accessSync(tool, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Throws (failing the test) when `tool` is missing; scripts/setup.sh installs every tool. */
export function requireTool(tool: string): void {
  if (!onPath(tool)) throw new Error(`${tool} is missing: run scripts/setup.sh (it installs every tool the tests need)`);
}
