/** A real IceStorm for a test, in a temporary data folder on free ports. */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startIceflix, type ReadyProcess } from "./processes.js";

/** A port that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** A base port P such that P…P+3, their metrics ports P+4…P+7, the web server P+8 and P+10, P+11 are free now. */
export async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const ports = [base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8, base + 10, base + 11];
    const ok = await Promise.all(ports.map(isFree));
    if (ok.every(Boolean)) return base;
  }
  throw new Error("no free base port found");
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

export interface TestBroker {
  proxy: string;
  dataDir: string;
  basePort: number;
  process: ReadyProcess<{ proxy: string; pid: number }>;
  stop(): Promise<void>;
}

export async function startTestBroker(): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), "iceflix-broker-"));
  const basePort = await freeBasePort();
  const proc = await startIceflix(["broker", "--data", dataDir, "--base-port", String(basePort)]);
  return {
    proxy: proc.ready.proxy,
    dataDir,
    basePort,
    process: proc,
    stop: async () => {
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
