/**
 * `iceflix broker` honours `--IceStorm.TopicManager.Endpoints=…` / `--IceStorm.Publish.Endpoints=…`
 * (spec §1: Ice properties as `--Prop=value` on any command): icebox listens there, and the
 * TopicManager proxy it prints is derived from them; without them the defaults stay.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { Ice, IceStorm } from "../../src/slice/index.js";
import { topicManagerProxyFor } from "../../src/broker/iceStormBroker.js";
import { freeBasePort, freePort } from "../helpers/broker.js";
import { ICEFLIX_BIN, startIceflix } from "../helpers/processes.js";
import { TestResources } from "../helpers/testResources.js";
import { requireTool } from "../helpers/tools.js";

describe("broker endpoints from properties", () => {
  const res = new TestResources();
  after(() => res.release());

  it("derives the TopicManager proxy from IceStorm.TopicManager.Endpoints", () => {
    assert.equal(topicManagerProxyFor("tcp -h 10.1.2.3 -p 10000"), "IceStorm/TopicManager:tcp -h 10.1.2.3 -p 10000");
    assert.equal(
      topicManagerProxyFor("tcp -h 10.1.2.3 -p 10000 -t 5000:tcp -h \"::1\" -p 10000"),
      "IceStorm/TopicManager:tcp -h 10.1.2.3 -p 10000 -t 5000:tcp -h \"::1\" -p 10000",
    );
    // Every interface: reached through loopback.
    assert.equal(topicManagerProxyFor("tcp -p 10000"), "IceStorm/TopicManager:tcp -h 127.0.0.1 -p 10000");
    assert.equal(topicManagerProxyFor("tcp -h 0.0.0.0 -p 10000"), "IceStorm/TopicManager:tcp -h 127.0.0.1 -p 10000");
    assert.equal(topicManagerProxyFor("tcp -h * -p 10000"), "IceStorm/TopicManager:tcp -h 127.0.0.1 -p 10000");
    // The services need the proxy before the broker runs: a port must be fixed.
    assert.throws(() => topicManagerProxyFor("tcp -h 10.1.2.3 -p 0"), /fixed port/);
    assert.throws(() => topicManagerProxyFor("tcp -h 10.1.2.3"), /fixed port/);
    assert.throws(() => topicManagerProxyFor("  "), /empty/);
  });

  it("icebox listens on the given endpoints (they win over --base-port) and the printed proxy reaches it", async () => {
    requireTool("icebox");
    const data = res.tmp("iceflix-broker-endpoints-");
    const [tm, pub, base] = [await freePort(), await freePort(), await freeBasePort()];
    const broker = res.track(
      await startIceflix([
        "broker",
        "--data",
        data,
        "--base-port",
        String(base),
        `--IceStorm.TopicManager.Endpoints=tcp -h 127.0.0.1 -p ${tm}`,
        `--IceStorm.Publish.Endpoints=tcp -h 127.0.0.1 -p ${pub}`,
      ]),
    );
    assert.equal(broker.ready.proxy, `IceStorm/TopicManager:tcp -h 127.0.0.1 -p ${tm}`);
    const config = readFileSync(join(data, "broker", "icebox.config"), "utf8");
    assert.match(config, new RegExp(`^IceStorm.TopicManager.Endpoints=tcp -h 127.0.0.1 -p ${tm}$`, "m"));
    assert.match(config, new RegExp(`^IceStorm.Publish.Endpoints=tcp -h 127.0.0.1 -p ${pub}$`, "m"));
    const communicator = Ice.initialize();
    try {
      const manager = await IceStorm.TopicManagerPrx.checkedCast(communicator.stringToProxy(broker.ready.proxy).ice_invocationTimeout(3000));
      assert.ok(manager);
      const topic = await manager.create(`endpoints-${tm}`);
      const publisher = await topic.getPublisher();
      assert.match(publisher!.toString(), new RegExp(`-p ${pub}`), "publisher on the Publish endpoint");
    } finally {
      await communicator.destroy();
      await broker.stop();
    }
  });

  it("a TopicManager endpoint without a fixed port: exit 1 with one clear line", async () => {
    const data = res.tmp("iceflix-broker-endpoints-");
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [ICEFLIX_BIN, "broker", "--data", data, "--IceStorm.TopicManager.Endpoints=tcp -h 127.0.0.1 -p 0"], { timeout: 20_000 }, (e, _o, stderr) =>
        resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /iceflix broker: failed to start: IceStorm.TopicManager.Endpoints needs a fixed port/);
  });
});
