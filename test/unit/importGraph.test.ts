/** Dependencies point one way: no module imports one that (transitively) imports it back, and no
 * top-level part of src/ (a service folder, client, cli, runtime, common, …) depends on one that
 * depends on it. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "../helpers/processes.js";

const SRC = join(REPO_ROOT, "src");

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== "gen") sourceFiles(path, out);
    } else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** module → the modules of src/ it imports (relative imports: static, dynamic and type-only). */
function importGraph(): Map<string, string[]> {
  const files = new Set(sourceFiles(SRC));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*"(\.[^"]+)"/g)]
      .map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, ".ts")))
      .filter((t) => files.has(t));
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one member (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(relative(SRC, w));
      } while (w !== v);
      if (component.length > 1) found.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** src/services/<name> counts as one part; any other top folder of src/ is one part. */
function partOf(file: string): string {
  const parts = relative(SRC, file).split("/");
  return parts[0] === "services" ? `services/${parts[1]}` : parts[0]!;
}

describe("import structure", () => {
  const graph = importGraph();

  it("has no import cycle between modules", () => {
    assert.ok(graph.size > 50, `read ${graph.size} modules`);
    assert.deepEqual(cycles(graph), []);
  });

  it("has no two parts of src/ that depend on each other", () => {
    const parts = new Map<string, string[]>();
    for (const [file, targets] of graph) {
      const from = partOf(file);
      const deps = parts.get(from) ?? [];
      for (const t of targets) if (partOf(t) !== from) deps.push(partOf(t));
      parts.set(from, deps);
    }
    const partGraph = new Map([...parts].map(([k, v]) => [join(SRC, k), [...new Set(v)].map((p) => join(SRC, p))]));
    assert.deepEqual(cycles(partGraph), []);
  });
});
