/** ServiceAvailabilityI (spec §2, §7): with an EventGate only signed announcements reach the registries. */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { EventGate, EventSigner } from "../../src/runtime/eventSignature.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ServiceAvailabilityI } from "../../src/runtime/serviceAvailability.js";
import { ServiceRegistry } from "../../src/runtime/serviceRegistry.js";

const log = createLogger("test", "silent");
const communicator = Ice.initialize();
const provider = IceFlix.StreamProviderPrx.uncheckedCast(communicator.stringToProxy("provider-1:tcp -h 127.0.0.1 -p 1"));
after(() => communicator.destroy());
const withCtx = (ctx: Map<string, string>) => ({ ctx }) as unknown as Ice.Current;

function setup(gate?: EventGate) {
  const streaming = new ServiceRegistry<IceFlix.StreamProviderPrx>("streaming", { pingTimeoutMs: 100, silentAfterMs: 30_000, log });
  return { streaming, servant: new ServiceAvailabilityI({ streaming }, "self", gate) };
}

describe("ServiceAvailabilityI", () => {
  it("without a gate, records every announcement (existing callers)", () => {
    const { streaming, servant } = setup();
    servant.mediaService(provider, "p1", withCtx(new Map()));
    assert.equal(streaming.has("p1"), true);
  });

  it("with a gate, drops unsigned and forged announcements and records signed ones", () => {
    const signer = new EventSigner(randomBytes(32));
    const gate = new EventGate(signer, { allowUnsigned: false, maxSkewSeconds: 60 });
    const { streaming, servant } = setup(gate);
    servant.mediaService(provider, "p1", withCtx(new Map()));
    servant.mediaService(provider, "p2", withCtx(signer.sign("ServiceAvailability", "mediaService", [provider, "other"])));
    servant.mediaService(provider, "p3", withCtx(signer.sign("ServiceAvailability", "mediaService", [provider, "p3"])));
    assert.deepEqual(streaming.list().map((i) => i.id), ["p3"]);
    assert.deepEqual(gate.counters().dropped, { ServiceAvailability: { unsigned: 1, forged: 1 } });
  });

  it("kinds it does not track are ignored before the gate (not counted as dropped)", () => {
    const gate = new EventGate(new EventSigner(randomBytes(32)), { allowUnsigned: false, maxSkewSeconds: 60 });
    const { servant } = setup(gate);
    servant.catalogService(IceFlix.MediaCatalogPrx.uncheckedCast(provider), "c1", withCtx(new Map()));
    assert.deepEqual(gate.counters().dropped, {});
  });
});
