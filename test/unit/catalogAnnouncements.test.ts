/**
 * The catalog's MediaAnnouncements subscriber and volatile map (spec §2, §4, §7): signature
 * gate, storing unknown ids only, parking events of providers not known yet (bounded), and
 * providers that leave taking their media's availability with them.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { EventGate, EventSigner } from "../../src/runtime/eventSignature.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ServiceRegistry } from "../../src/runtime/serviceRegistry.js";
import { CatalogDb } from "../../src/services/catalog/catalogDb.js";
import { MediaAnnouncementsI, PendingAnnouncements, TOPIC_MEDIA_ANNOUNCEMENTS } from "../../src/services/catalog/mediaAnnouncements.js";
import { MediaAvailability } from "../../src/services/catalog/mediaAvailability.js";

const log = createLogger("test", "silent");
const dirs: string[] = [];
const dbs: CatalogDb[] = [];

after(() => {
  for (const db of dbs) db.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const mid = (n: number) => n.toString(16).padStart(64, "0");

function fakeProvider(name: string): IceFlix.StreamProviderPrx {
  const prx = { toString: () => name, ice_invocationTimeout: () => prx, ice_ping: async () => {} };
  return prx as unknown as IceFlix.StreamProviderPrx;
}

function setup(options: { allowUnsigned?: boolean; pendingLimit?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "iceflix-announce-"));
  dirs.push(dir);
  const db = CatalogDb.open(join(dir, "catalog.db"), { maxResults: 100 });
  dbs.push(db);
  const signer = new EventSigner(randomBytes(32));
  const gate = new EventGate(signer, { allowUnsigned: options.allowUnsigned ?? false, maxSkewSeconds: 60 });
  const providers = new ServiceRegistry<IceFlix.StreamProviderPrx>("streaming", { pingTimeoutMs: 100, silentAfterMs: 30_000, log });
  const availability = new MediaAvailability();
  const servant = new MediaAnnouncementsI({ gate, db, availability, providers, log, pendingLimit: options.pendingLimit });
  /** Delivers newMedia as IceStorm would, signed unless `ctx` is given. */
  const newMedia = (id: string, name: string, providerId: string, ctx?: Map<string, string>) => {
    const current = { ctx: ctx ?? signer.sign(TOPIC_MEDIA_ANNOUNCEMENTS, "newMedia", [id, name, providerId]) } as unknown as Ice.Current;
    servant.newMedia(id, name, providerId, current);
    servant.flush(); // what the next event-loop turn would do
  };
  const learn = (providerId: string) => {
    providers.announce(providerId, fakeProvider(providerId));
    servant.providerLearned(providerId);
    servant.flush();
  };
  return { db, servant, providers, availability, newMedia, learn, signer };
}

describe("MediaAnnouncements subscriber", () => {
  it("stores an unknown id with its initial name and makes it available through the provider", () => {
    const { db, availability, newMedia, learn } = setup();
    learn("p1");
    newMedia(mid(1), "First Film", "p1");
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "First Film", tags: [] });
    assert.deepEqual(availability.providersInTurn(mid(1)), ["p1"]);
  });

  it("a known id keeps its stored name and tags (renames survive re-announcement)", () => {
    const { db, newMedia, learn } = setup();
    learn("p1");
    newMedia(mid(1), "Original", "p1");
    db.rename(mid(1), "Renamed");
    db.addTags(mid(1), ["kept"]);
    newMedia(mid(1), "Original", "p1");
    learn("p2");
    newMedia(mid(1), "Other file name", "p2");
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "Renamed", tags: ["kept"] });
  });

  it("drops unsigned and forged events, unless unsigned ones are allowed (forged still dropped)", () => {
    const strict = setup();
    strict.learn("p1");
    strict.newMedia(mid(1), "Unsigned", "p1", new Map());
    const forged = strict.signer.sign(TOPIC_MEDIA_ANNOUNCEMENTS, "newMedia", [mid(2), "Other name", "p1"]);
    strict.newMedia(mid(2), "Forged", "p1", forged);
    assert.equal(strict.db.size, 0);

    const permissive = setup({ allowUnsigned: true });
    permissive.learn("p1");
    permissive.newMedia(mid(1), "Unsigned", "p1", new Map());
    permissive.newMedia(mid(2), "Forged", "p1", forged);
    assert.deepEqual(permissive.db.searchByName("", false), [mid(1)]);
  });

  it("ignores malformed ids and sanitizes names", () => {
    const { db, learn, newMedia } = setup();
    learn("p1");
    newMedia("ABC", "upper/short id", "p1");
    newMedia("AB".repeat(32), "upper-case hex", "p1");
    newMedia(mid(2), "name", "");
    newMedia(mid(3), "  tab\there\u0000  ", "p1");
    newMedia(mid(4), "\u0001\u0002 ", "p1");
    newMedia(mid(5), "x".repeat(2000), "p1");
    assert.equal(db.size, 3);
    assert.equal(db.get(mid(3))!.name, "tab here");
    assert.equal(db.get(mid(4))!.name, mid(4), "nothing left: the id is the name");
    assert.equal(db.get(mid(5))!.name.length, 512);
  });

  it("parks a newMedia of an unknown provider until the provider is learned", () => {
    const { db, availability, servant, newMedia, learn } = setup();
    newMedia(mid(1), "Early", "later");
    assert.equal(db.has(mid(1)), false);
    assert.equal(servant.pending.size, 1);
    learn("later");
    assert.equal(servant.pending.size, 0);
    assert.equal(db.get(mid(1))!.name, "Early");
    assert.deepEqual(availability.providersInTurn(mid(1)), ["later"]);
  });

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
