/**
 * Runs the checks of the chosen groups, timing each, never letting one throw out. The checks run
 * in order, except the slow ones (each waits about one token lifetime). Those run together after
 * all the others: side by side they cost one lifetime instead of one each. They wait on tokens of
 * their own, and no other check runs beside them, so none can be stopped by the
 * TemporaryUnavailable check pausing the services. Results keep the group order.
 */
import { describeError } from "../mainlink/linkErrors.js";
import { CheckFailed, CheckSkipped, type Check, type CheckGroup, type CheckResult, type VerifyContext } from "./types.js";

export interface Summary {
  pass: number;
  fail: number;
  skip: number;
  total: number;
  ms: number;
}

async function runOne(group: CheckGroup, check: Check, ctx: VerifyContext): Promise<CheckResult> {
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
  return { ...r, ms: Date.now() - t0 };
}

export async function runChecks(
  groups: CheckGroup[],
  ctx: VerifyContext,
  onResult: (r: CheckResult) => void = () => undefined,
): Promise<{ checks: CheckResult[]; summary: Summary }> {
  const started = Date.now();
  const planned = groups.flatMap((group) => group.checks.map((check) => ({ group, check })));
  const results: CheckResult[] = new Array(planned.length);
  const report = (i: number, r: CheckResult) => {
    results[i] = r;
    onResult(r);
  };
  const together: number[] = [];
  for (const [i, { group, check }] of planned.entries()) {
    if (check.slow && !ctx.fast) together.push(i);
    else report(i, await runOne(group, check, ctx));
  }
  await Promise.all(together.map(async (i) => report(i, await runOne(planned[i]!.group, planned[i]!.check, ctx))));
  const count = (s: string) => results.filter((c) => c.status === s).length;
  return { checks: results, summary: { pass: count("pass"), fail: count("fail"), skip: count("skip"), total: results.length, ms: Date.now() - started } };
}
