/** Report formats: terminal lines (colour on a TTY), JSON, JUnit XML, HTML. */
import type { CheckResult } from "./types.js";
import type { Summary } from "./runner.js";

export interface Report {
  checks: CheckResult[];
  summary: Summary & { main: string };
}

const COLOUR = { pass: "\x1b[32m", fail: "\x1b[31m", skip: "\x1b[33m" } as const;

export function textLine(r: CheckResult, colour: boolean): string {
  const tag = r.status.toUpperCase().padEnd(4);
  const shown = colour ? `${COLOUR[r.status]}${tag}\x1b[0m` : tag;
  const head = `${shown} ${r.group}: ${r.name} — ${r.reason} (${r.ms} ms)`;
  return r.status === "fail" && r.evidence ? `${head}\n       evidence: ${r.evidence}` : head;
}

export function textSummary(s: Summary): string {
  return `${s.pass} passed, ${s.fail} failed, ${s.skip} skipped in ${(s.ms / 1000).toFixed(1)} s`;
}

export const json = (report: Report): string => JSON.stringify(report, null, 2) + "\n";

const xml = (s: string) =>
  s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function junit(report: Report): string {
  const groups = [...new Set(report.checks.map((c) => c.group))];
  const suites = groups.map((g) => {
    const cs = report.checks.filter((c) => c.group === g);
    const cases = cs.map((c) => {
      const body =
        c.status === "fail"
          ? `<failure message="${xml(c.reason)}">${xml(c.evidence)}</failure>`
          : c.status === "skip"
            ? `<skipped message="${xml(c.reason)}"/>`
            : `<system-out>${xml(`${c.reason}${c.evidence ? `: ${c.evidence}` : ""}`)}</system-out>`;
      return `    <testcase classname="iceflix.verify.${xml(g)}" name="${xml(c.name)}" time="${(c.ms / 1000).toFixed(3)}">${body}</testcase>`;
    });
    const count = (s: string) => cs.filter((c) => c.status === s).length;
    const time = cs.reduce((t, c) => t + c.ms, 0) / 1000;
    return `  <testsuite name="${xml(g)}" tests="${cs.length}" failures="${count("fail")}" skipped="${count("skip")}" errors="0" time="${time.toFixed(3)}">\n${cases.join("\n")}\n  </testsuite>`;
  });
  const s = report.summary;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="iceflix verify ${xml(s.main)}" tests="${s.total}" failures="${s.fail}" skipped="${s.skip}" errors="0" time="${(s.ms / 1000).toFixed(3)}">\n${suites.join("\n")}\n</testsuites>\n`;
}

export function html(report: Report): string {
  const s = report.summary;
  const rows = report.checks
    .map(
      (c) =>
        `<tr class="${c.status}"><td>${xml(c.group)}</td><td>${xml(c.name)}</td><td class="st">${c.status}</td><td>${xml(c.reason)}</td><td><code>${xml(c.evidence)}</code></td><td class="ms">${c.ms}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>iceflix verify: ${xml(s.main)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
code{font-size:12px;word-break:break-all}.ms{text-align:right}.st{font-weight:bold;text-transform:uppercase}
.pass .st{color:#1a7f37}.fail .st{color:#cf222e}.skip .st{color:#9a6700}.fail{background:#fff0f0}
</style></head><body>
<h1>iceflix verify</h1>
<p id="summary">Main <code>${xml(s.main)}</code>: <b>${s.pass}</b> passed, <b>${s.fail}</b> failed, <b>${s.skip}</b> skipped in ${(s.ms / 1000).toFixed(1)} s</p>
<table><thead><tr><th>group</th><th>check</th><th>status</th><th>reason</th><th>evidence</th><th>ms</th></tr></thead>
<tbody>
${rows}
</tbody></table></body></html>
`;
}
