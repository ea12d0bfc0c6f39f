/**
 * Figures measured by the chaos tests: printed as `# chaos …` diagnostic lines (node's test
 * reporter shows them) and, when CHAOS_RESULTS names a file (`npm run chaos` sets it), appended
 * to it as one JSON object per line.
 */
import { appendFileSync } from "node:fs";
import { SIZES } from "./sizes.js";

export function figure(name: string, line: string, data: Record<string, unknown> = {}): void {
  console.log(`# chaos [${SIZES.tier}] ${name}: ${line}`);
  const file = process.env.CHAOS_RESULTS;
  if (file) appendFileSync(file, JSON.stringify({ name, tier: SIZES.tier, at: new Date().toISOString(), line, ...data }) + "\n");
}

/** The p-th percentile (0–100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** The largest of `values` (-Infinity when empty); safe for arrays too long to spread. */
export function maxOf(values: readonly number[]): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of values) if (v > m) m = v;
  return m;
}
