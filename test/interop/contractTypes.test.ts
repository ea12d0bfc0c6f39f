/**
 * Interop: an unmodified Python Ice 3.7 client (python3-zeroc-ice, only slice/iceflix.ice loaded)
 * against TypeScript servants served by our transport (test/helpers/contractServer.ts). Every
 * contract type crosses the wire both ways; user exceptions, request contexts, oneway and batch
 * oneway, Ice::Object operations, Ice's request failures, an unexpected servant failure (no stack,
 * no path), closing the connection. The Python script runs once (test/interop/py/contract_client.py)
 * and records everything; each `it` asserts one part of what it saw.
 *
 * Needs /usr/bin/python3 with the Ice module (scripts/setup.sh installs it). Without it the suite
 * is skipped, except under CI, where it fails.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIST, startReady, type ReadyProcess } from "../helpers/processes.js";
import { PYTHON, runPython } from "../helpers/python.js";

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why Python Ice cannot run here, or undefined when it can. */
function pythonIceProblem(): string | undefined {
  try {
    execFileSync(PYTHON, ["-c", "import Ice; print(Ice.stringVersion())"], { timeout: 15_000, stdio: "pipe" });
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === "ENOENT") return `${PYTHON} is missing (run scripts/setup.sh: it installs python3-zeroc-ice)`;
    return `${PYTHON} cannot import Ice (install python3-zeroc-ice, e.g. via scripts/setup.sh): ${String(err.stderr ?? err.message).trim().split("\n").pop()}`;
  }
}

const onCI = !!process.env.CI && !["0", "false", ""].includes(process.env.CI.toLowerCase());
const problem = pythonIceProblem();

/** The text of an exception a caller sees must not leak internals. */
function assertNoLeak(text: string, what: string): void {
  assert.doesNotMatch(text, /internal detail|secret/i, `${what}: the servant's error message leaked: ${text}`);
  assert.doesNotMatch(text, /\/[\w.-]+\//, `${what}: a path leaked: ${text}`);
  assert.doesNotMatch(text, /\.(ts|js|mjs|cjs)\b|node_modules|file:\/\//, `${what}: a file name leaked: ${text}`);
  assert.doesNotMatch(text, /\n\s+at\s|\bat \S+ \(/, `${what}: a stack trace leaked: ${text}`);
}

if (problem && onCI) {
  describe("interop: Python Ice client ↔ TypeScript servants (contract types)", () => {
    it("has /usr/bin/python3 with the Ice module (required under CI)", () => {
      assert.fail(problem);
    });
  });
} else {
  describe(
    "interop: Python Ice client ↔ TypeScript servants (contract types)",
    { skip: problem ? `Python Ice unavailable: ${problem}` : false, timeout: 60_000 },
    () => {
      let server: ReadyProcess<{ endpoints: string; pid: number }> | undefined;
      let logDir: string | undefined;
      let endpoints = "";
      let results: Record<string, Json> | undefined;
      let runError: unknown;

      before(async () => {
        logDir = mkdtempSync(join(tmpdir(), "iceflix-contract-"));
        // As startContractServer(), with the server's log kept for the requestId check.
        server = await startReady<{ endpoints: string; pid: number }>(
          process.execPath,
          [`${DIST}test/helpers/contractServer.js`],
          { logFile: join(logDir, "server.log") },
        );
        endpoints = server.ready.endpoints;
        try {
          results = await runPython<Record<string, Json>>("contract_client.py", [endpoints], 45_000);
        } catch (e) {
          runError = e;
        }
      });

      after(async () => {
        await server?.stop();
        if (logDir) rmSync(logDir, { recursive: true, force: true });
      });

      /** The recorded entry; fails with the Python run's error if it did not complete. */
      function entry(key: string): Json {
        if (runError) throw runError;
        assert.ok(results, "the Python client produced no results");
        assert.ok(key in results, `the Python client recorded no "${key}"`);
        return results[key];
      }
      /** The value of a check that must have succeeded. */
      function ok(key: string): Json {
        const e = entry(key);
        assert.ok(!("error" in e), `${key} raised ${JSON.stringify(e.error)}`);
        return e.ok;
      }
      /** An exception a check must have raised. */
      function raised(key: string): Json {
        const e = entry(key);
        assert.notEqual(e.type, "NO_EXCEPTION", `${key} raised nothing (returned ${e.result})`);
        return e;
      }
      /** The server log line containing `text`, waiting (bounded) for the log to be flushed. */
      async function serverLogLine(text: string, timeoutMs = 3000): Promise<string | undefined> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const line = readFileSync(join(logDir!, "server.log"), "utf8")
            .split("\n")
            .find((l) => l.includes(text));
          if (line || Date.now() > deadline) return line;
          await new Promise((r) => setTimeout(r, 50));
        }
      }

      describe("string", () => {
        const cases: Record<string, string> = {
          ascii: "hello",
          empty: "",
          unicode: "h\u00e9llo \u00f1 \u65e5\u672c\u8a9e \u0416 \u0639\u0631\u0628\u064a",
          emoji: "\u{1F3AC}\u{1F37F} \u{1F468}\u200D\u{1F469}\u200D\u{1F467} \u{1F1EA}\u{1F1F8}",
          combining: "e\u0301 a\u0308 n\u0303 \u0915\u094D\u0937",
          controls: "tab\tnl\nnul\u0000end",
        };
        for (const [name, s] of Object.entries(cases)) {
          it(`${name} travels unchanged both ways, code points intact`, () => {
            const r = ok(`string.${name}`);
            assert.equal(r.sent, s, "the client sent something else than expected");
            assert.deepEqual(r.reply, [s, String([...s].length), "true"]);
            assert.equal(r.equal, true);
            assert.equal(r.codepoints, [...s].length);
          });
        }
        it("1 MB (UTF-8, 1- to 4-byte characters) as argument and in the reply", () => {
          const r = ok("string.1mb");
          assert.equal(r.bytes, 1_000_000);
          assert.equal(r.reply_equal, true);
          assert.equal(r.reply_bytes, 1_000_000);
          assert.equal(r.reply_codepoints, String(r.codepoints));
          assert.equal(r.reply_exact, "false");
        });
        it("a message over Ice.MessageSizeMax is refused with a local exception; the next call works", () => {
          const e = raised("string.over_limit");
          assert.match(e.type, /^(ConnectionLostException|MemoryLimitException|ConnectionTimeoutException)$/);
          assert.deepEqual(ok("string.over_limit_after"), ["after", "5", "true"]);
        });
      });

      describe("int", () => {
        for (const port of [0, 5004, -1, 2147483647, -2147483648]) {
          it(`port ${port} reaches the servant exactly`, () => {
            assert.equal(ok(`int.${port}`), `port=${port}`);
          });
        }
        it("a value beyond int32 is refused by the client before sending", () => {
          const e = raised("int.out_of_range");
          assert.equal(e.type, "ValueError");
        });
      });

      describe("bool", () => {
        it("true and false as arguments", () => {
          assert.equal(ok("bool.arg_true"), "true");
          assert.equal(ok("bool.arg_false"), "false");
        });
        it("true and false as results (StreamProvider.isAvailable)", () => {
          assert.equal(ok("bool.ret_true"), true);
          assert.equal(ok("bool.ret_false"), false);
        });
        it("true and false as results (Authenticator.isAuthorized)", () => {
          assert.equal(ok("bool.auth_true"), true);
          assert.equal(ok("bool.auth_false"), false);
        });
      });

      describe("StringList", () => {
        it("empty", () => {
          assert.deepEqual(ok("list.empty"), ["true"]);
        });
        it("10,000 entries, order kept", () => {
          assert.deepEqual(ok("list.10000"), { len: 10_001, equal: true, last: "false" });
        });
        it("unicode and empty entries", () => {
          const r = ok("list.unicode");
          assert.deepEqual(r.reply, ["\u00f1", "", "\u{1F3AC}", "e\u0301", "", "\u65e5\u672c", "true"]);
          assert.equal(r.equal, true);
        });
        it("only empty strings", () => {
          assert.deepEqual(ok("list.empty_strings"), ["", "", "", "false"]);
        });
      });

      describe("Media / MediaInfo and the proxies they carry", () => {
        it("getTile returns the struct with its nested struct and list", () => {
          const r = ok("struct.media");
          assert.equal(r.python_type, "Media");
          assert.equal(r.info_type, "MediaInfo");
          assert.equal(r.id, "m1");
          assert.equal(r.name, "name of m1");
          assert.deepEqual(r.tags, ["tag1", "\u00f1", ""]);
        });
        it("the StreamProvider proxy inside arrives typed, with our identity and endpoints", () => {
          const r = ok("struct.media");
          assert.equal(r.provider_type, "StreamProviderPrx");
          assert.deepEqual(r.provider_identity, { name: "provider", category: "" });
          assert.equal(r.provider_str, `provider -t -e 1.1:${endpoints} -t 60000`);
        });
        it("calling through the returned proxy: isAvailable, getStream → StreamController → getSDP", () => {
          const r = ok("struct.media");
          assert.equal(r.provider_isAvailable_true, true);
          assert.equal(r.provider_isAvailable_false, false);
          assert.equal(r.controller_type, "StreamControllerPrx");
          assert.deepEqual(r.controller_identity, { name: "controller", category: "" });
          assert.equal(r.controller_sdp, "port=6000");
          assert.equal(r.controller_syncTopic, "sync-topic");
          assert.equal(r.controller_void_ops, true);
        });
        it("a unicode media id round-trips inside the struct", () => {
          assert.deepEqual(ok("struct.media_unicode_id"), { id: "\u{1F3AC} e\u0301", name: "name of \u{1F3AC} e\u0301" });
        });
        it("void operations return nothing", () => {
          assert.equal(ok("void.provider_reannounce"), true);
          assert.equal(ok("void.catalog_ops"), true);
        });
      });

      describe("user exceptions", () => {
        const expected: Array<[string, string, string | undefined]> = [
          ["exc.getTile_wrong", "WrongMediaId", "wrong"],
          ["exc.getTile_unavailable", "TemporaryUnavailable", undefined],
          ["exc.refresh_unauthorized", "Unauthorized", undefined],
          ["exc.getStream_unauthorized", "Unauthorized", undefined],
          ["exc.getStream_wrong", "WrongMediaId", "wrong"],
          ["exc.getSDP_unauthorized", "Unauthorized", undefined],
          ["exc.refreshAuthentication_unauthorized", "Unauthorized", undefined],
          ["exc.renameTile_unauthorized", "Unauthorized", undefined],
          ["exc.renameTile_wrong", "WrongMediaId", "wrong"],
          ["exc.addTags_wrong", "WrongMediaId", "wrong"],
          ["exc.removeTags_unauthorized", "Unauthorized", undefined],
        ];
        for (const [key, type, id] of expected) {
          it(`${key.slice(4)}: IceFlix.${type}${id ? ` with id=${id}` : ""}`, () => {
            const e = raised(key);
            assert.equal(e.type, type);
            assert.equal(e.ice_id, `::IceFlix::${type}`);
            assert.equal(e.id, id);
          });
        }
      });

      describe("request context and caller address", () => {
        it("an explicit context reaches the servant intact (unicode keys and values, empty value)", () => {
          const r = ok("ctx.explicit");
          assert.deepEqual(r.ctx, { k: "v", empty: "", "\u00fc\u{1F3AC}": "\u65e5\u672c e\u0301" });
          assert.equal(r.user, "user\u00f1");
          assert.equal(r.passwordHash, "hash");
        });
        it("no context → empty context", () => {
          assert.deepEqual(ok("ctx.none").ctx, {});
        });
        it("a proxy's context (ice_context) reaches the servant", () => {
          assert.deepEqual(ok("ctx.proxy").ctx, { from: "proxy" });
        });
        it("the servant sees the caller's address", () => {
          const r = ok("remote");
          assert.equal(r.echo_remote, "127.0.0.1");
          assert.equal(r.echo_remote, r.client_local_address);
        });
      });

      describe("oneway and batch oneway, proxies Python → TS", () => {
        it("the calls were sent oneway / batch oneway", () => {
          assert.deepEqual(ok("oneway.send"), { is_oneway: true });
          assert.deepEqual(ok("batch.send"), { is_batch: true, count: 50 });
        });
        it("every call arrived exactly once, in order", () => {
          const r = ok("oneway.received");
          assert.equal(r.sent_count, 55);
          assert.equal(r.received_count, 55);
          const expectedOrder = [
            "oneway-catalog",
            "oneway-auth",
            "oneway-media-\u{1F3AC}",
            "oneway-foreign",
            "oneway-null",
            ...Array.from({ length: 50 }, (_, i) => `batch-${i}`),
          ];
          assert.deepEqual(r.order, expectedOrder);
        });
        it("each reached the right operation with the proxy sent (identity and endpoints)", () => {
          const r = ok("oneway.received");
          for (const item of r.items) {
            assert.equal(item.received, true, `${item.id} not received`);
            assert.equal(item.received_kind, item.kind, `${item.id} reached the wrong operation`);
            assert.equal(item.proxy_match, true, `${item.id}: proxy changed on the way: ${item.received_proxy}`);
          }
        });
        it("our own proxies, a foreign one (category, unicode, other host, -t) and a null one", () => {
          const byId = new Map<string, Json>(ok("oneway.received").items.map((i: Json) => [i.id, i]));
          assert.equal(byId.get("oneway-catalog").received_proxy, `catalog -t -e 1.1:${endpoints} -t 60000`);
          assert.equal(byId.get("oneway-auth").received_proxy, `auth -t -e 1.1:${endpoints} -t 60000`);
          assert.equal(byId.get("oneway-media-\u{1F3AC}").received_proxy, `provider -t -e 1.1:${endpoints} -t 60000`);
          assert.equal(
            byId.get("oneway-foreign").received_proxy,
            "cat\u00e9gorie/some\u00f1name -t -e 1.1:tcp -h 10.1.2.3 -p 4321 -t 1500",
          );
          assert.equal(byId.get("oneway-null").received_proxy, "");
        });
      });

      describe("Ice::Object operations and checkedCast", () => {
        it("ice_ping", () => {
          assert.equal(ok("object.ice_ping"), true);
        });
        it("ice_isA", () => {
          assert.equal(ok("object.ice_isA_catalog"), true);
          assert.equal(ok("object.ice_isA_object"), true);
          assert.equal(ok("object.ice_isA_auth"), false);
        });
        it("ice_id of every servant", () => {
          assert.equal(ok("object.ice_id"), "::IceFlix::MediaCatalog");
          assert.deepEqual(ok("object.ice_id_all"), {
            catalog: "::IceFlix::MediaCatalog",
            auth: "::IceFlix::Authenticator",
            provider: "::IceFlix::StreamProvider",
            controller: "::IceFlix::StreamController",
            announcements: "::IceFlix::ServiceAvailability",
            received: "::IceFlix::MediaCatalog",
            slow: "::IceFlix::Authenticator",
          });
        });
        it("ice_ids", () => {
          assert.deepEqual(ok("object.ice_ids"), ["::Ice::Object", "::IceFlix::MediaCatalog"]);
        });
        it("checkedCast to the right type succeeds and the result is callable", () => {
          assert.deepEqual(ok("object.checkedCast_ok"), { type: "MediaCatalogPrx", call: ["cc", "2", "true"] });
          assert.deepEqual(ok("object.checkedCast_all"), { auth: true, provider: true, controller: true, announcements: true });
        });
        it("checkedCast to the wrong type gives None", () => {
          assert.equal(ok("object.checkedCast_wrong"), true);
        });
      });

      describe("Ice request failures", () => {
        it("ObjectNotExistException for an unknown identity (ice_ping, an operation, checkedCast)", () => {
          for (const [key, operation] of [
            ["fail.object_not_exist", "ice_ping"],
            ["fail.object_not_exist_call", "getTile"],
            ["fail.checkedCast_unknown", "ice_isA"],
          ] as const) {
            const e = raised(key);
            assert.equal(e.type, "ObjectNotExistException", key);
            assert.deepEqual(e.id, { name: "nobody", category: "" }, key);
            assert.equal(e.facet, "", key);
            assert.equal(e.operation, operation, key);
          }
        });
        it("FacetNotExistException for an unknown facet; checkedCast with it gives None", () => {
          const e = raised("fail.facet_not_exist");
          assert.equal(e.type, "FacetNotExistException");
          assert.deepEqual(e.id, { name: "catalog", category: "" });
          assert.equal(e.facet, "nofacet");
          assert.equal(e.operation, "ice_ping");
          assert.equal(ok("fail.checkedCast_facet"), true);
        });
        it("OperationNotExistException for an operation the servant lacks", () => {
          const e = raised("fail.operation_not_exist");
          assert.equal(e.type, "OperationNotExistException");
          assert.deepEqual(e.id, { name: "catalog", category: "" });
          assert.equal(e.operation, "isAuthorized");
        });
      });

      describe("an unexpected servant failure (getTile(\"crash\"))", () => {
        it("a contract-only client gets UnknownUserException naming IceFlixExt::InternalError", () => {
          const e = raised("crash.contract_only");
          assert.equal(e.type, "UnknownUserException");
          assert.equal(e.ice_id, "::Ice::UnknownUserException");
          assert.equal(e.unknown, "::IceFlixExt::InternalError");
        });
        it("its text has no stack trace, no path, no servant message", () => {
          const e = raised("crash.contract_only");
          assertNoLeak(e.str, "crash.contract_only");
          assertNoLeak(e.unknown, "crash.contract_only.unknown");
        });
        it("on the wire it is InternalError{requestId}, and that id is in the server's log with the stack", async () => {
          const r = ok("raw.crash");
          assert.equal(r.ok, false);
          assert.equal(r.reply.encaps_size_ok, true);
          assert.equal(r.reply.encoding, "1.1");
          assert.equal(r.reply.type_id, "::IceFlixExt::InternalError");
          assert.match(r.reply.first_member, UUID);
          assert.equal(r.reply.last_slice, true);
          assert.equal(r.reply.rest, 0, "InternalError carries only its requestId");
          const line = await serverLogLine(r.reply.first_member);
          assert.ok(line, `requestId ${r.reply.first_member} not in the server log`);
          assert.match(line, /unexpected failure in dispatch/);
          assert.match(line, /internal detail/, "the log line keeps the servant's message");
          assert.match(line, /"stack":"Error: internal detail[^"]*\\n\s+at /, "the log line keeps the stack");
        });
        it("the connection keeps serving after it", () => {
          assert.equal(ok("crash.after"), "m2");
        });
        it("a client that loaded iceflix-ext.ice also gets UnknownUserException (getTile does not declare InternalError)", () => {
          assert.deepEqual(ok("ext.loaded"), { InternalError: true, InvalidArgument: true });
          const e = raised("crash.with_ext");
          assert.equal(e.type, "UnknownUserException");
          assert.equal(e.unknown, "::IceFlixExt::InternalError");
          assertNoLeak(e.str, "crash.with_ext");
          const r = ok("crash.with_ext_raw");
          assert.equal(r.reply.type_id, "::IceFlixExt::InternalError");
          assert.match(r.reply.first_member, UUID);
          assert.equal(ok("crash.with_ext_after"), "m3");
        });
        it("malformed arguments are answered with IceFlixExt::InvalidArgument, not a dropped connection", () => {
          const r = ok("raw.malformed_getTile");
          assert.equal(r.ok, false);
          assert.equal(r.reply.type_id, "::IceFlixExt::InvalidArgument");
          assert.equal(r.reply.first_member, "malformed arguments for getTile");
          assertNoLeak(r.reply.first_member, "raw.malformed_getTile");
          assert.deepEqual(ok("raw.good"), { ok: true, size: 18 });
        });
        it("nothing the client recorded anywhere leaks the servant's error or a file path", () => {
          if (runError) throw runError;
          const all = JSON.stringify(results);
          assert.doesNotMatch(all, /internal detail|\/secret\/|node_modules|\.ts:\d|\.js:\d/);
        });
      });

      describe("connections", () => {
        it("300 calls in flight on one connection (AMI) all get their own reply", () => {
          assert.deepEqual(ok("ami.concurrent"), { count: 300, mismatches: [] });
        });
        it("the client closes its connection gracefully; the next call opens a new one and works", () => {
          const r = ok("connection.close_then_call");
          assert.deepEqual(r.reply, ["after-close", "11", "true"]);
          assert.equal(r.new_connection, true);
          assert.equal(r.old_state, "ConnectionManuallyClosedException graceful=True");
        });
      });
    },
  );
}
