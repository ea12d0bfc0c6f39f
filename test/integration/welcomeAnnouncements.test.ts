/**
 * A service that starts after the others did not hear their start-up announcements (spec §2:
 * they announce again every period). Services welcome a newcomer: on first sight of it they
 * announce again at once, so a catalog started after the Authenticator checks tokens right away
 * instead of holding them up to a period (60 s here) waiting for one.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IceFlix } from "../../src/slice/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startIceflix, type ReadyProcess } from "../helpers/processes.js";
import { iceflix } from "../chaos/lib/deployment.js";
import { errorKind, newCommunicator, sha256hex } from "../chaos/lib/client.js";

const LONG_PERIOD = "--IceFlix.Announce.PeriodSeconds=60";

describe("welcoming services that start later", { timeout: 60_000 }, () => {
  let broker: TestBroker;
  const processes: ReadyProcess<{ proxy: string }>[] = [];
  const data = mkdtempSync(join(tmpdir(), "iceflix-welcome-"));
  // Far below the 60 s period: a token check held until the next periodic announcement times out.
  const communicator = newCommunicator({ invocationTimeoutMs: 5000 });

  before(async () => {
    broker = await startTestBroker();
    const added = await iceflix(["user", "add", "ann", "--password-stdin", "--data", data], "ann-pw\n");
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await communicator.destroy().catch(() => undefined);
    for (const p of processes.reverse()) await p.stop();
    await broker?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const start = async (kind: string, adapter: string) => {
    const p = await startIceflix([kind, "--data", data, `--${adapter}.Endpoints=tcp -h 127.0.0.1 -p 0`, `--IceFlix.IceStorm/TopicManager=${broker.proxy}`, LONG_PERIOD]);
    processes.push(p);
    return p.ready.proxy;
  };

  test("a catalog started after the Authenticator checks a token at once", async () => {
    const auth = IceFlix.AuthenticatorPrx.uncheckedCast(communicator.stringToProxy(await start("auth", "AuthenticatorAdapter")));
    const catalog = IceFlix.MediaCatalogPrx.uncheckedCast(communicator.stringToProxy(await start("catalog", "CatalogAdapter")));
    const token = await auth.refreshAuthorization("ann", sha256hex("ann-pw"));
    // A valid token passes the check; the unknown id is then WrongMediaId (a refused token: Unauthorized).
    let kind = "ok";
    try {
      await catalog.renameTile("0".repeat(64), "x", token);
    } catch (e) {
      kind = errorKind(e);
    }
    assert.equal(kind, "WrongMediaId");
    try {
      await catalog.renameTile("0".repeat(64), "x", "not-a-token");
      kind = "ok";
    } catch (e) {
      kind = errorKind(e);
    }
    assert.equal(kind, "Unauthorized");
  });
});
