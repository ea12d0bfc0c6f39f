/** A component's JSON log file (pino lines, as `--logFile` receives them), read by tests. */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

/** The JSON lines of a log file; none when it does not exist (yet); a torn last line is skipped. */
export function logEntries(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}

/** The lines with this message. */
export function logLines(file: string, msg: string): LogLine[] {
  return logEntries(file).filter((l) => l.msg === msg);
}

/** The lines at level error (50) or above. */
export function errorLines(file: string): LogLine[] {
  return logEntries(file).filter((l) => (l.level ?? 0) >= 50);
}

/**
 * The `*.log` files under `dir` (recursively) that contain any of `needles` (secrets, tokens,
 * password hashes), as "file: needle…" (the needle abbreviated, so the report does not leak it).
 */
export function logsContaining(dir: string, needles: readonly string[]): string[] {
  const hits: string[] = [];
  for (const rel of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const file = join(dir, rel);
    if (!rel.endsWith(".log") || !statSync(file).isFile()) continue;
    const text = readFileSync(file, "utf8");
    for (const n of needles) if (n && text.includes(n)) hits.push(`${file}: ${n.slice(0, 12)}…`);
  }
  return hits;
}
