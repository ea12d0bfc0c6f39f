/**
 * MediaCatalogI against fakes (spec §0, §2, §4, §10): getTile's errors and its round-robin over
 * live providers with a liveness ping, token checks before edits, unknown and over-long ids as
 * WrongMediaId, and limits refused with InvalidArgument before anything changes; a provider's
 * isAvailable(id) is the check before a hand-out.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Ice, IceFlix, IceFlixExt } from "../../src/slice/index.js";
import { createLogger } from "../../src/runtime/logger.js";
import { ServiceRegistry } from "../../src/runtime/serviceRegistry.js";
import { TokenValidator } from "../../src/runtime/tokenValidator.js";
import { MediaCatalogI } from "../../src/services/catalog/catalogServant.js";
import { MediaAvailability } from "../../src/services/catalog/mediaAvailability.js";
import { STORE_KINDS, TestStores, type StoreKind } from "../helpers/stores.js";

const log = createLogger("test", "silent");
const stores = new TestStores();
const current = {} as Ice.Current;
const mid = (n: number) => n.toString(16).padStart(64, "0");

after(() => stores.release());

interface ProviderState {
  alive: boolean;
  /** Media ids it no longer serves (isAvailable false). */
  withdrawn?: Set<string>;
  /** isAvailable answers with an error (the provider is up but failing). */
  failing?: boolean;
  /** isAvailable calls so far. */
  checks?: number;
}

/** A provider proxy whose isAvailable fails once `alive` is false, and is false for withdrawn ids. */
function fakeProvider(name: string, state: ProviderState = { alive: true }): IceFlix.StreamProviderPrx {
  const prx = {
    name,
    toString: () => `StreamProvider:tcp -h 127.0.0.1 -p ${name}`,
    ice_invocationTimeout: () => prx,
    ice_getCachedConnection: () => null,
    ice_getConnection: async () => null, // no real connection to drop
    ice_ping: async () => {
      if (!state.alive) throw new Ice.ConnectionRefusedException();
    },
    isAvailable: async (id: string) => {
      state.checks = (state.checks ?? 0) + 1;
      if (!state.alive) throw new Ice.ConnectionRefusedException();
      if (state.failing) throw new Ice.UnknownUserException("::IceFlixExt::InternalError");
      return !state.withdrawn?.has(id);
    },
  };
  return prx as unknown as IceFlix.StreamProviderPrx;
}

/** An Authenticator proxy accepting the token "good". */
function fakeAuthenticator(): IceFlix.AuthenticatorPrx {
  const prx = {
    toString: () => "Authenticator:tcp -h 127.0.0.1 -p 1",
    ice_invocationTimeout: () => prx,
    ice_getCachedConnection: () => null,
    ice_getConnection: async () => null, // no real connection to drop
    ice_ping: async () => {},
    isAuthorized: async (t: string) => t === "good",
  };
  return prx as unknown as IceFlix.AuthenticatorPrx;
}

async function setup(kind: StoreKind, withAuthenticator = true) {
  const db = await stores.openCatalog(await stores.location(kind), 100);
  const registryOptions = { pingTimeoutMs: 100, silentAfterMs: 30_000, log };
  const providers = new ServiceRegistry<IceFlix.StreamProviderPrx>("streaming", registryOptions);
  const authenticators = new ServiceRegistry<IceFlix.AuthenticatorPrx>("authenticator", registryOptions);
  if (withAuthenticator) authenticators.announce("a1", fakeAuthenticator());
  const availability = new MediaAvailability();
  providers.on("removed", (i) => availability.removeProvider(i.id));
  const servant = new MediaCatalogI({ db, availability, providers, tokens: new TokenValidator(authenticators) });
  await db.addTitles([{ id: mid(1), name: "Film", tags: ["a"] }]);
  return { db, servant, providers, availability };
}

async function rejectsWith(p: Promise<unknown> | (() => unknown), type: new (...a: never[]) => Error, check?: (e: never) => void) {
  await assert.rejects(
    async () => (typeof p === "function" ? p() : p),
    (e: unknown) => {
      assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
      check?.(e as never);
      return true;
    },
  );
}

for (const kind of STORE_KINDS) {
describe(`MediaCatalogI.getTile (${kind})`, () => {
  it("unknown id: WrongMediaId with the id; known but no provider: TemporaryUnavailable", async () => {
    const { servant } = await setup(kind);
    await rejectsWith(servant.getTile(mid(9), current), IceFlix.WrongMediaId, (e: IceFlix.WrongMediaId) => assert.equal(e.id, mid(9)));
    await rejectsWith(servant.getTile(mid(1), current), IceFlix.TemporaryUnavailable);
  });

  it("returns the title with a live provider, round-robin over providers", async () => {
    const { servant, providers, availability } = await setup(kind);
    providers.announce("p1", fakeProvider("P1"));
    providers.announce("p2", fakeProvider("P2"));
    availability.add(mid(1), "p1");
    availability.add(mid(1), "p2");
    const names = [];
    for (let i = 0; i < 4; i++) {
      const media = await servant.getTile(mid(1), current);
      assert.equal(media.id, mid(1));
      assert.equal(media.info.name, "Film");
      assert.deepEqual(media.info.tags, ["a"]);
      names.push((media.provider as unknown as { name: string }).name);
    }
    assert.deepEqual(names, ["P1", "P2", "P1", "P2"]);
  });

  it("skips and removes a provider that does not answer its ping", async () => {
    const { servant, providers, availability } = await setup(kind);
    const dead = { alive: false };
    providers.announce("p1", fakeProvider("P1", dead));
    providers.announce("p2", fakeProvider("P2"));
    availability.add(mid(1), "p1");
    availability.add(mid(1), "p2");
    for (let i = 0; i < 3; i++) {
      const media = await servant.getTile(mid(1), current);
      assert.equal((media.provider as unknown as { name: string }).name, "P2");
    }
    assert.equal(providers.has("p1"), false);
    assert.deepEqual(availability.providersInTurn(mid(1)), ["p2"]);
    providers.remove("p2");
    await rejectsWith(servant.getTile(mid(1), current), IceFlix.TemporaryUnavailable);
  });

  it("checks with isAvailable(id): a provider that withdrew the media is skipped and forgotten for it, not removed", async () => {
    const { servant, providers, availability } = await setup(kind);
    const p1: ProviderState = { alive: true, withdrawn: new Set([mid(1)]) };
    const p2: ProviderState = { alive: true };
    providers.announce("p1", fakeProvider("P1", p1));
    providers.announce("p2", fakeProvider("P2", p2));
    availability.add(mid(1), "p1");
    availability.add(mid(1), "p2");
    availability.add(mid(2), "p1");
    for (let i = 0; i < 3; i++) {
      const media = await servant.getTile(mid(1), current);
      assert.equal((media.provider as unknown as { name: string }).name, "P2");
    }
    assert.equal(p1.checks, 1, "the withdrawn pair is asked about once, then forgotten");
    assert.equal(p2.checks, 3, "one call per hand-out (isAvailable in place of ice_ping)");
    assert.deepEqual(availability.providersInTurn(mid(1)), ["p2"]);
    assert.deepEqual(availability.providersInTurn(mid(2)), ["p1"], "its other media stay");
    assert.equal(providers.has("p1"), true, "a provider that answers stays registered");

    // The last provider withdraws it too: a known title without a provider (spec §4).
    p2.withdrawn = new Set([mid(1)]);
    await rejectsWith(servant.getTile(mid(1), current), IceFlix.TemporaryUnavailable);
    assert.deepEqual(availability.providersInTurn(mid(1)), []);

    // Announced again (newMedia): handed out again.
    p1.withdrawn!.clear();
    availability.add(mid(1), "p1");
    assert.equal(((await servant.getTile(mid(1), current)).provider as unknown as { name: string }).name, "P1");
  });

  it("a provider whose isAvailable answers with an error is skipped for that call only", async () => {
    const { servant, providers, availability } = await setup(kind);
    const p1: ProviderState = { alive: true, failing: true };
    providers.announce("p1", fakeProvider("P1", p1));
    availability.add(mid(1), "p1");
    await rejectsWith(servant.getTile(mid(1), current), IceFlix.TemporaryUnavailable);
    assert.equal(providers.has("p1"), true);
    p1.failing = false;
    assert.equal(((await servant.getTile(mid(1), current)).provider as unknown as { name: string }).name, "P1");
  });

  it("during the warm-up, a known title with no provider yet waits for one instead of TemporaryUnavailable", async () => {
    const { db, providers, availability } = await setup(kind);
    const authenticators = new ServiceRegistry<IceFlix.AuthenticatorPrx>("authenticator", { pingTimeoutMs: 100, silentAfterMs: 30_000, log });
    authenticators.announce("a1", fakeAuthenticator());
    const warm = new MediaCatalogI({ db, availability, providers, tokens: new TokenValidator(authenticators), warmUntil: Date.now() + 5000 });
    setTimeout(() => {
      providers.announce("p1", fakeProvider("P1"));
      availability.add(mid(1), "p1");
    }, 100);
    const media = await warm.getTile(mid(1), current);
    assert.equal((media.provider as unknown as { name: string }).name, "P1");
    const cold = new MediaCatalogI({ db, availability, providers, tokens: new TokenValidator(authenticators), warmUntil: Date.now() + 200 });
    providers.remove("p1");
    const t0 = Date.now();
    await rejectsWith(cold.getTile(mid(1), current), IceFlix.TemporaryUnavailable);
    assert.ok(Date.now() - t0 >= 150, "refused only at the end of the warm-up");
  });

  it("an id longer than any real one is WrongMediaId (the contract's exception), echoed cut to 256 characters", async () => {
    const { servant } = await setup(kind);
    await rejectsWith(servant.getTile("f".repeat(100_000), current), IceFlix.WrongMediaId, (e: IceFlix.WrongMediaId) =>
      assert.equal(e.id, "f".repeat(256)),
    );
    // The cut never splits a surrogate pair (a lone half cannot be encoded in the reply).
    await rejectsWith(servant.getTile("a" + "🎬".repeat(3000), current), IceFlix.WrongMediaId, (e: IceFlix.WrongMediaId) =>
      assert.equal(e.id, "a" + "🎬".repeat(127)),
    );
  });
});

describe(`MediaCatalogI edits (${kind})`, () => {
  it("checks the token first: Unauthorized for a bad token, or when no Authenticator is known", async () => {
    const { servant, db } = await setup(kind);
    await rejectsWith(servant.renameTile(mid(1), "x", "bad", current), IceFlix.Unauthorized);
    await rejectsWith(servant.addTags(mid(9), [""], "bad", current), IceFlix.Unauthorized);
    await rejectsWith(servant.removeTags(mid(1), ["a"], "x".repeat(5000), current), IceFlix.Unauthorized);
    const lonely = await setup(kind, false);
    await rejectsWith(lonely.servant.renameTile(mid(1), "x", "good", current), IceFlix.Unauthorized);
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "Film", tags: ["a"] });
  });

  it("applies edits with a good token; WrongMediaId for unknown ids", async () => {
    const { servant, db } = await setup(kind);
    await servant.renameTile(mid(1), "  New Name ", "good", current);
    await servant.addTags(mid(1), ["b", "b", "c"], "good", current);
    await servant.removeTags(mid(1), ["a", "zzz"], "good", current);
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "New Name", tags: ["b", "c"] });
    for (const call of [
      () => servant.renameTile(mid(9), "x", "good", current),
      () => servant.addTags(mid(9), ["x"], "good", current),
      () => servant.removeTags(mid(9), ["x"], "good", current),
    ]) {
      await rejectsWith(call, IceFlix.WrongMediaId, (e: IceFlix.WrongMediaId) => assert.equal(e.id, mid(9)));
    }
  });

  it("an unknown or over-long id is WrongMediaId even with a name or tags beyond the limits (contract first)", async () => {
    const { servant, db } = await setup(kind);
    const long = "e".repeat(100_000);
    for (const call of [
      () => servant.renameTile(mid(9), "", "good", current),
      () => servant.renameTile(long, "x", "good", current),
      () => servant.addTags(mid(9), [""], "good", current),
      () => servant.addTags(long, ["x"], "good", current),
      () => servant.removeTags(mid(9), ["y".repeat(129)], "good", current),
      () => servant.removeTags(long, ["x"], "good", current),
    ]) {
      await rejectsWith(call, IceFlix.WrongMediaId);
    }
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "Film", tags: ["a"] });
  });

  it("refuses input beyond the limits with InvalidArgument{reason} and changes nothing", async () => {
    const { servant, db } = await setup(kind);
    const many = (n: number, prefix = "t") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const cases: Array<[string, () => unknown, RegExp]> = [
      ["empty name", () => servant.renameTile(mid(1), " \t ", "good", current), /empty/],
      ["513 chars", () => servant.renameTile(mid(1), "x".repeat(513), "good", current), /longer than 512/],
      ["control char", () => servant.renameTile(mid(1), "a\u007fb", "good", current), /control/],
      ["1001 tags", () => servant.addTags(mid(1), many(1001), "good", current), /more than 1000/],
      ["129-char tag", () => servant.addTags(mid(1), ["ok", "y".repeat(129)], "good", current), /longer than 128/],
      ["empty tag", () => servant.removeTags(mid(1), ["a", ""], "good", current), /empty tag/],
      ["257 tags on a title", () => servant.addTags(mid(1), many(256), "good", current), /at most 256/],
      ["long search", () => servant.getTilesByName("q".repeat(513), false, current), /search text/],
      ["1001 search tags", () => servant.getTilesByTags(many(1001), true, current), /more than 1000/],
    ];
    for (const [what, call, reason] of cases) {
      await rejectsWith(call, IceFlixExt.InvalidArgument, (e: IceFlixExt.InvalidArgument) => assert.match(e.reason, reason, what));
    }
    assert.deepEqual(db.get(mid(1)), { id: mid(1), name: "Film", tags: ["a"] });
    // The limits themselves are accepted: 512 characters (astral ones count once), 256 tags.
    await servant.renameTile(mid(1), "🎬".repeat(512), "good", current);
    await servant.addTags(mid(1), many(255), "good", current);
    assert.equal(db.get(mid(1))!.tags.length, 256);
    assert.deepEqual(servant.getTilesByTags([], false, current), []);
  });
});
}
