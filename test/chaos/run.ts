/**
 * `npm run chaos`: the chaos tier (test/chaos/*.test.ts) at full sizes (CHAOS_FULL=1), one file
 * after the other, then the figures each test measured, printed and written to
 * chaos-results.json at the repository root.
 *
 *   node dist/test/chaos/run.js [--ci] [NAME…]
 *     --ci   the reduced sizes of `npm test` instead of the full ones
 *     NAME   only these files (faults, load, fuzz, security)
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../../../", import.meta.url));
const args = process.argv.slice(2);
const ci = args.includes("--ci");
const names = args.filter((a) => !a.startsWith("--"));
const files = readdirSync(here)
  .filter((f) => f.endsWith(".test.js") && (names.length === 0 || names.includes(f.replace(/\.test\.js$/, ""))))
  .sort()
  .map((f) => join(here, f));
if (files.length === 0) {
  console.error(`no chaos test file matches ${names.join(", ")}`);
  process.exit(2);
}

const resultsFile = join(tmpdir(), `iceflix-chaos-${process.pid}.jsonl`);
rmSync(resultsFile, { force: true });
const env = { ...process.env, CHAOS_RESULTS: resultsFile, ...(ci ? { CHAOS_FULL: "0" } : { CHAOS_FULL: "1" }) };
const startedAt = new Date();
console.log(`chaos tier, ${ci ? "CI" : "full"} sizes: ${files.map((f) => f.replace(here, "")).join(", ")}`);

const child = spawn(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], { env, stdio: "inherit" });
// Ctrl+C reaches the test runner (same process group); its after() hooks stop the deployments.
const code: number = await new Promise((resolve) => child.once("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));

const figures = existsSync(resultsFile)
  ? readFileSync(resultsFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { name: string; line: string })
  : [];
rmSync(resultsFile, { force: true });
console.log(`\n== chaos figures (${ci ? "CI" : "full"} sizes, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}) ==`);
for (const f of figures) console.log(`- ${f.name}: ${f.line}`);
const out = join(root, "chaos-results.json");
writeFileSync(
  out,
  JSON.stringify({ startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), tier: ci ? "ci" : "full", exitCode: code, node: process.version, cpus: cpus().length, figures }, null, 2) + "\n",
);
if (!ci && names.length === 0) updateReliabilityDoc();
console.log(`\n${figures.length} figures written to ${out}; the tests ${code === 0 ? "passed" : "FAILED"}`);
process.exit(code);

/** Replaces what stands between the chaos-figures marks of docs/reliability.md with this run's figures. */
function updateReliabilityDoc(): void {
  const doc = join(root, "docs", "reliability.md");
  const text = readFileSync(doc, "utf8");
  const start = "<!-- chaos-figures:start -->";
  const end = "<!-- chaos-figures:end -->";
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) {
    console.error(`docs/reliability.md has no ${start} … ${end} section: not updated`);
    return;
  }
  const section = [
    start,
    `Written by \`npm run chaos\` on ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC (${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}); the tests ${code === 0 ? "passed" : "FAILED"}.`,
    "",
    ...figures.map((f) => `- ${f.name}: ${f.line}`),
    end,
  ].join("\n");
  writeFileSync(doc, text.slice(0, from) + section + text.slice(to + end.length));
  console.log(`docs/reliability.md: "Latest full run" updated`);
}
