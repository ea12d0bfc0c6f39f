/**
 * Starting IceFlix components as child processes of `up`: each is `bin/iceflix <kind> …` in its
 * own process group, logging to `<data>/logs/<name>.log`, ready when it prints its `ready` line.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { SupervisedChild } from "../../runtime/childProcess.js";
import type { Logger } from "../../runtime/logger.js";

export const ICEFLIX_BIN = fileURLToPath(new URL("../../../../bin/iceflix", import.meta.url));

export interface ComponentSpec {
  /** Unique within a deployment, e.g. "main-2"; names the log file. */
  name: string;
  /** The `iceflix` sub-command: broker, main, auth, catalog, streaming. */
  kind: string;
  args: string[];
}

export interface StartedComponent {
  spec: ComponentSpec;
  child: SupervisedChild;
  proxy: string;
  /** Its IceFlix.Metrics.Endpoint URL, when it serves one. */
  metrics?: string;
}

export class ComponentStartError extends Error {
  override name = "ComponentStartError";
}

export async function startComponent(spec: ComponentSpec, logsDir: string, log: Logger, timeoutMs = 30_000): Promise<StartedComponent> {
  const logFile = join(logsDir, `${spec.name}.log`);
  let onReady: (ready: { proxy: string; metrics?: string }) => void = () => {};
  const ready = new Promise<{ proxy: string; metrics?: string }>((resolve) => (onReady = resolve));
  const child = SupervisedChild.spawn({
    name: spec.name,
    command: process.execPath,
    args: [ICEFLIX_BIN, spec.kind, ...spec.args],
    logFile,
    log,
    onStdoutLine: (line) => {
      if (!line.startsWith("{")) return;
      try {
        const msg = JSON.parse(line) as { event?: string; proxy?: string; metrics?: string };
        if (msg.event === "ready" && typeof msg.proxy === "string") {
          onReady({ proxy: msg.proxy, ...(typeof msg.metrics === "string" ? { metrics: msg.metrics } : {}) });
        }
      } catch {
        // Not ours.
      }
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const failed = Promise.race([
    child.exited.then((exit) => `exited during start-up (code ${exit.code}, signal ${exit.signal})`),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`not ready after ${timeoutMs} ms`), timeoutMs))),
  ]);
  const outcome = await Promise.race([ready, failed.then((why) => ({ why }))]);
  clearTimeout(timer);
  if ("why" in outcome) {
    await child.stop(2000);
    throw new ComponentStartError(`${spec.name} ${outcome.why}: ${lastLines(logFile, 5)}`);
  }
  return { spec, child, ...outcome };
}

/** The last n non-empty lines of a log file, for error messages (messages of JSON lines only). */
export function lastLines(file: string, n: number): string {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return "(no log)";
  }
  const lines = text.split("\n").filter((l) => l.trim());
  return lines
    .slice(-n)
    .map((l) => {
      try {
        const j = JSON.parse(l) as { msg?: string; err?: { message?: string } };
        return [j.msg, j.err?.message].filter(Boolean).join(": ");
      } catch {
        return l;
      }
    })
    .join(" | ");
}
