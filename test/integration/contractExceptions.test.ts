/**
 * Spec §0 seen by a client of the original contract (issue 13, defect 1): a bad argument to an
 * operation of slice/iceflix.ice is answered with the contract's own exception wherever one fits —
 * WrongMediaId for an id of any length or shape, Unauthorized for a bad token, user name or
 * password hash — so that client can catch it; IceFlixExt::InvalidArgument (which it receives as
 * Ice::UnknownUserException) only where none fits: search text, title names, tags, ports.
 *
 * A Python client loading only iceflix.ice (test/interop/py/argument_limits_client.py) runs every
 * case against a deployment from `iceflix up`; each `it` checks one operation, including that the
 * called object still answers afterwards.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Deployment } from "../chaos/lib/deployment.js";
import { runPython } from "../helpers/python.js";
import { requireTool } from "../helpers/tools.js";

interface Case {
  op: string;
  what: string;
  got: string;
  unknown?: string;
  echoedId?: { utf16Units: number; prefixOfSent: boolean; start: string };
  result?: unknown;
  alive: boolean;
}

const W = "IceFlix.WrongMediaId";
const U = "IceFlix.Unauthorized";
/** An extension exception: what every original-contract client receives for InvalidArgument. */
const INVALID = "Ice.UnknownUserException ::IceFlixExt::InvalidArgument";
const OK = "ok";

const BAD_TOKENS = ["over-long token (5,003 chars)", "empty token", "token with NULs", "token of odd Unicode"] as const;
const badTokens = (expected: string) => Object.fromEntries(BAD_TOKENS.map((t) => [t, expected]));
const edit = (beyondLimits: string): Record<string, string> => ({
  "100,000-char id": W,
  "astral-char id": W,
  "empty id": W,
  "unknown id and a value beyond the limits": W,
  "100,000-char id and an over-long token": U,
  ...badTokens(U),
  "a value beyond the limits on a real title": beyondLimits,
});

/** Per operation: each bad input the client sends → what it must catch. */
const EXPECTED: Record<string, Record<string, string>> = {
  "Main.getAuthenticator": { "no arguments": OK },
  "Main.getCatalogService": { "no arguments": OK },
  "Authenticator.refreshAuthorization": {
    "over-long user name (100,000 chars)": U,
    "empty user name": U,
    "65-char user name": U,
    "user name with a NUL": U,
    "user name with a newline": U,
    "user name with a C1 control": U,
    "over-long hash (100,000 chars)": U,
    "empty hash": U,
    "63-char hash": U,
    "non-hex hash": U,
    "hash with a NUL": U,
  },
  "Authenticator.isAuthorized": badTokens(OK),
  "MediaCatalog.getTile": {
    "100,000-char id": W,
    "astral-char id (60,001 UTF-16 units)": W,
    "1,025-char id": W,
    "empty id": W,
    "id with a NUL": W,
    "uppercase of a real id": W,
  },
  "MediaCatalog.getTilesByName": { "513-char search text": INVALID },
  "MediaCatalog.getTilesByTags": { "1,001 tags": INVALID },
  "MediaCatalog.renameTile": edit(INVALID),
  "MediaCatalog.addTags": edit(INVALID),
  "MediaCatalog.removeTags": edit(INVALID),
  "StreamProvider.getStream": {
    "100,000-char id": W,
    "astral-char id": W,
    "empty id": W,
    "id with a NUL": W,
    "100,000-char id and an over-long token": U,
    ...badTokens(U),
  },
  "StreamProvider.isAvailable": { "100,000-char id": OK, "empty id": OK, "astral-char id": OK },
  "StreamProvider.reannounceMedia": { "no arguments": OK },
  "StreamController.getSDP": { ...badTokens(U), "over-long token and port 0": U, "port 0": INVALID, "port -1": INVALID, "port 65536": INVALID },
  "StreamController.refreshAuthentication": badTokens(U),
  "StreamController.getSyncTopic": { "no arguments": OK },
  "StreamController.stop": { "no arguments": OK },
};

/** Where a bool is the whole answer, the one it must be. */
const RESULTS: Record<string, unknown> = {
  "Authenticator.isAuthorized": false,
  "StreamProvider.isAvailable": false,
};

function caught(c: Case): string {
  return c.got === "Ice.UnknownUserException" ? `${c.got} ${c.unknown}` : c.got;
}

describe("original-contract client: bad arguments get the contract's exceptions (spec §0)", { timeout: 240_000 }, () => {
  let dep: Deployment | undefined;
  let run: { cases: Case[]; token: string; passwordHash: string } | undefined;
  let runError: unknown;

  before(async () => {
    requireTool("/usr/bin/python3");
    requireTool("ffmpeg");
    dep = await Deployment.up({ label: "contract-exceptions" });
    try {
      run = await runPython("argument_limits_client.py", [dep.mainProxy, "demo", "demo"], 150_000);
    } catch (e) {
      runError = e;
    }
  });

  after(async () => {
    await dep?.down();
  });

  function casesOf(op: string): Case[] {
    if (runError) throw runError;
    assert.ok(run, "the Python client produced no results");
    return run.cases.filter((c) => c.op === op);
  }

  for (const [op, expected] of Object.entries(EXPECTED)) {
    it(op, () => {
      const cases = casesOf(op);
      assert.deepEqual(cases.map((c) => c.what).sort(), Object.keys(expected).sort(), "every case ran");
      for (const c of cases) {
        assert.equal(caught(c), expected[c.what], `${op}(${c.what})`);
        assert.equal(c.alive, true, `${op}(${c.what}): the object answers ice_ping afterwards`);
        if (op in RESULTS) assert.equal(c.result, RESULTS[op], `${op}(${c.what})`);
        if (c.echoedId) {
          // The id comes back, cut so the reply stays small, never split inside a character.
          assert.ok(c.echoedId.utf16Units <= 256, `${op}(${c.what}) echoed ${c.echoedId.utf16Units} units`);
          assert.equal(c.echoedId.prefixOfSent, true, `${op}(${c.what}) echoed "${c.echoedId.start}…"`);
        }
      }
    });
  }

  it("every service still answers a real call afterwards, and no log holds the token or the hash", () => {
    const cases = casesOf("after");
    assert.equal(cases.length, 3);
    for (const c of cases) assert.deepEqual([c.what, c.got, c.result], [c.what, OK, true]);
    assert.deepEqual(dep!.logsContaining([run!.token, run!.passwordHash]), []);
    assert.deepEqual(dep!.errorLines(), [], "nothing logged as an unexpected failure");
  });
});
