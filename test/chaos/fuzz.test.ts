/**
 * Hostile input, part 1 (spec §0, §10, §11), on a deployment from `iceflix up`:
 *  - Ice protocol fuzzing of every port the deployment's own services listen on (Main,
 *    Authenticator, MediaCatalog, StreamProvider; IceStorm is not ours) with the seeded frame
 *    generator: afterwards every service still answers normal calls, memory stays bounded, and no
 *    service logged an unexpected failure;
 *  - semantic fuzzing of every operation's arguments (empty, 1 MB strings, control characters,
 *    invalid UTF-8 and truncated or lying sizes in raw frames, negative and huge ports, 100k-entry
 *    lists): each call gets a declared exception or a clear InvalidArgument — never an unknown
 *    exception, a dropped connection or a dead service — and the state is unchanged.
 * Sizes: 2,000 frames per port (CI), 20,000 with CHAOS_FULL=1.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  connectValidated,
  fuzzPort,
  iceString,
  int32,
  pick,
  randInt,
  ReplyStatus,
  requestFrame,
  size,
  stringSeq,
  type FuzzTarget,
  type Rng,
  type ValidConnectionReader,
} from "../helpers/iceFrames.js";
import { requireTool } from "../helpers/tools.js";
import { login, outcome, sha256hex } from "./lib/client.js";
import { Deployment } from "./lib/deployment.js";
import { figure, mib } from "./lib/figures.js";
import { rssOf } from "./lib/procs.js";
import { SIZES } from "./lib/sizes.js";

const HOST = "127.0.0.1";
const BIG = "x".repeat(1_000_000); // 1 MB: just inside Ice's 1 MiB message limit with the rest of the request
const bool = (b: boolean) => Buffer.from([b ? 1 : 0]);
/** Raw bytes as an Ice string (size + bytes): lets a test send what no runtime would encode. */
const rawString = (bytes: Buffer) => Buffer.concat([size(bytes.length), bytes]);
const INVALID_UTF8 = [
  Buffer.from([0xff, 0xfe, 0x41]), // bytes that never occur in UTF-8
  Buffer.from([0xc0, 0x80]), // overlong NUL
  Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate encoded
  Buffer.from([0x61, 0xe2, 0x82]), // truncated sequence at the end
];

/** The services of a deployment and their identities (as their proxies show). */
const IDENTITY = { main: "Main", auth: "Authenticator", catalog: "MediaCatalog", streaming: "StreamProvider" } as const;
type Service = keyof typeof IDENTITY;

/** Well-formed requests of each service, the raw material of the frame mutators. */
function framesFor(service: Service, mediaId: string): Array<(rng: Rng) => Buffer> {
  const id = IDENTITY[service];
  const rid = (rng: Rng) => randInt(rng, 1, 1000);
  const text = (rng: Rng) => pick(rng, ["", "demo", mediaId, "x".repeat(randInt(rng, 0, 300)), "ñandú 🎬"]);
  const common = [
    (rng: Rng) => requestFrame(rid(rng), id, "ice_ping", Buffer.alloc(0), { mode: 2 }),
    (rng: Rng) => requestFrame(rid(rng), id, "ice_isA", iceString(pick(rng, ["::IceFlix::Main", "::Ice::Object", ""])), { mode: 2 }),
    (rng: Rng) => requestFrame(rid(rng), id, pick(rng, ["nope", "", "ice_ids"]), Buffer.alloc(0)),
  ];
  switch (service) {
    case "main":
      return [
        ...common,
        (rng) => requestFrame(rid(rng), id, pick(rng, ["getAuthenticator", "getCatalogService", "listInstances", "tokenLifetimeSeconds", "getTopicManager"]), Buffer.alloc(0)),
      ];
    case "auth":
      return [
        ...common,
        (rng) => requestFrame(rid(rng), id, "isAuthorized", iceString(text(rng)), { mode: 2 }),
        // Never "demo": wrong passwords would lock the demo user (throttling is per known user).
        (rng) => requestFrame(rid(rng), id, "refreshAuthorization", Buffer.concat([iceString(`fuzz-${randInt(rng, 0, 9)}`), iceString(text(rng))])),
      ];
    case "catalog":
      return [
        ...common,
        (rng) => requestFrame(rid(rng), id, "getTile", iceString(text(rng))),
        (rng) => requestFrame(rid(rng), id, "getTilesByName", Buffer.concat([iceString(text(rng)), bool(rng() < 0.5)])),
        (rng) => requestFrame(rid(rng), id, "getTilesByTags", Buffer.concat([stringSeq(["a", text(rng)]), bool(rng() < 0.5)])),
        (rng) => requestFrame(rid(rng), id, "renameTile", Buffer.concat([iceString(mediaId), iceString(text(rng)), iceString("not-a-token")])),
      ];
    case "streaming":
      return [
        ...common,
        (rng) => requestFrame(rid(rng), id, "isAvailable", iceString(text(rng))),
        (rng) => requestFrame(rid(rng), id, "getStream", Buffer.concat([iceString(text(rng)), iceString("not-a-token")])),
        (rng) => requestFrame(rid(rng), id, "reannounceMedia", Buffer.alloc(0)),
      ];
  }
}

/** What came back for a raw request: "ok", a user exception's type name, or the failure. */
async function rawOutcome(reader: ValidConnectionReader, requestId: number, frame: Buffer): Promise<string> {
  try {
    const reply = await reader.call(requestId, frame, 10_000);
    if (reply.status === ReplyStatus.Ok) return "ok";
    if (reply.status === ReplyStatus.UserException) {
      const m = /::IceFlix(?:Ext)?::(\w+)/.exec(reply.payload.toString("latin1"));
      return m ? m[1]! : "UserException(?)";
    }
    return ["Ok", "UserException", "ObjectNotExist", "FacetNotExist", "OperationNotExist", "UnknownLocalException", "UnknownUserException", "UnknownException"][reply.status] ?? `status ${reply.status}`;
  } catch (e) {
    return `no reply: ${(e as Error).message}`;
  }
}

describe("chaos: hostile input (protocol and argument fuzzing)", { timeout: SIZES.tier === "full" ? 1_200_000 : 240_000 }, () => {
  let dep: Deployment;
  let ids: string[];
  const tokens: string[] = [];
  const ports = () => ({ main: dep.ports.main, auth: dep.ports.auth, catalog: dep.ports.catalog, streaming: dep.ports.streaming });

  /** A normal session through Main: login, every service answers, a stream can be had and stopped. */
  const normalSession = async () => {
    const main = dep.main();
    const token = await login(main, "demo", "demo");
    tokens.push(token);
    const auth = (await main.getAuthenticator())!;
    assert.equal(await auth.isAuthorized(token), true);
    const catalog = (await main.getCatalogService())!;
    const found = await catalog.getTilesByName("", false);
    assert.ok(found.length >= 3);
    const tile = await catalog.getTile(found[0]!);
    assert.equal(await tile.provider!.isAvailable(found[0]!), true);
    const controller = (await tile.provider!.getStream(found[0]!, token))!;
    await controller.stop();
  };

  /** Everything a client can observe of the state: titles (names, tags), availability, a login. */
  const state = async () => {
    const catalog = dep.catalogAt(dep.ports.catalog);
    const provider = dep.providerAt(dep.ports.streaming);
    const all = (await catalog.getTilesByName("", false)).sort();
    const titles = await Promise.all(
      all.map(async (id) => {
        const t = await catalog.getTile(id);
        return { id, name: t.info.name, tags: [...t.info.tags].sort(), available: await provider.isAvailable(id) };
      }),
    );
    const instances = (await dep.instances()).map((i) => `${i.kind}:${i.id}`).sort();
    return JSON.stringify({ titles, instances });
  };

  before(async () => {
    requireTool("ffmpeg");
    dep = await Deployment.up({ label: "fuzz", props: ["--IceFlix.Announce.PeriodSeconds=1", "--IceFlix.Token.LifetimeSeconds=600"] });
    await dep.addUser("fuzz", "fuzz-password");
    ids = await dep.catalogAt(dep.ports.catalog).getTilesByName("", false);
  });

  after(async () => {
    await dep?.down();
  });

  it(`survives 2 × ${SIZES.fuzzFramesPerPort} malformed Ice frames on each of its ports, with bounded memory`, async () => {
    await normalSession();
    const before = await state();
    const lines: string[] = [];
    for (const [i, service] of (Object.keys(IDENTITY) as Service[]).entries()) {
      const pid = dep.component(service).pid;
      const target: FuzzTarget = { host: HOST, port: ports()[service], identity: IDENTITY[service], frames: framesFor(service, ids[0]!) };
      // Two rounds of the same size (other seeds): the first brings the process to its working
      // size (heap, and the Authenticator's scrypt buffers: a well-formed refreshAuthorization
      // costs a 16 MiB scrypt even for an unknown user); a leak shows as growth in the second.
      const rssStart = rssOf(pid);
      await fuzzPort(target, 0x5eed_0000 + i, SIZES.fuzzFramesPerPort, 32);
      const rssBefore = rssOf(pid);
      const t0 = Date.now();
      const stats = await fuzzPort(target, 0xf022_0000 + i, SIZES.fuzzFramesPerPort, 32);
      const ms = Date.now() - t0;
      const rssAfter = rssOf(pid);
      assert.equal(dep.component(service).pid, pid, `${service} was not restarted (it did not die)`);
      assert.equal(stats.connectFailures, 0, `${service}: every connection was accepted`);
      await normalSession();
      lines.push(
        `${service} :${target.port}: ${stats.frames} frames over ${stats.connections} connections in ${(ms / 1000).toFixed(1)} s ` +
          `(closed by the server ${stats.closedByServer}, probe answered ${stats.probeAnswered}, idle ${stats.idle}), ` +
          `RSS ${mib(rssStart)} MiB at start, ${mib(rssBefore)} after a first round, ${mib(rssAfter)} after the second`,
      );
      assert.ok(rssAfter - rssBefore < 48 * 1024 * 1024, `${service}: RSS grew from ${mib(rssBefore)} to ${mib(rssAfter)} MiB in the second round`);
      assert.ok(rssAfter - rssStart < 160 * 1024 * 1024, `${service}: RSS ${mib(rssStart)} → ${mib(rssAfter)} MiB`);
    }
    figure("fuzz.frames", lines.join("; "), { perPort: SIZES.fuzzFramesPerPort });
    assert.deepEqual(dep.errorLines().map((e) => `${e.file}: ${e.line.msg}`), [], "no unexpected failure logged");
    assert.equal(await state(), before, "titles, availability and registered instances unchanged");
    assert.equal(dep.gstProcesses().length, 0);
  });

  it("extreme arguments to every operation get declared exceptions or InvalidArgument, and change nothing", async () => {
    const main = dep.main();
    const token = await login(main, "demo", "demo");
    tokens.push(token);
    const auth = dep.authAt(dep.ports.auth);
    const catalog = dep.catalogAt(dep.ports.catalog);
    const provider = dep.providerAt(dep.ports.streaming);
    const id = ids[0]!;
    const hundredK = Array.from({ length: 100_000 }, (_, i) => `t${i}`);
    const controller = (await provider.getStream(id, token))!;
    const before = await state();
    const U = "Unauthorized";
    const W = "WrongMediaId";
    const I = "InvalidArgument";
    const cases: Array<[string, () => Promise<unknown>, string[]]> = [
      // Main (and MainExt): no arguments; they must still answer.
      ["Main.getAuthenticator", () => main.getAuthenticator(), ["ok"]],
      ["Main.getCatalogService", () => main.getCatalogService(), ["ok"]],
      ["MainExt.listInstances", () => main.listInstances(), ["ok"]],
      // Authenticator
      ["refreshAuthorization('', hash)", () => auth.refreshAuthorization("", sha256hex("x")), [U]],
      ["refreshAuthorization(1 MB, hash)", () => auth.refreshAuthorization(BIG, sha256hex("x")), [U]],
      ["refreshAuthorization('fuzz\\0', hash)", () => auth.refreshAuthorization("fuzz\u0000", sha256hex("fuzz-password")), [U]],
      ["refreshAuthorization(fuzz, '')", () => auth.refreshAuthorization("fuzz", ""), [U]],
      ["refreshAuthorization(fuzz, 1 MB)", () => auth.refreshAuthorization("fuzz", BIG), [U]],
      ["refreshAuthorization(fuzz, uppercase hash)", () => auth.refreshAuthorization("fuzz", "Z".repeat(64)), [U]],
      ["isAuthorized('')", async () => assert.equal(await auth.isAuthorized(""), false), ["ok"]],
      ["isAuthorized(1 MB)", async () => assert.equal(await auth.isAuthorized(BIG), false), ["ok"]],
      ["isAuthorized(control chars)", async () => assert.equal(await auth.isAuthorized("\u0000\u0001\n"), false), ["ok"]],
      // MediaCatalog
      ["getTile('')", () => catalog.getTile(""), [W]],
      ["getTile(1 MB)", () => catalog.getTile(BIG), [W]],
      ["getTile('../../etc/passwd')", () => catalog.getTile("../../etc/passwd"), [W]],
      ["getTilesByName(1 MB)", () => catalog.getTilesByName(BIG, false), [I]],
      ["getTilesByName(513 chars, exact)", () => catalog.getTilesByName("y".repeat(513), true), [I]],
      ["getTilesByName('\\0', exact)", () => catalog.getTilesByName("\u0000", true), ["ok", I]],
      ["getTilesByTags(100k tags)", () => catalog.getTilesByTags(hundredK, false), [I]],
      ["getTilesByTags([1 MB])", () => catalog.getTilesByTags([BIG], true), [I]],
      ["getTilesByTags([''])", () => catalog.getTilesByTags([""], true), ["ok", I]],
      ["renameTile(id, '', token)", () => catalog.renameTile(id, "", token), [I]],
      ["renameTile(id, '   ', token)", () => catalog.renameTile(id, "   ", token), [I]],
      ["renameTile(id, 1 MB, token)", () => catalog.renameTile(id, BIG, token), [I]],
      ["renameTile(id, control chars, token)", () => catalog.renameTile(id, "a\u0007b", token), [I]],
      ["renameTile(1 MB id, name, token)", () => catalog.renameTile(BIG, "x", token), [W]],
      ["renameTile('', name, token)", () => catalog.renameTile("", "x", token), [W]],
      ["renameTile(id, name, 1 MB token)", () => catalog.renameTile(id, "x", BIG), [U]],
      ["addTags(id, 100k tags, token)", () => catalog.addTags(id, hundredK, token), [I]],
      ["addTags(id, [1 MB], token)", () => catalog.addTags(id, [BIG], token), [I]],
      ["addTags(id, [''], token)", () => catalog.addTags(id, [""], token), [I]],
      ["addTags(id, 257 tags, token)", () => catalog.addTags(id, hundredK.slice(0, 257), token), [I]],
      ["addTags(id, ['ok'], '')", () => catalog.addTags(id, ["ok"], ""), [U]],
      ["removeTags(id, 100k tags, token)", () => catalog.removeTags(id, hundredK, token), [I]],
      ["removeTags(1 MB id, ['x'], token)", () => catalog.removeTags(BIG, ["x"], token), [W]],
      // StreamProvider
      ["getStream('', token)", () => provider.getStream("", token), [W]],
      ["getStream(1 MB, token)", () => provider.getStream(BIG, token), [W]],
      ["getStream('../x', token)", () => provider.getStream("../../../etc/passwd", token), [W]],
      ["getStream(id, 1 MB token)", () => provider.getStream(id, BIG), [U]],
      ["getStream(id, '')", () => provider.getStream(id, ""), [U]],
      ["isAvailable('')", async () => assert.equal(await provider.isAvailable(""), false), ["ok"]],
      ["isAvailable(1 MB)", async () => assert.equal(await provider.isAvailable(BIG), false), ["ok"]],
      // StreamController (one that has not streamed yet)
      ...[-1, 0, 65_536, 2_147_483_647, -2_147_483_648].map(
        (port) => [`getSDP(token, ${port})`, () => controller.getSDP(token, port), [I]] as [string, () => Promise<unknown>, string[]],
      ),
      ["getSDP(1 MB token, 5000)", () => controller.getSDP(BIG, 5000), [U]],
      ["getSDP('', 5000)", () => controller.getSDP("", 5000), [U]],
      ["refreshAuthentication('')", () => controller.refreshAuthentication(""), [U]],
      ["refreshAuthentication(1 MB)", () => controller.refreshAuthentication(BIG), [U]],
    ];
    const results: string[] = [];
    const wrong: string[] = [];
    const t0 = Date.now();
    for (const [what, call, allowed] of cases) {
      const got = await outcome(call);
      results.push(`${what} → ${got}`);
      if (!allowed.includes(got)) wrong.push(`${what}: got ${got}, expected ${allowed.join("|")}`);
    }
    const apiMs = Date.now() - t0;

    // Raw frames: what no Ice runtime would send.
    const rawCases: Array<[string, Service, string, Buffer, string[]]> = [];
    for (const [n, bad] of INVALID_UTF8.entries()) {
      const s = rawString(bad);
      rawCases.push(
        [`isAuthorized(invalid UTF-8 #${n})`, "auth", "isAuthorized", s, [I, "ok"]],
        [`refreshAuthorization(invalid UTF-8 #${n})`, "auth", "refreshAuthorization", Buffer.concat([s, iceString(sha256hex("x"))]), [I, U]],
        [`getTile(invalid UTF-8 #${n})`, "catalog", "getTile", s, [I, W]],
        [`getTilesByName(invalid UTF-8 #${n})`, "catalog", "getTilesByName", Buffer.concat([s, bool(false)]), [I]],
        [`getTilesByTags([invalid UTF-8 #${n}])`, "catalog", "getTilesByTags", Buffer.concat([size(1), s, bool(true)]), [I]],
        [`renameTile(id, invalid UTF-8 #${n}, token)`, "catalog", "renameTile", Buffer.concat([iceString(id), s, iceString(token)]), [I]],
        [`addTags(id, [invalid UTF-8 #${n}], token)`, "catalog", "addTags", Buffer.concat([iceString(id), size(1), s, iceString(token)]), [I]],
        [`getStream(invalid UTF-8 #${n}, token)`, "streaming", "getStream", Buffer.concat([s, iceString(token)]), [I, W]],
        [`isAvailable(invalid UTF-8 #${n})`, "streaming", "isAvailable", s, [I, "ok"]],
      );
    }
    rawCases.push(
      ["getAuthenticator(+ 100 junk bytes)", "main", "getAuthenticator", Buffer.alloc(100, 0xab), ["ok", I]],
      ["renameTile(id) (arguments missing)", "catalog", "renameTile", iceString(id), [I]],
      ["getTilesByTags(size -1)", "catalog", "getTilesByTags", Buffer.concat([Buffer.from([255]), int32(-1), bool(true)]), [I]],
      ["getTilesByTags(claims 100M entries)", "catalog", "getTilesByTags", Buffer.concat([Buffer.from([255]), int32(100_000_000), iceString("a")]), [I]],
      ["getTile(string claims 2 GiB)", "catalog", "getTile", Buffer.concat([Buffer.from([255]), int32(0x7fffffff), Buffer.from("abc")]), [I]],
      ["isAvailable(no argument)", "streaming", "isAvailable", Buffer.alloc(0), [I]],
    );
    const readers = new Map<Service, ValidConnectionReader>();
    try {
      let requestId = 1;
      for (const [what, service, op, params, allowed] of rawCases) {
        let reader = readers.get(service);
        if (!reader || reader.isClosed) readers.set(service, (reader = await connectValidated(HOST, ports()[service])));
        const got = await rawOutcome(reader, requestId, requestFrame(requestId, IDENTITY[service], op, params));
        requestId++;
        results.push(`raw ${what} → ${got}`);
        if (!allowed.includes(got)) wrong.push(`raw ${what}: got ${got}, expected ${allowed.join("|")}`);
      }
      for (const [service, reader] of readers) assert.equal(reader.isClosed, false, `${service} kept the connection of a peer sending bad arguments`);
      // A frame whose encapsulation size lies (larger than the message): the connection goes, the service stays.
      const liar = await connectValidated(HOST, dep.ports.catalog);
      const frame = requestFrame(1, IDENTITY.catalog, "getTile", iceString(id));
      const encapsAt = frame.length - (6 + 1 + id.length); // int32 size, 2 encoding bytes, then the string
      frame.writeInt32LE(0x7fffffff, encapsAt);
      const got = await rawOutcome(liar, 1, frame);
      results.push(`raw getTile(encapsulation size 2 GiB) → ${got}`);
      liar.socket.destroy();
    } finally {
      for (const r of readers.values()) r.socket.destroy();
    }

    await controller.stop();
    await normalSession();
    const afterState = await state();
    figure(
      "fuzz.arguments",
      `${cases.length} calls with extreme arguments through the npm Ice client in ${(apiMs / 1000).toFixed(1)} s and ${rawCases.length} raw ` +
        `requests (invalid UTF-8, lying sizes, missing arguments): ${wrong.length} unexpected outcomes; state unchanged: ${afterState === before}`,
      { results },
    );
    assert.deepEqual(wrong, [], results.join("\n"));
    assert.equal(afterState, before, "titles, availability and registered instances unchanged");
    assert.deepEqual(dep.errorLines().map((e) => `${e.file}: ${e.line.msg}`), [], "no unexpected failure logged");
    assert.equal(dep.gstProcesses().length, 0, "no pipeline started by a refused getSDP");
  });

  it("no log of the deployment contains the secret, a token or a password hash", () => {
    assert.deepEqual(dep.logsContaining([dep.secretHex, ...tokens, sha256hex("demo"), sha256hex("fuzz-password")]), []);
  });
});
