/**
 * `iceflix verify <MainProxy>`: the conformance checker (docs/verify.md). A plain client of Main
 * through the shared Main link; edits it makes are undone at the end, also on Ctrl+C.
 */
import { writeFileSync } from "node:fs";
import { Ice, IceStorm } from "../../slice/index.js";
import { MainLink } from "../../mainlink/mainLink.js";
import { ClientError, describeError } from "../../mainlink/linkErrors.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { passwordHash, readPasswordFromStdin } from "../../common/password.js";
import { GROUPS, GROUP_NAMES } from "../../verify/groups/index.js";
import { runChecks } from "../../verify/runner.js";
import { html, json, junit, textLine, textSummary, type Report } from "../../verify/reporters.js";
import { UndoLog, type VerifyContext } from "../../verify/types.js";
import { EventWatch } from "../../verify/events.js";
import { killRunningHooks } from "../../verify/hooks.js";

export interface VerifyOptions {
  user?: string;
  passwordStdin: boolean;
  mediaDir?: string;
  tokenLifetime?: number;
  topicManager?: string;
  announcePeriod: number;
  addUserCommand?: string;
  removeUserCommand?: string;
  stopServicesCommand?: string;
  startServicesCommand?: string;
  only?: string[];
  fast: boolean;
  json: boolean;
  junit?: string;
  html?: string;
  propertyArgs: string[];
}

export async function verify(mainProxy: string, o: VerifyOptions): Promise<number> {
  const unknown = (o.only ?? []).filter((g) => !GROUP_NAMES.includes(g));
  if (unknown.length) throw new CliError(`unknown group ${unknown.join(", ")} (groups: ${GROUP_NAMES.join(", ")})`, EXIT.usage);
  if (o.passwordStdin && !o.user) throw new CliError("--password-stdin needs --user", EXIT.usage);
  const password = o.passwordStdin ? await readPasswordFromStdin() : undefined;
  // --only runs its groups in the order given (e.g. edits before a slow wait).
  const groups = o.only?.length ? [...new Set(o.only)].map((name) => GROUPS.find((g) => g.name === name)!) : [...GROUPS];

  const init = new Ice.InitializationData();
  init.properties = Ice.createProperties(o.propertyArgs);
  init.properties.setProperty("Ice.Warn.Connections", "0");
  if (!init.properties.getProperty("Ice.Default.InvocationTimeout")) init.properties.setProperty("Ice.Default.InvocationTimeout", "5000");
  const communicator = Ice.initialize(init);
  const err = (line: string) => process.stderr.write(line + "\n");
  const undo = new UndoLog();
  let events: EventWatch | undefined;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) return;
    interrupted = true;
    err("verify: interrupted; undoing edits…");
    killRunningHooks();
    void undo.runAll().then(async (failed) => {
      for (const f of failed) err(`verify: could not undo ${f}`);
      // Unsubscribe, so the broker does not keep delivering to a checker that is gone.
      await Promise.race([events?.close(), new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
      process.exit(130);
    });
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  try {
    let link: MainLink;
    let main;
    let topicManager: IceStorm.TopicManagerPrx | undefined;
    try {
      link = new MainLink(communicator, mainProxy, { attempts: 1, delayMs: 0 }, err);
      const facts = await link.connect();
      main = await link.ensureConnected();
      o.tokenLifetime ??= facts.tokenLifetimeSeconds;
      topicManager = o.topicManager ? IceStorm.TopicManagerPrx.uncheckedCast(communicator.stringToProxy(o.topicManager)) : facts.topicManager;
    } catch (e) {
      throw new CliError(`verify: ${describeError(e)}`, EXIT.usage);
    }
    let eventsMissing = "needs --topic-manager (Main does not name its broker)";
    if (topicManager) {
      const endpoints = init.properties.getProperty("VerifyAdapter.Endpoints") || "tcp -h 127.0.0.1 -p 0";
      try {
        events = await EventWatch.open(communicator, topicManager, endpoints, (o.announcePeriod + 1) * 1000);
      } catch (e) {
        const why = `the TopicManager ${communicator.proxyToString(topicManager)} cannot be used (${describeError(e)})`;
        if (o.topicManager) throw new CliError(`verify: ${why}`, EXIT.usage);
        eventsMissing = `${why}; give --topic-manager`;
        err(`verify: ${eventsMissing}`);
      }
    }
    const ctx: VerifyContext = {
      main,
      link,
      user: o.user,
      password,
      passwordHash: password === undefined ? undefined : passwordHash(password),
      mediaDir: o.mediaDir,
      tokenLifetimeSeconds: o.tokenLifetime,
      fast: o.fast,
      events,
      eventsMissing,
      announcePeriodSeconds: o.announcePeriod,
      hooks: { addUser: o.addUserCommand, removeUser: o.removeUserCommand, stopServices: o.stopServicesCommand, startServices: o.startServicesCommand },
      undo,
      progress: (line) => err(`… ${line}`),
    };
    const colour = !o.json && process.stdout.isTTY === true;
    const result = await runChecks(groups, ctx, (r) => {
      if (!o.json) process.stdout.write(textLine(r, colour) + "\n");
    });
    for (const f of await undo.runAll()) err(`verify: could not undo ${f}`);
    const report: Report = { checks: result.checks, summary: { ...result.summary, main: mainProxy } };
    if (o.json) process.stdout.write(json(report));
    else process.stdout.write(textSummary(result.summary) + "\n");
    if (o.junit) writeFileSync(o.junit, junit(report));
    if (o.html) writeFileSync(o.html, html(report));
    return result.summary.fail > 0 ? EXIT.error : EXIT.ok;
  } catch (e) {
    if (e instanceof CliError || e instanceof ClientError) throw e;
    throw new CliError(`verify: ${describeError(e)}`);
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
    await events?.close().catch(() => undefined);
    await communicator.destroy();
  }
}
