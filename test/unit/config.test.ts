import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, intProperty, loadProperties, portsFromBase, PROP, splitPropertyArgs } from "../../src/runtime/config.js";

describe("config", () => {
  it("splitPropertyArgs takes --Prop.Name=value and the slash-named broker property, leaves the rest", () => {
    const { properties, rest } = splitPropertyArgs([
      "up",
      "--data",
      "/d",
      "--IceFlix.Token.LifetimeSeconds=5",
      "--IceFlix.IceStorm/TopicManager=IceStorm/TopicManager:tcp -p 1",
      "--Ice.Trace.Network",
      "--detach",
    ]);
    assert.deepEqual(rest, ["up", "--data", "/d", "--detach"]);
    assert.equal(properties.get("IceFlix.Token.LifetimeSeconds"), "5");
    assert.equal(properties.get("IceFlix.IceStorm/TopicManager"), "IceStorm/TopicManager:tcp -p 1");
    assert.equal(properties.get("Ice.Trace.Network"), "1");
  });

  it("--config FILE is Ice.Config, and the file's properties load under command-line overrides", () => {
    const dir = mkdtempSync(join(tmpdir(), "iceflix-cfg-"));
    const file = join(dir, "x.config");
    writeFileSync(file, "# comment\nMainAdapter.Endpoints=tcp -h 127.0.0.1 -p 9095\nIceFlix.Token.LifetimeSeconds=7\n");
    const { properties } = splitPropertyArgs(["main", "--config", file, "--IceFlix.Token.LifetimeSeconds=9"]);
    const props = loadProperties(properties);
    assert.equal(props.getProperty("MainAdapter.Endpoints"), "tcp -h 127.0.0.1 -p 9095");
    assert.equal(props.getProperty("IceFlix.Token.LifetimeSeconds"), "9");
  });

  it("the two spellings of the TopicManager property are one setting", () => {
    const props = loadProperties(new Map([["IceStorm.TopicManager.Proxy", "IceStorm/TopicManager:tcp -p 7"]]));
    assert.equal(props.getProperty(PROP.topicManager), "IceStorm/TopicManager:tcp -p 7");
  });

  it("a missing config file is a ConfigError naming it", () => {
    assert.throws(() => loadProperties(new Map([["Ice.Config", "/nonexistent/x.config"]])), (e: unknown) => {
      return e instanceof ConfigError && e.message.includes("/nonexistent/x.config");
    });
  });

  it("intProperty validates type and range and names the property", () => {
    const props = loadProperties(new Map([["A.B", "abc"], ["A.C", "99"]]));
    assert.throws(() => intProperty(props, "A.B", 1, 0, 10), /A\.B must be an integer/);
    assert.throws(() => intProperty(props, "A.C", 1, 0, 10), /A\.C must be between 0 and 10/);
    assert.equal(intProperty(props, "A.D", 4, 0, 10), 4);
  });

  it("ports follow spec §1: originals by default, P…P+3 and P+10, P+11 with a base (the web server 8080, P+8, after the metrics ports P+4…P+7)", () => {
    assert.deepEqual(portsFromBase(), { authenticator: 9094, main: 9095, catalog: 9096, streaming: 9097, topicManager: 10000, publish: 10001, web: 8080 });
    assert.deepEqual(portsFromBase(30000), { authenticator: 30000, main: 30001, catalog: 30002, streaming: 30003, topicManager: 30010, publish: 30011, web: 30008 });
  });
});
