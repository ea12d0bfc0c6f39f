/** What the client shows: the result table, the prompt, completion, status text (spec §8). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatResultTable, moreResultsNote, shortId, terminalSafe, truncate } from "../../src/client/resultTable.js";
import { promptText } from "../../src/client/prompt.js";
import { complete } from "../../src/client/completion.js";
import { searchJson, statusText } from "../../src/client/render.js";
import { describeError } from "../../src/client/errors.js";
import { Ice, IceFlix, IceFlixExt } from "../../src/slice/index.js";

const ID = "3f2a9c0d1e4b5a6978877665544332211aabbccddeeff00112233445566778899";

describe("result table", () => {
  test("numbered rows: short id, name, tags, available", () => {
    const text = formatResultTable([
      { n: 1, id: ID, name: "Colour Bars", tags: ["demo", "test"], available: true },
      { n: 2, id: "b".repeat(64), name: "Mandelbrot (VP8)", tags: [], available: false },
      { n: 10, id: "c".repeat(64), available: false },
    ]);
    assert.equal(
      text,
      [
        " #  ID            NAME              TAGS        AVAILABLE",
        " 1  3f2a9c0d1e4b  Colour Bars       demo, test  yes",
        " 2  bbbbbbbbbbbb  Mandelbrot (VP8)              no",
        "10  cccccccccccc  (name unknown)    ?           no",
      ].join("\n"),
    );
  });

  test("no rows", () => {
    assert.equal(formatResultTable([]), "no titles found");
  });

  test("long names and tag lists are cut; short ids stay whole", () => {
    const text = formatResultTable([{ n: 1, id: "short", name: "x".repeat(100), tags: Array.from({ length: 30 }, (_, i) => `tag${i}`), available: true }]);
    const row = text.split("\n")[1]!;
    assert.match(row, /^1  short  x{45}\.\.\.  /);
    assert.ok(row.includes("..."));
    assert.ok(row.length < 130, row);
    assert.equal(shortId("abc"), "abc");
    assert.equal(shortId(ID), "3f2a9c0d1e4b");
    assert.equal(truncate("abcdef", 5), "ab...");
    assert.equal(truncate("abcde", 5), "abcde");
  });

  test("terminal escapes in names from the network are neutralised", () => {
    assert.equal(terminalSafe("a\x1b[2Jb\nc\u009bd"), "a?[2Jb?c?d");
    const text = formatResultTable([{ n: 1, id: ID, name: "evil\x1b]0;title\x07", tags: ["\x1b[31mred"], available: true }]);
    // Only the newlines between rows remain.
    assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  test("more results than shown", () => {
    assert.equal(moreResultsNote(50, 50), undefined);
    assert.match(moreResultsNote(50, 1234)!, /showing 50 of 1234/);
  });

  test("JSON results keep full ids and say null for what is unknown", () => {
    const json = searchJson({ total: 2, rows: [{ n: 1, id: ID, name: "A", tags: ["t"], available: true }, { n: 2, id: "x", available: false }] });
    assert.deepEqual(json, {
      ok: true,
      total: 2,
      results: [
        { n: 1, id: ID, name: "A", tags: ["t"], available: true },
        { n: 2, id: "x", name: null, tags: null, available: false },
      ],
    });
  });
});

describe("prompt", () => {
  test("connection, user, selection, playing", () => {
    assert.equal(promptText({ playing: false }), "iceflix offline> ");
    const link = { label: "127.0.0.1:9095", state: "connected" as const };
    assert.equal(promptText({ link, playing: false }), "iceflix 127.0.0.1:9095> ");
    assert.equal(promptText({ link, user: "demo", playing: false }), "iceflix demo@127.0.0.1:9095> ");
    assert.equal(
      promptText({ link, user: "demo", selection: { id: ID, name: "Colour Bars" }, playing: true }),
      'iceflix demo@127.0.0.1:9095 "Colour Bars" [playing]> ',
    );
    assert.equal(promptText({ link: { ...link, state: "lost" }, user: "demo", playing: false }), "iceflix demo@127.0.0.1:9095 (lost)> ");
    assert.equal(promptText({ link, selection: { id: ID }, playing: false }), 'iceflix 127.0.0.1:9095 "3f2a9c0d1e4b"> ');
    assert.equal(promptText({ link, selection: { id: ID, name: "A very long title that goes on and on" }, playing: false }), 'iceflix 127.0.0.1:9095 "A very long title that go..."> ');
  });
});

describe("tab completion", () => {
  const ctx = { tags: ["comedy", "sci fi"], resultCount: 3 };
  test("command names", () => {
    assert.deepEqual(complete("se", ctx), [["search", "select"], "se"]);
    assert.deepEqual(complete("sea", ctx), [["search "], "sea"]);
    assert.deepEqual(complete("s", ctx), [["status", "search", "select", "stop"], "s"]);
    assert.deepEqual(complete("", ctx)[0].length, 15);
    assert.deepEqual(complete("xyz", ctx), [[], "xyz"]);
    assert.deepEqual(complete("tag", ctx), [["tag_search "], "tag"]);
  });
  test("arguments: flags, tags (quoted when needed), result numbers, help topics", () => {
    assert.deepEqual(complete("tag_search --a", ctx), [["--all", "--any"], "--a"]);
    assert.deepEqual(complete("tag_search co", ctx), [["comedy"], "co"]);
    assert.deepEqual(complete("add_tags ", ctx), [["comedy", '"sci fi"'], ""]);
    assert.deepEqual(complete("select ", ctx), [["1", "2", "3"], ""]);
    assert.deepEqual(complete("help pl", ctx), [["play"], "pl"]);
    assert.deepEqual(complete("rename x", ctx), [[], "x"]);
  });
});

describe("status text and error messages", () => {
  test("status lines", () => {
    const text = statusText({
      main: { proxy: "Main:tcp -h 127.0.0.1 -p 9095", label: "127.0.0.1:9095", reachable: true, implementation: "IceFlix MainExt" },
      broker: "IceStorm/TopicManager:tcp -h 127.0.0.1 -p 10000",
      tokenLifetimeSeconds: 30,
      user: "demo",
      tokenRenewals: 2,
      nextRenewalInSeconds: 12,
      selection: { n: 1, id: ID, name: "Colour Bars", tags: [] },
      playback: { id: ID, name: "Colour Bars", player: "ffmpeg (headless)", frames: 120, seconds: 5, tokenRefreshes: 1, sync: "listening" },
    });
    assert.match(text, /^Main:\s+Main:tcp -h 127\.0\.0\.1 -p 9095 \(reachable, IceFlix MainExt\)$/m);
    assert.match(text, /^User:\s+demo \(token lifetime 30 s, next renewal in 12 s, renewed 2 times\)$/m);
    assert.match(text, /^Selected:\s+#1 "Colour Bars"/m);
    assert.match(text, /^Playing:\s+"Colour Bars": 120 frames received in 5 s/m);
    const idle = statusText({});
    assert.match(idle, /^Main:\s+not connected/m);
    assert.match(idle, /^User:\s+not logged in$/m);
    assert.match(idle, /^Playing:\s+nothing$/m);
  });

  test("every error is one short line", () => {
    assert.equal(describeError(new IceFlix.Unauthorized()), "not authorized");
    assert.equal(describeError(new IceFlix.WrongMediaId("abc")), "unknown media id abc");
    assert.equal(describeError(new IceFlix.TemporaryUnavailable()), "temporarily unavailable");
    assert.equal(describeError(new IceFlixExt.InvalidArgument("port must be between 1 and 65535")), "refused: port must be between 1 and 65535");
    assert.equal(describeError(new IceFlixExt.Busy("at the stream limit")), "busy: at the stream limit");
    assert.equal(describeError(new IceFlixExt.InternalError("r-1")), "the service failed (request id r-1)");
    assert.equal(describeError(new Ice.ConnectionRefusedException()), "connection refused");
    assert.equal(describeError(new Ice.InvocationTimeoutException()), "no answer in time");
    assert.equal(describeError(new Ice.ObjectNotExistException()), "the object no longer exists");
    // Extension exceptions of original operations arrive with their type id only.
    assert.match(describeError(new Ice.UnknownUserException("::IceFlixExt::Busy")), /^busy: .*try again/);
    assert.match(describeError(new Ice.UnknownUserException("::IceFlixExt::InvalidArgument")), /^refused: /);
    assert.equal(describeError(new Ice.UnknownUserException("::Other::Thing")), "the service refused the request (::Other::Thing)");
    assert.equal(describeError(new Error("plain")), "plain");
    assert.equal(describeError("text"), "text");
    for (const e of [new Ice.ConnectionLostException(), new Ice.MemoryLimitException(), new Ice.UnknownUserException("::X::Y")]) {
      assert.doesNotMatch(describeError(e), /\n|\bat \w/);
    }
  });
});
