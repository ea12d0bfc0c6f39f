/** A component's JSON log file (pino lines, as `--logFile` receives them), read by tests. */
import { readFileSync } from "node:fs";

export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

export function logEntries(file: string): LogLine[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The lines with this message. */
export function logLines(file: string, msg: string): LogLine[] {
  return logEntries(file).filter((l) => l.msg === msg);
}

/** The lines at level error (50) or above. */
export function errorLines(file: string): LogLine[] {
  return logEntries(file).filter((l) => (l.level ?? 0) >= 50);
}
