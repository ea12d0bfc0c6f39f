/**
 * The catalog's MediaAnnouncements subscriber and volatile map (spec §2, §4, §7): signature
 * gate, storing unknown ids only, parking events of providers not known yet (bounded), and
 * providers that leave taking their media's availability with them.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { EventGate, EventSigner } from "../../src/runtime/eventSignature.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ServiceRegistry } from "../../src/runtime/serviceRegistry.js";
import { MediaAnnouncementsI, PendingAnnouncements, TOPIC_MEDIA_ANNOUNCEMENTS } from "../../src/services/catalog/mediaAnnouncements.js";
import { MediaAvailability } from "../../src/services/catalog/mediaAvailability.js";
import { STORE_KINDS, TestStores, type StoreKind } from "../helpers/stores.js";

const log = createLogger("test", "silent");
const stores = new TestStores();

after(() => stores.release());

const mid = (n: number) => n.toString(16).padStart(64, "0");

function fakeProvider(name: string): IceFlix.StreamProviderPrx {
  const prx = { toString: () => name, ice_invocationTimeout: () => prx, ice_ping: async () => {} };
  return prx as unknown as IceFlix.StreamProviderPrx;
}

async function setup(kind: StoreKind, options: { allowUnsigned?: boolean; pendingLimit?: number } = {}) {
  const db = await stores.openCatalog(await stores.location(kind), 100);
  const signer = new EventSigner(randomBytes(32));
  const gate = new EventGate(signer, { allowUnsigned: options.allowUnsigned ?? false, maxSkewSeconds: 60 });
  const providers = new ServiceRegistry<IceFlix.StreamProviderPrx>("streaming", { pingTimeoutMs: 100, silentAfterMs: 30_000, log });
  const availability = new MediaAvailability();
  const servant = new MediaAnnouncementsI({ gate, db, availability, providers, log, pendingLimit: options.pendingLimit });
  /** Delivers newMedia as IceStorm would, signed unless `ctx` is given. */
  const newMedia = async (id: string, name: string, providerId: string, ctx?: Map<string, string>) => {
    const current = { ctx: ctx ?? signer.sign(TOPIC_MEDIA_ANNOUNCEMENTS, "newMedia", [id, name, providerId]) } as unknown as Ice.Current;
    servant.newMedia(id, name, providerId, current);
    await servant.flush(); // what the next event-loop turn would do
  };
  const learn = async (providerId: string) => {
    providers.announce(providerId, fakeProvider(providerId));
    servant.providerLearned(providerId);
    await servant.flush();
  };
  return { db, servant, providers, availability, newMedia, learn, signer };
}

for (const kind of STORE_KINDS) {
describe(`MediaAnnouncements subscriber on ${kind}`, () => {
  it("stores an unknown id with its initial name and makes it available through the provider", async () => {
    const { db, availability, newMedia, learn } = await setup(kind);
    await learn("p1");
    await newMedia(mid(1), "First Film", "p1");
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "First Film", tags: [] });
    assert.deepEqual(availability.providersInTurn(mid(1)), ["p1"]);
  });

  it("a known id keeps its stored name and tags (renames survive re-announcement)", async () => {
    const { db, newMedia, learn } = await setup(kind);
    await learn("p1");
    await newMedia(mid(1), "Original", "p1");
    await db.rename(mid(1), "Renamed");
    await db.addTags(mid(1), ["kept"]);
    await newMedia(mid(1), "Original", "p1");
    await learn("p2");
    await newMedia(mid(1), "Other file name", "p2");
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "Renamed", tags: ["kept"] });
  });

  it("drops unsigned and forged events, unless unsigned ones are allowed (forged still dropped)", async () => {
    const strict = await setup(kind);
    await strict.learn("p1");
    await strict.newMedia(mid(1), "Unsigned", "p1", new Map());
    const forged = strict.signer.sign(TOPIC_MEDIA_ANNOUNCEMENTS, "newMedia", [mid(2), "Other name", "p1"]);
    await strict.newMedia(mid(2), "Forged", "p1", forged);
    assert.equal(strict.db.size, 0);

    const permissive = await setup(kind, { allowUnsigned: true });
    await permissive.learn("p1");
    await permissive.newMedia(mid(1), "Unsigned", "p1", new Map());
    await permissive.newMedia(mid(2), "Forged", "p1", forged);
    assert.deepEqual(permissive.db.searchByName("", false), [mid(1)]);
  });

  it("ignores malformed ids and sanitizes names", async () => {
    const { db, learn, newMedia } = await setup(kind);
    await learn("p1");
    await newMedia("ABC", "upper/short id", "p1");
    await newMedia("AB".repeat(32), "upper-case hex", "p1");
    await newMedia(mid(2), "name", "");
    await newMedia(mid(3), "  tab\there\u0000  ", "p1");
    await newMedia(mid(4), "\u0001\u0002 ", "p1");
    await newMedia(mid(5), "x".repeat(2000), "p1");
    assert.equal(db.size, 3);
    assert.equal(db.get(mid(3))!.name, "tab here");
    assert.equal(db.get(mid(4))!.name, mid(4), "nothing left: the id is the name");
    assert.equal(db.get(mid(5))!.name.length, 512);
  });

  it("parks a newMedia of an unknown provider until the provider is learned", async () => {
    const { db, availability, servant, newMedia, learn } = await setup(kind);
    await newMedia(mid(1), "Early", "later");
    assert.equal(db.has(mid(1)), false);
    assert.equal(servant.pending.size, 1);
    await learn("later");
    assert.equal(servant.pending.size, 0);
    assert.equal(db.get(mid(1))!.name, "Early");
    assert.deepEqual(availability.providersInTurn(mid(1)), ["later"]);
  });
});
}

describe("PendingAnnouncements", () => {
  it("bounds parked events, dropping the oldest", () => {
    const pending = new PendingAnnouncements(3);
    for (let i = 0; i < 5; i++) pending.park({ id: mid(i), name: `n${i}`, providerId: "p" });
    assert.equal(pending.size, 3);
    assert.equal(pending.dropped, 2);
    assert.deepEqual(pending.takeFor("p").map((a) => a.id), [mid(2), mid(3), mid(4)]);
    assert.deepEqual(pending.takeFor("p"), []);
  });
});

describe("MediaAvailability", () => {
  it("serves a media through several providers in turn, and forgets a provider that leaves", () => {
    const a = new MediaAvailability();
    a.add(mid(1), "p1");
    a.add(mid(1), "p2");
    a.add(mid(2), "p2");
    const firsts = [a.providersInTurn(mid(1))[0], a.providersInTurn(mid(1))[0], a.providersInTurn(mid(1))[0]];
    assert.deepEqual(firsts, ["p1", "p2", "p1"]);
    assert.deepEqual(a.removeProvider("p2").sort(), [mid(1), mid(2)].sort(), "what it served, for a provider that comes back");
    assert.deepEqual(a.removeProvider("p2"), []);
    assert.deepEqual(a.providersInTurn(mid(1)), ["p1"]);
    assert.deepEqual(a.providersInTurn(mid(2)), []);
    assert.equal(a.mediaCount("p2"), 0);
  });
});
