/**
 * Event signature v1 (spec §7.1): the TS signer and a Python signer written from the spec alone
 * produce the same MAC for the same event, and the gate drops unsigned, forged, stale and
 * replayed events.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Ice } from "../../src/slice/index.js";
import { CTX, EventGate, EventSigner, signedMessage } from "../../src/runtime/eventSignature.js";
import { runPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";

const SECRET = Buffer.from("00".repeat(16) + "ff".repeat(16), "hex");
const TS = 1700000000123;
const NONCE = "0123456789abcdef0123456789abcdef";

describe("event signature v1", () => {
  let communicator: Ice.Communicator;
  before(() => {
    communicator = Ice.initialize();
  });
  after(async () => {
    await communicator.destroy();
  });

  it("M follows §7.1 line by line", () => {
    const prx = communicator.stringToProxy("cat/x:tcp -h 127.0.0.1 -p 1");
    const m = signedMessage("T", "op", "5", "n", ["héllo", true, 7, prx, null, ["a", ""]]).toString("utf8");
    assert.equal(m, ["v1", "T", "op", "5", "n", "6:héllo", "true", "7", "proxy:cat/x", "proxy:", "2", "1:a", "0:"].join("\n"));
  });

  it("a Python signer written from the spec computes the same MACs", async () => {
    requireTool("/usr/bin/python3");
    const py = await runPython<Record<string, Record<string, string>>>("sign_vectors.py", []);
    const signer = new EventSigner(SECRET);
    const prx = communicator.stringToProxy("cat/égal-ü:tcp -h 127.0.0.1 -p 1");
    const cases: Record<string, [string, string, unknown[]]> = {
      announce: ["ServiceAvailability", "authenticationService", [prx, "id-1"]],
      "null-proxy": ["ServiceAvailability", "catalogService", [null, ""]],
      media: ["MediaAnnouncements", "newMedia", ["ab".repeat(32), "Película 🎬.mp4", "prov"]],
      seq: ["x", "op", [["a", "", "ñ"], true, false, -5, 2147483647]],
    };
    for (const [name, [topic, op, args]] of Object.entries(cases)) {
      const ctx = new Map(Object.entries(py[name]!));
      assert.equal(ctx.get(CTX.ts), String(TS));
      assert.equal(ctx.get(CTX.nonce), NONCE);
      assert.ok(signer.macMatches(topic, op, args as never, ctx), `MAC of case ${name} differs between Python and TS`);
    }
  });

  it("the gate accepts a fresh signed event once and drops the replay", () => {
    const signer = new EventSigner(SECRET);
    const gate = new EventGate(signer, { allowUnsigned: false, maxSkewSeconds: 60 });
    const ctx = signer.sign("T", "op", ["a"]);
    assert.equal(gate.accept("T", "op", ["a"], ctx), true);
    assert.equal(gate.accept("T", "op", ["a"], ctx), false);
    assert.deepEqual(gate.counters().dropped, { T: { replayed: 1 } });
  });

  it("the gate drops unsigned, forged (other secret, altered argument, other topic) and stale events", () => {
    const signer = new EventSigner(SECRET);
    const other = new EventSigner(Buffer.alloc(32, 7));
    const gate = new EventGate(signer, { allowUnsigned: false, maxSkewSeconds: 60 });
    assert.equal(gate.accept("T", "op", ["a"], new Map()), false);
    assert.equal(gate.accept("T", "op", ["a"], other.sign("T", "op", ["a"])), false);
    assert.equal(gate.accept("T", "op", ["b"], signer.sign("T", "op", ["a"])), false);
    assert.equal(gate.accept("U", "op", ["a"], signer.sign("T", "op", ["a"])), false);
    assert.equal(gate.accept("T", "op", ["a"], signer.sign("T", "op", ["a"], Date.now() - 120_000)), false);
    assert.deepEqual(gate.counters().dropped, { T: { unsigned: 1, forged: 2, stale: 1 }, U: { forged: 1 } });
  });

  it("AllowUnsigned admits unsigned events but still drops forged ones", () => {
    const signer = new EventSigner(SECRET);
    const gate = new EventGate(signer, { allowUnsigned: true, maxSkewSeconds: 60 });
    assert.equal(gate.accept("T", "op", ["a"], new Map()), true);
    assert.equal(gate.accept("T", "op", ["a"], new EventSigner(Buffer.alloc(32, 1)).sign("T", "op", ["a"])), false);
  });
});
