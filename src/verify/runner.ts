/** Runs the checks of the chosen groups in order, timing each, never letting one throw out. */
import { describeError } from "../mainlink/linkErrors.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type CheckResult, type VerifyContext } from "./types.js";

export interface Summary {
  pass: number;
  fail: number;
  skip: number;
  total: number;
  ms: number;
}

export async function runChecks(
  groups: CheckGroup[],
  ctx: VerifyContext,
  onResult: (r: CheckResult) => void = () => undefined,
): Promise<{ checks: CheckResult[]; summary: Summary }> {
  const started = Date.now();
  const checks: CheckResult[] = [];
  for (const group of groups) {
    for (const check of group.checks) {
      const t0 = Date.now();
      let r: Omit<CheckResult, "ms">;
      if (check.slow && ctx.fast) {
        r = { group: group.name, name: check.name, status: "skip", reason: "waits for token expiry (--fast)", evidence: "" };
      } else {
        try {
          const ok = await check.run(ctx);
          r = { group: group.name, name: check.name, status: "pass", reason: ok.reason, evidence: ok.evidence ?? "" };
        } catch (e) {
          if (e instanceof CheckSkipped) r = { group: group.name, name: check.name, status: "skip", reason: e.message, evidence: "" };
          else if (e instanceof CheckFailed) r = { group: group.name, name: check.name, status: "fail", reason: e.message, evidence: e.evidence };
          else r = { group: group.name, name: check.name, status: "fail", reason: `unexpected error: ${describeError(e)}`, evidence: String((e as Error)?.stack ?? e).split("\n")[0]! };
        }
      }
      const result = { ...r, ms: Date.now() - t0 };
      checks.push(result);
      onResult(result);
    }
  }
  const count = (s: string) => checks.filter((c) => c.status === s).length;
  return { checks, summary: { pass: count("pass"), fail: count("fail"), skip: count("skip"), total: checks.length, ms: Date.now() - started } };
}
