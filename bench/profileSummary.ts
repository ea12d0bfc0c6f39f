/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node dist/bench/rpc.js --profile DIR`):
 * self time by function and by source (our code, the Ice runtime, Node internals, GC, idle), and
 * the inclusive time of the heaviest call paths. `--callers NAME` splits the self time of the
 * functions named NAME by the call path that led to them (`--depth` frames), e.g. which writes a
 * `writeBuffer` (one socket write syscall) belongs to.
 *
 *   node dist/bench/profileSummary.js FILE.cpuprofile [--top 25] [--callers NAME [--depth 12]]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function source(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(idle)") return "idle";
  if (fn === "(program)") return "(program: native, not attributed)";
  if (url === "") return "native/builtins";
  if (url.includes("/node_modules/ice/")) return "Ice runtime (node_modules/ice)";
  if (url.includes("/dist/src/ice-server/")) return "our transport (src/ice-server)";
  if (url.includes("/dist/src/runtime/")) return "our runtime (src/runtime)";
  if (url.includes("/dist/src/gen/")) return "generated Slice code";
  if (url.includes("/dist/bench/")) return "bench servant";
  if (url.includes("/node_modules/")) return "other node_modules";
  if (url.startsWith("node:")) return "Node internals";
  return url;
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node dist/bench/profileSummary.js FILE.cpuprofile [--top N] [--callers NAME [--depth N]]");
    process.exit(2);
  }
  const option = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const top = Number(option("--top") ?? 25);
  const callersOf = option("--callers");
  const depth = Number(option("--depth") ?? 12);
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node from samples and time deltas (µs).
  const self = new Map<number, number>();
  for (let k = 0; k < p.samples.length; k++) self.set(p.samples[k]!, (self.get(p.samples[k]!) ?? 0) + (p.timeDeltas[k] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const busy = [...self].filter(([id]) => byId.get(id)!.callFrame.functionName !== "(idle)").reduce((a, [, v]) => a + v, 0);

  const fnKey = (n: Node) => `${n.callFrame.functionName || "(anonymous)"}  ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
  const byFn = new Map<string, number>();
  const byCallPath = new Map<string, number>();
  const bySource = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    byFn.set(fnKey(n), (byFn.get(fnKey(n)) ?? 0) + t);
    if (n.callFrame.functionName === callersOf) {
      const path: string[] = [];
      for (let cur = parent.get(id); cur !== undefined && path.length < depth; cur = parent.get(cur)) path.push(fnKey(byId.get(cur)!));
      const k = path.join("\n      < ");
      byCallPath.set(k, (byCallPath.get(k) ?? 0) + t);
    }
    const s = source(n.callFrame.url, n.callFrame.functionName);
    bySource.set(s, (bySource.get(s) ?? 0) + t);
    // Inclusive: credit every distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = fnKey(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  const pct = (t: number, of: number) => `${((100 * t) / of).toFixed(1)}%`.padStart(6);
  console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (${pct(busy, total).trim()})\n`);
  console.log("Self time by source (% of busy):");
  for (const [s, t] of [...bySource].filter(([s]) => s !== "idle").sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t, busy)}  ${s}`);
  console.log(`\nSelf time by function, top ${top} (% of busy):`);
  for (const [f, t] of [...byFn].filter(([f]) => !f.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t, busy)}  ${f}`);
  console.log(`\nInclusive time by function, top ${top} (% of busy):`);
  for (const [f, t] of [...inclusive].filter(([f]) => !f.startsWith("(idle)") && !f.startsWith("(root)")).sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(t, busy)}  ${f}`);
  }
  if (callersOf !== undefined) {
    console.log(`\nSelf time of ${callersOf} by call path, ${depth} frames (% of busy):`);
    for (const [path, t] of [...byCallPath].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t, busy)}  < ${path}`);
  }
}

main();
