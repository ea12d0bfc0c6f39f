/**
 * Every command the docs show as runnable runs as written: the fenced `sh` blocks of README.md and
 * docs/*.md that follow a `<!-- runnable -->` line are run, one bash per block (`-e -o pipefail`),
 * from the checkout against a deployment of `iceflix up --detach` (its data folder as
 * $ICEFLIX_DATA, as a user's default folder would be). When a ```text block follows, it is the
 * output the doc shows: each of its lines must appear in the block's output, in order (a line
 * ending in "…" is a prefix; numbers may differ, e.g. frames received).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment } from "../chaos/lib/deployment.js";
import { REPO_ROOT } from "../helpers/processes.js";

interface RunnableBlock {
  file: string;
  line: number;
  script: string;
  shownOutput?: string[];
}

const RUNNABLE = /^<!--\s*runnable\s*-->$/;

/** The runnable blocks of one markdown file. */
export function runnableBlocks(file: string, text: string): RunnableBlock[] {
  const lines = text.split("\n");
  const blocks: RunnableBlock[] = [];
  const fenced = (from: number, lang: string): { body: string[]; end: number } | undefined => {
    let i = from;
    while (i < lines.length && lines[i]!.trim() === "") i++;
    if (lines[i]?.trim() !== "```" + lang) return undefined;
    const end = lines.indexOf("```", i + 1);
    if (end < 0) throw new Error(`${file}:${i + 1}: unclosed code block`);
    return { body: lines.slice(i + 1, end), end };
  };
  for (let i = 0; i < lines.length; i++) {
    if (!RUNNABLE.test(lines[i]!.trim())) continue;
    const block = fenced(i + 1, "sh");
    if (!block) throw new Error(`${file}:${i + 1}: a runnable mark must be followed by a \`\`\`sh block`);
    const output = fenced(block.end + 1, "text");
    blocks.push({ file, line: i + 1, script: block.body.join("\n"), shownOutput: output?.body.filter((l) => l.trim() !== "") });
    i = block.end;
  }
  return blocks;
}

function docFiles(): string[] {
  const docs = join(REPO_ROOT, "docs");
  return ["README.md", ...readdirSync(docs).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];
}

function bash(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile("bash", ["-e", "-o", "pipefail", "-c", script], { cwd: REPO_ROOT, env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

/** The first of the `shown` lines that `output` does not print (in order), if any. */
function missingShownLine(output: string, shown: string[]): string | undefined {
  const lines = output.split("\n").map((l) => l.trimEnd());
  let at = 0;
  for (const want of shown) {
    const found = lines.findIndex((l, i) => i >= at && shownLinePattern(want).test(l));
    if (found < 0) return want;
    at = found + 1;
  }
  return undefined;
}

function shownLinePattern(line: string): RegExp {
  const prefix = line.trimEnd().endsWith("…");
  const text = prefix ? line.trimEnd().slice(0, -1).trimEnd() : line.trimEnd();
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\d+/g, "\\d+");
  return new RegExp(`^${escaped}${prefix ? "" : "$"}`);
}

describe("doc commands", () => {
  const blocks = docFiles().flatMap((f) => runnableBlocks(f, readFileSync(join(REPO_ROOT, f), "utf8")));
  let dep: Deployment | undefined;

  before(async () => {
    dep = await Deployment.up({ label: "doc-commands", expectTitles: 3 });
  });
  after(async () => {
    await dep?.down();
  });

  it("the README has runnable blocks (the sample session among them)", () => {
    assert.ok(blocks.some((b) => b.file === "README.md" && b.shownOutput?.length), JSON.stringify(blocks.map((b) => `${b.file}:${b.line}`)));
  });

  for (const block of blocks) {
    it(`${block.file}:${block.line} runs as written${block.shownOutput ? " and prints what the doc shows" : ""}`, async () => {
      const r = await bash(block.script, { ...process.env, ICEFLIX_DATA: dep!.data });
      assert.equal(r.code, 0, `exit ${r.code}:\n${r.output}`);
      if (block.shownOutput) {
        const missing = missingShownLine(r.output, block.shownOutput);
        assert.equal(missing, undefined, `the doc shows "${missing}", the commands printed:\n${r.output}`);
      }
    });
  }
});
