/**
 * What an integration test file starts and creates, released together in after() (also when a
 * test failed): tracked processes are stopped, temporary folders removed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ReadyProcess } from "./processes.js";

export class TestResources {
  readonly #running = new Set<ReadyProcess<unknown>>();
  readonly #dirs: string[] = [];

  /** A new temporary folder, removed by release(). */
  tmp(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  /** The temporary folders made so far. */
  get dirs(): readonly string[] {
    return this.#dirs;
  }

  /** Stops `p` in release() unless it exited before. */
  track<T extends ReadyProcess<unknown>>(p: T): T {
    this.#running.add(p);
    void p.child.exited.then(() => this.#running.delete(p));
    return p;
  }

  /** Stops the processes still running, then removes the folders. */
  async release(graceMs = 3000): Promise<void> {
    await Promise.allSettled([...this.#running].map((p) => p.stop(graceMs)));
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
  }
}
