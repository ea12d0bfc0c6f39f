/**
 * Runs Debian's icegridadmin against a registry: one `-e` command per call, bounded, with the
 * registry's answer (or its one-line error) returned. The admin session uses any user name, which
 * the local registry's NullPermissionsVerifier accepts (see iceGridProcesses.ts).
 */
import { execFile } from "node:child_process";

export const ICEGRID_ADMIN = "icegridadmin";

/** An admin command the registry refused, or a registry that did not answer. */
export class GridAdminError extends Error {
  override name = "GridAdminError";
}

export interface AdminOptions {
  locator: string;
  timeoutMs?: number;
}

/** Runs `icegridadmin -e command`; resolves with its stdout. */
export function gridAdmin(command: string, { locator, timeoutMs = 15_000 }: AdminOptions): Promise<string> {
  const args = [
    `--Ice.Default.Locator=${locator}`,
    // A registry that is down must fail fast, not after Ice's defaults.
    "--Ice.Override.ConnectTimeout=2000",
    "--Ice.Default.InvocationTimeout=10000",
    "-u",
    "iceflix",
    "-p",
    "iceflix",
    "-e",
    command,
  ];
  return new Promise((resolve, reject) => {
    execFile(ICEGRID_ADMIN, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return reject(new GridAdminError(`${ICEGRID_ADMIN} is not installed (Debian package zeroc-ice-utils)`));
      if (error.killed) return reject(new GridAdminError(`icegridadmin "${command}": no answer from ${locator} within ${timeoutMs} ms`));
      const line = firstErrorLine(stderr) || firstErrorLine(stdout) || error.message;
      reject(new GridAdminError(`icegridadmin "${command}": ${line}`));
    });
  });
}

/** icegridadmin's error, which may span lines ("error: …:\n reason"), as one line. */
function firstErrorLine(text: string): string {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(" ");
}
