/**
 * Structured logging (pino, JSON lines on stderr). Each module takes a child logger with its
 * namespace. Fields that could carry credentials are redacted here, once, so no call site can leak
 * a token, password hash or secret by logging an object. A line written while a request is served
 * carries its trace id (`trace`, traceContext.ts).
 */
import { pino, type Logger } from "pino";
import { currentTraceId } from "./traceContext.js";

export type { Logger };

const REDACTED_KEYS = ["token", "authentication", "passwordHash", "password", "secret", "hash"];

/** Where loggers created from now on write: stderr, unless Ice.StdErr names a file (stdioFiles.ts). */
let logFd = 2;

export function setLogFd(fd: number): void {
  logFd = fd;
}

const NO_TRACE = {};

function traceMixin(): object {
  const trace = currentTraceId();
  return trace === undefined ? NO_TRACE : { trace };
}

export function createLogger(name: string, level = process.env.ICEFLIX_LOG_LEVEL ?? "info"): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      mixin: traceMixin,
      // pino's default merge writes into the mixin's object; the shared empty one must stay empty.
      mixinMergeStrategy: (line: object, mixed: object) => (mixed === NO_TRACE ? line : Object.assign(mixed, line)),
      redact: { paths: [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`)], censor: "[redacted]" },
    },
    pino.destination({ fd: logFd, sync: true }),
  );
}
