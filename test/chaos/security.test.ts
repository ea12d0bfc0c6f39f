/**
 * Hostile input, part 2: security (spec §3, §5, §6, §7, §11), on a deployment from `iceflix up`
 * with short-lived tokens (4 s) and a media folder laid with traps:
 *  - expired, revoked (signed event; `user passwd`) and forged tokens (another secret, altered
 *    payload, altered MAC, another user's MAC, garbage) are refused by every protected operation
 *    (renameTile, addTags, removeTags, getStream, getSDP, refreshAuthentication) and change nothing;
 *    a stream controller refuses another user's valid token;
 *  - unsigned, forged (another secret; altered after signing), stale and replayed events on
 *    ServiceAvailability, MediaAnnouncements and AuthenticationStatus are ignored — a rogue
 *    Authenticator that approves everything is never used, a forged title never appears, a forged
 *    revocation revokes nothing — and every subscriber logs each drop with its reason;
 *  - files outside the media folder (symlinks relative, absolute, to /etc/passwd, dangling,
 *    looping, to the parent folder; a sub-folder; a FIFO; a name that is not UTF-8) are never
 *    announced nor streamed, also when an announced file is swapped for a link after the fact;
 *  - the logs never contain the secret, a token or a password hash;
 *  - failed logins are throttled: after 4 wrong passwords the right one is refused for a while.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IceFlix, IceStorm } from "../../src/slice/index.js";
import { TokenCodec } from "../../src/services/authenticator/tokens.js";
import { startContractServer } from "../helpers/processes.js";
import { UdpCounter } from "../helpers/streams.js";
import { TestResources } from "../helpers/testResources.js";
import { requireTool } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { login, outcome, sha256hex } from "./lib/client.js";
import { cachedDemoMedia, Deployment } from "./lib/deployment.js";
import { EventInjector, type Forgery, type PublishedEvent } from "./lib/events.js";
import { figure } from "./lib/figures.js";

const LIFETIME_S = 4;
const sha256file = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

const PASSWORDS = { demo: "demo", mallory: "mallory-pw", eve: "eve-old-pw", eveNew: "eve-new-pw", victim: "right-pw", wrong: "wrong-pw" };

interface Traps {
  /** Media ids that must never be announced or streamed. */
  forbidden: Record<string, string>;
  /** Names in the folder that must be refused with a warning. */
  refusedNames: string[];
  inside: { A: string; B: string; C: string };
  outsideDir: string;
}

/** The media folder: three real clips, a link to one of them, and every way out we could think of. */
async function layMedia(root: string, traps: Traps): Promise<string> {
  const clips = await cachedDemoMedia();
  const media = join(root, "media");
  const outside = join(root, "outside");
  mkdirSync(join(media, "sub"), { recursive: true });
  mkdirSync(outside, { recursive: true });
  copyFileSync(join(clips, "Colour Bars.mp4"), join(media, "A.mp4"));
  copyFileSync(join(clips, "Test Pattern (720p).mp4"), join(media, "B.mp4"));
  copyFileSync(join(clips, "Mandelbrot (VP8).webm"), join(media, "C.webm"));
  const distinct = (to: string) => {
    copyFileSync(join(clips, "Colour Bars.mp4"), to);
    appendFileSync(to, randomBytes(64)); // its own media id
    return sha256file(to);
  };
  traps.forbidden = {
    "outside (relative link)": distinct(join(outside, "secret.mp4")),
    "outside (absolute link)": distinct(join(outside, "secret2.mp4")),
    "sub-folder": distinct(join(media, "sub", "hidden.mp4")),
    "/etc/passwd": sha256file("/etc/passwd"),
  };
  symlinkSync("A.mp4", join(media, "inside-link.mp4"));
  symlinkSync("../outside/secret.mp4", join(media, "escape-relative.mp4"));
  symlinkSync(join(outside, "secret2.mp4"), join(media, "escape-absolute.mp4"));
  symlinkSync("/etc/passwd", join(media, "etc-passwd.mp4"));
  symlinkSync("nowhere.mp4", join(media, "dangling.mp4"));
  symlinkSync("loop.mp4", join(media, "loop.mp4"));
  symlinkSync("..", join(media, "parent-dir"));
  execFileSync("mkfifo", [join(media, "fifo.mp4")]);
  // A name that is not UTF-8 (bytes "bad-\xff.mp4"): refused, it could not be announced faithfully.
  const badName = Buffer.concat([Buffer.from(join(media, "bad-")), Buffer.from([0xff]), Buffer.from(".mp4")]);
  writeFileSync(badName, readFileSync(join(clips, "Colour Bars.mp4")));
  appendFileSync(badName, randomBytes(64));
  traps.forbidden["name not UTF-8"] = sha256file(badName as unknown as string);
  traps.refusedNames = ["escape-relative.mp4", "escape-absolute.mp4", "etc-passwd.mp4", "dangling.mp4", "loop.mp4"];
  traps.inside = { A: sha256file(join(media, "A.mp4")), B: sha256file(join(media, "B.mp4")), C: sha256file(join(media, "C.webm")) };
  traps.outsideDir = outside;
  return media;
}

describe("chaos: security", { timeout: 240_000 }, () => {
  let dep: Deployment;
  let rtp: UdpCounter;
  const res = new TestResources();
  const traps = {} as Traps;
  const tokens: string[] = [];
  let expiredToken = "";

  const fresh = async (user = "demo", password = PASSWORDS.demo) => {
    const t = await login(dep.main(), user, password);
    tokens.push(t);
    return t;
  };
  const catalog = () => dep.catalogAt(dep.ports.catalog);
  const provider = () => dep.providerAt(dep.ports.streaming);
  const auth = () => dep.authAt(dep.ports.auth);

  before(async () => {
    requireTool("gst-launch-1.0");
    requireTool("mkfifo");
    dep = await Deployment.up({
      label: "security",
      media: (root) => layMedia(root, traps),
      expectTitles: 0, // no user yet: titles are checked below
      props: [
        "--IceFlix.Announce.PeriodSeconds=1",
        `--IceFlix.Token.LifetimeSeconds=${LIFETIME_S}`,
        "--IceFlix.Media.RescanSeconds=1",
      ],
    });
    await Promise.all([
      dep.addUser("demo", PASSWORDS.demo),
      dep.addUser("mallory", PASSWORDS.mallory),
      dep.addUser("eve", PASSWORDS.eve),
      dep.addUser("victim", PASSWORDS.victim),
    ]);
    await dep.waitReady(3);
    expiredToken = await fresh(); // expires while the first tests run
    rtp = await UdpCounter.open();
  });

  after(async () => {
    await rtp?.close();
    await res.release();
    await dep?.down();
  });

  it("serves the three files inside the media folder, and nothing that leads out of it", async () => {
    const ids = (await catalog().getTilesByName("", false)).sort();
    assert.deepEqual(ids, Object.values(traps.inside).sort(), "exactly A, B and C (inside-link.mp4 is A again)");
    const names = await Promise.all(ids.map(async (id) => (await catalog().getTile(id)).info.name));
    assert.deepEqual(names.sort(), ["A.mp4", "B.mp4", "C.webm"]);
    const token = await fresh();
    for (const [what, id] of Object.entries(traps.forbidden)) {
      assert.equal(await outcome(() => catalog().getTile(id)), "WrongMediaId", `${what}: not in the catalog`);
      assert.equal(await provider().isAvailable(id), false, `${what}: not available`);
      assert.equal(await outcome(() => provider().getStream(id, token)), "WrongMediaId", `${what}: not streamable`);
    }
    const warned = dep.log("streaming").filter((l) => l.msg === "not serving a file of the media folder").map((l) => String(l.file));
    for (const name of traps.refusedNames) assert.ok(warned.includes(name), `a warning names ${name}: ${warned}`);
  });

  it("an announced file swapped for a link to outside is not streamed, and the provider withdraws it", async () => {
    const media = dep.mediaDir;
    // The same bytes outside (same id), then B.mp4 atomically replaced by a link to them.
    const copy = join(traps.outsideDir, "B-copy.mp4");
    copyFileSync(join(media, "B.mp4"), copy);
    const token = await fresh();
    const controller = (await provider().getStream(traps.inside.B, token))!;
    const link = join(media, ".swap-link");
    symlinkSync(copy, link);
    renameSync(link, join(media, "B.mp4"));
    const got = await outcome(() => controller.getSDP(token, rtp.port));
    assert.notEqual(got, "ok", "getSDP on a file swapped for a link outside must fail");
    assert.ok(!got.startsWith("::Ice::Unknown"), got);
    assert.equal(dep.gstProcesses(traps.outsideDir).length, 0, "no pipeline reads outside the folder");
    const swappedAt = Date.now();
    await waitFor("the provider to drop B after its rescan", () => provider().isAvailable(traps.inside.B), (v) => !v, 15_000);
    const droppedMs = Date.now() - swappedAt;
    assert.equal(await outcome(async () => provider().getStream(traps.inside.B, await fresh())), "WrongMediaId");
    assert.equal(dep.gstProcesses(traps.outsideDir).length, 0, "no pipeline reads outside the folder");
    assert.equal(rtp.packets, 0, "nothing was streamed");
    // The contract has no "media withdrawn" event: the catalog keeps B's title and may still hand
    // out this provider for it (getTile pings the provider, it does not ask isAvailable).
    const tile = await outcome(() => catalog().getTile(traps.inside.B));
    figure(
      "security.mediaFolder",
      `never announced: ${Object.keys(traps.forbidden).join(", ")} (refused with a warning: ${traps.refusedNames.join(", ")}; a FIFO ignored); ` +
        `B.mp4 swapped for a link to the same bytes outside: getSDP → ${got}, no pipeline, B withdrawn by the provider after ${droppedMs} ms ` +
        `(catalog getTile(B) then: ${tile})`,
    );
    await outcome(() => controller.stop());
  });

  it("expired, revoked and forged tokens are refused by every protected operation, and change nothing", async () => {
    const A = traps.inside.A;
    // A tag that a forged removeTags would remove.
    await catalog().addTags(A, ["keep"], await fresh());
    const before = JSON.stringify(await catalog().getTile(A).then((t) => [t.info.name, [...t.info.tags]]));

    // Expired: obtained in before(), LIFETIME_S ago at least.
    await waitFor("the first token to expire", () => auth().isAuthorized(expiredToken), (v) => !v, (LIFETIME_S + 5) * 1000);
    // Revoked by a signed revoke event (what an Authenticator publishes).
    const revoked = await fresh();
    const tm = (await dep.firstMain().getTopicManager())! as IceStorm.TopicManagerPrx;
    const injector = new EventInjector(tm, dep.secret);
    await injector.publishSigned({ topic: "AuthenticationStatus", operation: "revoke", args: [revoked] });
    await waitFor("the revocation to apply", () => auth().isAuthorized(revoked), (v) => !v, 5000);
    // Revoked by a password change.
    const eves = await fresh("eve", PASSWORDS.eve);
    assert.equal((await dep.cli(["user", "passwd", "eve", "--password-stdin"], `${PASSWORDS.eveNew}\n`)).code, 0);
    await waitFor("passwd to invalidate eve's token", () => auth().isAuthorized(eves), (v) => !v, 5000);

    // Forged.
    const valid = await fresh();
    const [, payload, mac] = valid.split(".") as [string, string, string];
    const fields = Buffer.from(payload, "base64url").toString("utf8").split("\n");
    const longer = Buffer.from([fields[0], fields[1], String(Date.now() + 3_600_000), fields[3]].join("\n")).toString("base64url");
    const mallorys = await fresh("mallory", PASSWORDS.mallory);
    const [, mPayload, mMac] = mallorys.split(".") as [string, string, string];
    const mFields = Buffer.from(mPayload, "base64url").toString("utf8").split("\n");
    const asDemo = Buffer.from(["demo", ...mFields.slice(1)].join("\n")).toString("base64url");
    const flipped = mac.slice(0, -2) + (mac.endsWith("AA") ? "BB" : "AA");
    const bad: Record<string, string> = {
      expired: expiredToken,
      "revoked (signed event)": revoked,
      "revoked (passwd)": eves,
      "another secret": new TokenCodec(randomBytes(32)).issue("demo", 3_600_000).token,
      "payload altered (expiry +1 h)": `v1.${longer}.${mac}`,
      "MAC altered": `v1.${payload}.${flipped}`,
      "another user's MAC (mallory → demo)": `v1.${asDemo}.${mMac}`,
      "no MAC": `v1.${payload}.`,
      garbage: "v1.e30.AAAA",
      empty: "",
      "5 KB": "x".repeat(5000),
    };
    tokens.push(...Object.values(bad));

    // A controller made with a valid token, not streaming yet: getSDP and refreshAuthentication are tried on it.
    const controller = (await provider().getStream(A, await fresh()))!;
    const ops: Record<string, (t: string) => Promise<unknown>> = {
      renameTile: (t) => catalog().renameTile(A, "pwned", t),
      addTags: (t) => catalog().addTags(A, ["pwned"], t),
      removeTags: (t) => catalog().removeTags(A, ["keep"], t),
      getStream: (t) => provider().getStream(A, t),
      getSDP: (t) => controller.getSDP(t, rtp.port),
      refreshAuthentication: (t) => controller.refreshAuthentication(t),
    };
    const wrong: string[] = [];
    let checked = 0;
    for (const [what, t] of Object.entries(bad)) {
      for (const [op, call] of Object.entries(ops)) {
        const got = await outcome(() => call(t));
        checked++;
        if (got !== "Unauthorized") wrong.push(`${op} with a ${what} token: ${got}`);
      }
    }
    // Another user's valid token on demo's controller.
    const mallory = await fresh("mallory", PASSWORDS.mallory);
    for (const op of ["getSDP", "refreshAuthentication"]) {
      const got = await outcome(() => ops[op]!(mallory));
      checked++;
      if (got !== "Unauthorized") wrong.push(`${op} with another user's valid token: ${got}`);
    }
    // The same operations with a valid token of the right user work (so the refusals are the tokens').
    assert.equal(await outcome(async () => controller.refreshAuthentication(await fresh())), "ok");
    assert.equal(await outcome(async () => catalog().addTags(A, ["keep"], await fresh())), "ok");
    await controller.stop();

    const afterState = JSON.stringify(await catalog().getTile(A).then((t) => [t.info.name, [...t.info.tags]]));
    figure("security.tokens", `${Object.keys(bad).length} bad tokens × ${Object.keys(ops).length} protected operations + another user's token on a controller: ${checked} calls, ${wrong.length} not refused`);
    assert.deepEqual(wrong, []);
    assert.equal(afterState, before, "name and tags unchanged");
    assert.equal(rtp.packets, 0, "no stream started");
    assert.equal(dep.gstProcesses().length, 0);
  });

  it("unsigned, forged, stale and replayed events on every system topic are ignored and counted", async () => {
    const rogue = res.track(await startContractServer());
    const tm = (await dep.firstMain().getTopicManager())! as IceStorm.TopicManagerPrx;
    const injector = new EventInjector(tm, dep.secret);
    const prx = (s: string) => dep.communicator.stringToProxy(s);
    const rogueAuth = IceFlix.AuthenticatorPrx.uncheckedCast(prx(`auth:${rogue.ready.endpoints}`)); // isAuthorized("ok") → true
    const rogueCatalog = IceFlix.MediaCatalogPrx.uncheckedCast(prx(`catalog:${rogue.ready.endpoints}`));
    const rogueProvider = IceFlix.StreamProviderPrx.uncheckedCast(prx(`provider:${rogue.ready.endpoints}`));
    const instances = await dep.instances();
    const realAuth = instances.find((i) => i.kind === "authenticator")!;
    const realProvider = instances.find((i) => i.kind === "streaming")!;
    const dropsBefore = Object.fromEntries(["main", "auth", "catalog", "streaming"].map((c) => [c, dep.droppedEvents(c)]));

    const forgeries: Array<Exclude<Forgery, "replayed">> = ["unsigned", "otherSecret", "tampered", "stale"];
    const forgedTitle = (f: string) => `Forged Title ${f}`;
    const fakeId = (f: string) => sha256hex(`forged media ${f}`);
    const delta = (component: string, topic: string) => {
      const now = dep.droppedEvents(component)[topic] ?? {};
      const was = (dropsBefore[component] as Record<string, Record<string, number>>)[topic] ?? {};
      return Object.fromEntries(Object.entries(now).map(([r, n]) => [r, n - (was[r] ?? 0)]));
    };
    const dropped = (expectations: Array<[string, string, Record<string, number>]>) =>
      waitFor(
        "every subscriber to log its drops",
        () => expectations.map(([c, t, want]) => ({ c, t, got: delta(c, t), ok: Object.entries(want).every(([r, n]) => (delta(c, t)[r] ?? 0) >= n) })),
        (list) => list.every((x) => x.ok),
        10_000,
      );

    // AuthenticationStatus first, with a token that must outlive the check (lifetime LIFETIME_S).
    const victimToken = await fresh();
    const issuedAt = Date.now();
    for (const f of forgeries) {
      // "tampered": a revocation of another string, signed, sent as a revocation of the victim's token.
      await injector.forge({ topic: "AuthenticationStatus", operation: "revoke", args: [f === "tampered" ? "another-token" : victimToken] }, f, [victimToken]);
    }
    await dropped([
      ["auth", "AuthenticationStatus", { unsigned: 1, forged: 2, stale: 1 }],
      ["streaming", "AuthenticationStatus", { unsigned: 1, forged: 2, stale: 1 }],
    ]);
    assert.equal(await auth().isAuthorized(victimToken), true, "a forged revocation revoked nothing");
    assert.ok(Date.now() - issuedAt < LIFETIME_S * 1000, "checked within the token's lifetime");

    for (const f of forgeries) {
      // ServiceAvailability: a rogue Authenticator (approves the token "ok"), catalog and provider.
      const sa: PublishedEvent = { topic: "ServiceAvailability", operation: "authenticationService", args: [rogueAuth, `rogue-auth-${f}`] };
      await injector.forge(sa, f, [rogueAuth, `rogue-auth-${f}-altered`]);
      await injector.forge({ topic: "ServiceAvailability", operation: "catalogService", args: [rogueCatalog, `rogue-catalog-${f}`] }, f, [rogueCatalog, "x"]);
      await injector.forge({ topic: "ServiceAvailability", operation: "mediaService", args: [rogueProvider, `rogue-provider-${f}`] }, f, [rogueProvider, "x"]);
      // MediaAnnouncements: a title that does not exist, said to be served by the real provider.
      await injector.forge(
        { topic: "MediaAnnouncements", operation: "newMedia", args: [fakeId(f), f === "tampered" ? "Innocent" : forgedTitle(f), realProvider.id] },
        f,
        [fakeId(f), forgedTitle(f), realProvider.id],
      );
    }
    // Replays: a properly signed event sent twice; the first copy is legitimate (and harmless here).
    await injector.forge({ topic: "ServiceAvailability", operation: "authenticationService", args: [realAuth.proxy, realAuth.id] }, "replayed");
    await injector.forge({ topic: "MediaAnnouncements", operation: "newMedia", args: [traps.inside.A, "A.mp4", realProvider.id] }, "replayed");
    const throwaway = await fresh();
    await injector.forge({ topic: "AuthenticationStatus", operation: "revoke", args: [throwaway] }, "replayed");

    // Every subscriber dropped and counted each bad event, with its reason.
    const expectations: Array<[string, string, Record<string, number>]> = [
      // Each forgery went out as 3 ServiceAvailability events; every subscriber gates at least authenticationService.
      ["main", "ServiceAvailability", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
      ["catalog", "ServiceAvailability", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
      ["streaming", "ServiceAvailability", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
      ["catalog", "MediaAnnouncements", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
      ["auth", "AuthenticationStatus", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
      ["streaming", "AuthenticationStatus", { unsigned: 1, forged: 2, stale: 1, replayed: 1 }],
    ];
    await dropped(expectations);

    // And none had an effect.
    const listed = (await dep.instances()).map((i) => i.id);
    assert.ok(!listed.some((id) => id.startsWith("rogue-")), `Main registered a rogue instance: ${listed}`);
    for (let i = 0; i < 5; i++) {
      const handed = (await dep.main().getAuthenticator())!;
      assert.equal(handed.ice_getIdentity().name, "Authenticator", "Main hands out the real Authenticator only");
    }
    assert.equal(await outcome(() => catalog().renameTile(traps.inside.A, "pwned", "ok")), "Unauthorized", "the catalog did not learn the rogue Authenticator");
    assert.equal(await outcome(() => provider().getStream(traps.inside.A, "ok")), "Unauthorized", "the provider did not learn the rogue Authenticator");
    for (const f of forgeries) {
      assert.deepEqual(await catalog().getTilesByName(forgedTitle(f), true), [], `no forged title (${f})`);
      assert.equal(await outcome(() => catalog().getTile(fakeId(f))), "WrongMediaId");
    }
    const counts = expectations.map(([c, t]) => `${c}/${t} ${JSON.stringify(delta(c, t))}`).join("; ");
    figure("security.events", `forged events sent: 4 kinds × 5 events + 3 replayed pairs; drops logged: ${counts}`);
  });

  it("login throttling: after 4 wrong passwords the right one is refused for a while", async () => {
    const main = dep.main();
    for (let i = 0; i < 4; i++) assert.equal(await outcome(() => login(main, "victim", PASSWORDS.wrong)), "Unauthorized");
    const lockedAt = Date.now();
    assert.equal(await outcome(() => login(main, "victim", PASSWORDS.victim)), "Unauthorized", "the right password is refused right after 4 failures");
    const token = await waitFor("the lock to expire", () => login(main, "victim", PASSWORDS.victim).catch(() => ""), Boolean, 70_000);
    tokens.push(token);
    figure("security.throttling", `4 wrong passwords: the right one was refused for ${Date.now() - lockedAt} ms`);
  });

  it("no log of the deployment contains the secret, a token or a password hash", () => {
    const needles = [dep.secretHex, ...tokens.filter((t) => t.length >= 20 && !/^x+$/.test(t)), ...Object.values(PASSWORDS).map(sha256hex)];
    assert.ok(tokens.length > 10);
    assert.deepEqual(dep.logsContaining(needles), []);
  });
});
