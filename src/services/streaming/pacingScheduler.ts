/**
 * One timer for every in-process stream of a provider: tasks wait in a min-heap by due time
 * (performance.now() milliseconds) and a single setTimeout is armed for the earliest. A stream
 * schedules one task per frame, at a time it computes from its own start (so timer lateness never
 * accumulates); hundreds of streams cost one timer, not one per packet per stream.
 */

export interface PacedTask {
  /** Called once when due, with the current time; a task that goes on schedules itself again. */
  run(now: number): void;
}

interface Entry {
  at: number;
  /** Ties run in the order they were scheduled. */
  order: number;
  task: PacedTask;
  cancelled: boolean;
}

/** What schedule() returns: cancel() takes the task out (it will not run). */
export interface Scheduled {
  cancel(): void;
}

/** Tasks due within this much of now run in the same turn (setTimeout has a 1 ms granularity). */
const EARLY_MS = 0.5;

export class PacingScheduler {
  readonly #heap: Entry[] = [];
  #order = 0;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;
  /** Called with a task's error; the scheduler goes on with the others. */
  constructor(private readonly onTaskError: (error: unknown) => void = () => {}) {}

  get size(): number {
    return this.#heap.length;
  }

  schedule(task: PacedTask, at: number): Scheduled {
    const entry: Entry = { at, order: this.#order++, task, cancelled: false };
    this.#push(entry);
    if (at < this.#armedFor) this.#arm();
    return { cancel: () => void (entry.cancelled = true) };
  }

  /** Runs a task that is due now without waiting for a timer turn (setTimeout(0) costs >= 1 ms); its errors go where scheduled tasks' go. */
  runNow(task: PacedTask): void {
    try {
      task.run(performance.now());
    } catch (e) {
      this.onTaskError(e);
    }
  }

  /** Cancels everything (the provider stops). */
  clear(): void {
    for (const e of this.#heap) e.cancelled = true;
    this.#heap.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    while (this.#heap.length > 0 && this.#heap[0]!.cancelled) this.#pop();
    const first = this.#heap[0];
    if (!first) return;
    this.#armedFor = first.at;
    // Not unref'd: frames still to send are live work (the provider's stop() clears them).
    this.#timer = setTimeout(() => this.#runDue(), Math.max(0, first.at - performance.now()));
  }

  #runDue(): void {
    this.#timer = undefined;
    this.#armedFor = -Infinity; // tasks scheduled while we run do not re-arm: we do it once at the end
    const now = performance.now();
    // What runs now reschedules for the next turn at the earliest: a stream catching up cannot hold the loop.
    const scheduledBefore = this.#order;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now + EARLY_MS && this.#heap[0]!.order < scheduledBefore) {
      const entry = this.#pop();
      if (entry.cancelled) continue;
      try {
        entry.task.run(now);
      } catch (e) {
        this.onTaskError(e);
      }
    }
    this.#arm();
  }

  #push(entry: Entry): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  #pop(): Entry {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.order < b.order);
