/**
 * Structured logging (pino, JSON lines on stderr). Each module takes a child logger with its
 * namespace. Fields that could carry credentials are redacted here, once, so no call site can leak
 * a token, password hash or secret by logging an object.
 */
import { pino, type Logger } from "pino";

export type { Logger };

const REDACTED_KEYS = ["token", "authentication", "passwordHash", "password", "secret", "hash"];

/** Where loggers created from now on write: stderr, unless Ice.StdErr names a file (stdioFiles.ts). */
let logFd = 2;

export function setLogFd(fd: number): void {
  logFd = fd;
}

export function createLogger(name: string, level = process.env.ICEFLIX_LOG_LEVEL ?? "info"): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      redact: { paths: [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`)], censor: "[redacted]" },
    },
    pino.destination({ fd: logFd, sync: true }),
  );
}
