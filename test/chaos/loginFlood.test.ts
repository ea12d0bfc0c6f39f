/**
 * A login flood against one Authenticator (real IceStorm, real scrypt): hundreds of well-formed
 * logins for unknown users at once. Each costs a 16 MiB scrypt (so timing does not reveal user
 * names); the KDF limiter keeps the work bounded and the service answering. Asserts: every flood
 * login gets Unauthorized or Busy (no timeout, no internal error), token checks stay fast during
 * the flood, memory growth stays bounded, and a real user logs in right after.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IceFlix } from "../../src/slice/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { logsContaining } from "../helpers/logFiles.js";
import { rssBytes, startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { errorKind, newCommunicator, sha256hex } from "./lib/client.js";
import { iceflix } from "./lib/deployment.js";
import { figure } from "./lib/figures.js";
import { FULL } from "./lib/sizes.js";

const FLOOD = FULL ? 2000 : 300;
const MiB = 1024 * 1024;

describe("chaos: login flood", { timeout: 300_000 }, () => {
  let broker: TestBroker;
  let data: string;
  let auth: ReadyProcess<{ proxy: string; pid: number }>;
  // Flood callers wait as long as it takes: the point is what the service answers, not our timeout.
  const communicator = newCommunicator({ invocationTimeoutMs: 120_000 });

  before(async () => {
    broker = await startTestBroker();
    data = mkdtempSync(join(tmpdir(), "iceflix-flood-"));
    const added = await iceflix(["user", "add", "alice", "--data", data, "--password-stdin"], "wonderland\n");
    assert.equal(added.code, 0, added.stderr);
    auth = await startIceflix(
      [
        "auth",
        "--data",
        data,
        "--AuthenticatorAdapter.Endpoints=tcp -h 127.0.0.1 -p 0",
        `--IceFlix.IceStorm/TopicManager=${broker.proxy}`,
        // The token checked during the flood must outlive it (the full-size flood takes over a minute).
        "--IceFlix.Token.LifetimeSeconds=900",
      ],
      { logFile: join(data, "auth.log") },
    );
  });

  after(async () => {
    await communicator.destroy().catch(() => undefined);
    await auth?.stop();
    await broker?.stop();
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it(`${FLOOD} concurrent logins of unknown users: refused, memory bounded, token checks fast, real users still served`, async () => {
    const prx = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(auth.ready.proxy));
    const token = await prx.refreshAuthorization("alice", sha256hex("wonderland"));
    // Warm-up: the first derivations allocate the KDF's buffers once.
    await prx.refreshAuthorization("warm-up", sha256hex("x")).catch(() => undefined);
    const rssBefore = await rssBytes(auth.ready.pid);

    // Another user: its own connection (the flood's connection is held back by the server's
    // per-connection cap on pending requests, so a call queued behind 2,000 logins waits for them).
    const checker = prx.ice_connectionId("another-user");
    let rssPeak = rssBefore;
    const checkLatencies: number[] = [];
    let flooding = true;
    const sampler = (async () => {
      while (flooding) {
        rssPeak = Math.max(rssPeak, await rssBytes(auth.ready.pid));
        const t = performance.now();
        assert.equal(await checker.isAuthorized(token), true);
        checkLatencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const started = performance.now();
    const outcomes = new Map<string, number>();
    await Promise.all(
      Array.from({ length: FLOOD }, async () => {
        const name = `nobody-${randomBytes(6).toString("hex")}`;
        let kind: string;
        try {
          await prx.refreshAuthorization(name, randomBytes(32).toString("hex"));
          kind = "ok";
        } catch (e) {
          kind = errorKind(e);
        }
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }),
    );
    const floodMs = performance.now() - started;
    flooding = false;
    await sampler;

    const afterToken = await prx.refreshAuthorization("alice", sha256hex("wonderland"));
    assert.equal(await prx.isAuthorized(afterToken), true, "a real user logs in right after the flood");

    const unexpected = [...outcomes].filter(([k]) => k !== "Unauthorized" && k !== "Busy");
    assert.deepEqual(unexpected, [], `flood outcomes: ${JSON.stringify([...outcomes])}`);
    const growth = rssPeak - rssBefore;
    // Bounded, not flat: each of libuv's 4 pool threads keeps its 16 MiB scrypt block in its malloc
    // arena once it has run one (measured +55 MiB with 2 or 4 at a time); a leak per login would be GBs.
    assert.ok(growth < 96 * MiB, `RSS grew ${(growth / MiB).toFixed(1)} MiB during the flood`);
    const maxCheck = Math.max(...checkLatencies);
    assert.ok(checkLatencies.length > 0);
    assert.ok(maxCheck < 1000, `isAuthorized took up to ${maxCheck.toFixed(0)} ms during the flood`);
    assert.deepEqual(logsContaining(data, [token, afterToken, sha256hex("wonderland")]), [], "no token or password hash in the logs");
    figure(
      "security.loginFlood",
      `${FLOOD} concurrent unknown-user logins in ${(floodMs / 1000).toFixed(1)} s (${Math.round((FLOOD / floodMs) * 1000)}/s): ` +
        `${JSON.stringify(Object.fromEntries(outcomes))}; Authenticator RSS ${(rssBefore / MiB).toFixed(0)} → peak ${(rssPeak / MiB).toFixed(0)} MiB; ` +
        `isAuthorized during the flood: ${checkLatencies.length} checks, max ${maxCheck.toFixed(0)} ms; real login right after: ok`,
    );
  });
});
