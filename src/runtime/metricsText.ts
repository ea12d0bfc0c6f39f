/**
 * Reading a `/metrics` page back (`iceflix status --watch`, the tests): the sample lines of the
 * Prometheus text format, `name{label="value",…} value`, fetched with a bounded wait and size.
 * Only what a reader of our own pages needs (no timestamps kept, no exemplars); the tests check
 * the full format with the Prometheus Python client's parser (test/interop/py/parse_metrics.py).
 */

export interface Sample {
  /** As written, e.g. iceflix_dispatch_seconds_bucket. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) throw new Error(`not a Prometheus sample line: ${line.slice(0, 200)}`);
    labels[m[1]!] = unescapeLabel(m[2]!);
  }
  return labels;
}

/** The samples of a page; throws on a line that is neither a comment nor a sample. */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line.slice(0, 200)}`);
    const text = m[3]!.toLowerCase();
    const value = text === "+inf" ? Infinity : text === "-inf" ? -Infinity : Number(text);
    if (Number.isNaN(value) && text !== "nan") throw new Error(`not a Prometheus sample value: ${line.slice(0, 200)}`);
    out.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value });
  }
  return out;
}

const MAX_PAGE_BYTES = 4 * 1024 * 1024;

/** GET `url` (bounded: timeoutMs, 4 MiB) and parse its samples. */
export async function scrapeMetrics(url: string, timeoutMs = 2000): Promise<Sample[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const text = await response.text();
  if (text.length > MAX_PAGE_BYTES) throw new Error(`${url}: more than ${MAX_PAGE_BYTES} bytes`);
  return parseSamples(text);
}

function matches(sample: Sample, labels: Record<string, string>): boolean {
  for (const k in labels) if (sample.labels[k] !== labels[k]) return false;
  return true;
}

/** The sum of the samples named `name` whose labels include `labels`; 0 when none. */
export function sampleSum(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  let n = 0;
  for (const s of samples) if (s.name === name && matches(s, labels)) n += s.value;
  return n;
}
