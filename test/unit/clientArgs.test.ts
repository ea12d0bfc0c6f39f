/** The client's command lines: `iceflix client …` arguments and lines typed at the prompt (spec §8). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseClientArgs } from "../../src/client/cliArgs.js";
import { parseLine, splitWords } from "../../src/client/lineParser.js";
import { UsageError } from "../../src/client/errors.js";
import { helpText, COMMAND_NAMES } from "../../src/client/commands.js";

const usage = (fn: () => unknown, pattern?: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof UsageError && e.exitCode === 2 && (!pattern || pattern.test(e.message)));

describe("iceflix client arguments", () => {
  test("no arguments: interactive, proxy from the data folder", () => {
    const a = parseClientArgs([]);
    assert.equal(a.command, undefined);
    assert.equal(a.proxy, undefined);
  });

  test("a first word that is a command name is the command, never a proxy", () => {
    const a = parseClientArgs(["search", "colour", "bars", "--json"]);
    assert.equal(a.command, "search");
    assert.deepEqual(a.args, ["colour", "bars"]);
    assert.equal(a.json, true);
    assert.equal(a.proxy, undefined);
    assert.equal(parseClientArgs(["status"]).command, "status");
  });

  test("a proxy before the command, or through --main, in any position", () => {
    const p = "Main:tcp -h 127.0.0.1 -p 9095";
    assert.deepEqual(pick(parseClientArgs([p])), { proxy: p, command: undefined, args: [] });
    assert.deepEqual(pick(parseClientArgs([p, "status", "--json"])), { proxy: p, command: "status", args: [] });
    assert.deepEqual(pick(parseClientArgs(["search", "x", "--main", p])), { proxy: p, command: "search", args: ["x"] });
    assert.deepEqual(pick(parseClientArgs(["--main=" + p, "tag_search", "a", "b", "--any"])), { proxy: p, command: "tag_search", args: ["a", "b"] });
    assert.equal(parseClientArgs(["Main@MainAdapter"]).proxy, "Main@MainAdapter");
    usage(() => parseClientArgs([p, "--main", "Main:tcp -h 10.0.0.1 -p 1"]), /once/);
  });

  test("unknown words and options are usage errors", () => {
    usage(() => parseClientArgs(["serch", "x"]), /unknown command "serch"/);
    usage(() => parseClientArgs(["Main:tcp -h x -p 1", "bogus"]), /unknown command "bogus"/);
    usage(() => parseClientArgs(["--frobnicate"]), /unknown option --frobnicate/);
    usage(() => parseClientArgs(["Main:tcp", "-p", "9095"]), /one quoted word/);
    usage(() => parseClientArgs(["--main"]), /needs a value/);
  });

  test("options that belong to one command", () => {
    assert.equal(parseClientArgs(["search", "Colour Bars", "--exact"]).exact, true);
    assert.equal(parseClientArgs(["tag_search", "a", "--all"]).all, true);
    assert.equal(parseClientArgs(["tag_search", "a", "--any"]).all, false);
    assert.equal(parseClientArgs(["tag_search", "a"]).all, undefined);
    usage(() => parseClientArgs(["tag_search", "a", "--all", "--any"]), /not both/);
    usage(() => parseClientArgs(["status", "--exact"]), /--exact goes with search/);
    usage(() => parseClientArgs(["search", "x", "--all"]), /tag_search/);
    usage(() => parseClientArgs(["status", "--duration", "3"]), /play/);
  });

  test("interactive-only commands are refused non-interactively", () => {
    for (const c of ["select", "deselect", "stop", "exit", "logout"]) usage(() => parseClientArgs([c]), /interactive client only/);
  });

  test("numbers and seconds", () => {
    const a = parseClientArgs(["--retries", "2", "--retry-delay", "0.25", "play", "ID", "--duration=3", "--user", "demo"]);
    assert.equal(a.retries, 2);
    assert.equal(a.retryDelayMs, 250);
    assert.equal(a.durationMs, 3000);
    assert.equal(a.user, "demo");
    usage(() => parseClientArgs(["--retries", "0"]), /between 1/);
    usage(() => parseClientArgs(["--retry-delay", "soon"]), /seconds/);
    usage(() => parseClientArgs(["search", "x", "--limit", "-1"]));
  });

  test("-- ends the options (a tag may start with dashes)", () => {
    const a = parseClientArgs(["add_tags", "ID", "--user", "u", "--", "--weird", "ok"]);
    assert.deepEqual(a.args, ["ID", "--weird", "ok"]);
  });

  test("--help anywhere", () => {
    assert.equal(parseClientArgs(["--help"]).help, true);
    assert.equal(parseClientArgs(["select", "--help"]).help, true);
  });
});

function pick(a: ReturnType<typeof parseClientArgs>) {
  return { proxy: a.proxy, command: a.command, args: a.args };
}

describe("lines typed at the prompt", () => {
  test("words: quotes group, backslash escapes, the whole-quoted flag", () => {
    assert.deepEqual(splitWords(`  a  "b c"  'd "e"' f\\ g "h\\"i" x"y"  `), [
      { text: "a", quoted: false },
      { text: "b c", quoted: true },
      { text: 'd "e"', quoted: true },
      { text: "f g", quoted: false },
      { text: 'h"i', quoted: true },
      { text: "xy", quoted: false },
    ]);
    usage(() => splitWords(`search "open`), /unterminated double quote/);
    usage(() => splitWords(`search 'open`), /unterminated single quote/);
  });

  test("blank lines are nothing; unknown commands are usage errors", () => {
    assert.equal(parseLine("   "), undefined);
    usage(() => parseLine("serch x"), /unknown command "serch"/);
  });

  test("search: quoted text is an exact name, words are a substring", () => {
    assert.deepEqual(parseLine(`search "Colour Bars"`), { name: "search", text: "Colour Bars", exact: true });
    assert.deepEqual(parseLine(`search 'Colour Bars'`), { name: "search", text: "Colour Bars", exact: true });
    assert.deepEqual(parseLine(`search colour bars`), { name: "search", text: "colour bars", exact: false });
    assert.deepEqual(parseLine(`search`), { name: "search", text: "", exact: false });
    // Only a text that is entirely one quoted string is exact.
    assert.deepEqual(parseLine(`search "Colour" bars`), { name: "search", text: "Colour bars", exact: false });
  });

  test("tag_search: all by default, --all / --any, quoted flags are tags", () => {
    assert.deepEqual(parseLine("tag_search a b"), { name: "tag_search", tags: ["a", "b"], all: true });
    assert.deepEqual(parseLine("tag_search a --any b"), { name: "tag_search", tags: ["a", "b"], all: false });
    assert.deepEqual(parseLine(`tag_search "sci fi" --all`), { name: "tag_search", tags: ["sci fi"], all: true });
    assert.deepEqual(parseLine(`tag_search "--any"`), { name: "tag_search", tags: ["--any"], all: true });
    usage(() => parseLine("tag_search --any"), /usage/);
    usage(() => parseLine("tag_search a --any --all"), /not both/);
  });

  test("select takes one result number", () => {
    assert.deepEqual(parseLine("select 3"), { name: "select", index: 3 });
    usage(() => parseLine("select"), /usage: select/);
    usage(() => parseLine("select 0"));
    usage(() => parseLine("select two"));
    usage(() => parseLine("select 1 2"));
  });

  test("rename, add_tags, remove_tags, login, connect, help", () => {
    assert.deepEqual(parseLine("rename  The   New Name "), { name: "rename", newName: "The New Name" });
    assert.deepEqual(parseLine(`rename "  spaced  name "`), { name: "rename", newName: "spaced  name" });
    usage(() => parseLine("rename"), /usage: rename/);
    assert.deepEqual(parseLine(`add_tags a "b c"`), { name: "add_tags", tags: ["a", "b c"] });
    assert.deepEqual(parseLine("remove_tags a"), { name: "remove_tags", tags: ["a"] });
    usage(() => parseLine("add_tags"));
    assert.deepEqual(parseLine("login"), { name: "login" });
    assert.deepEqual(parseLine("login demo"), { name: "login", user: "demo" });
    usage(() => parseLine("login a b"));
    assert.deepEqual(parseLine("connect Main:tcp -h 127.0.0.1 -p 9095"), { name: "connect", proxy: "Main:tcp -h 127.0.0.1 -p 9095" });
    assert.deepEqual(parseLine(`connect "Main:tcp -h 127.0.0.1 -p 9095"`), { name: "connect", proxy: "Main:tcp -h 127.0.0.1 -p 9095" });
    usage(() => parseLine("connect"));
    assert.deepEqual(parseLine("help search"), { name: "help", topic: "search" });
    usage(() => parseLine("help nothing"));
  });

  test("commands without arguments refuse them", () => {
    for (const c of ["status", "logout", "deselect", "play", "stop", "exit"]) {
      assert.deepEqual(parseLine(c), { name: c });
      usage(() => parseLine(`${c} extra`), /takes no arguments/);
    }
  });

  test("help lists every command", () => {
    const text = helpText("interactive");
    for (const c of COMMAND_NAMES) assert.match(text, new RegExp(`^  ${c}\\b`, "m"));
    assert.doesNotMatch(helpText("batch"), /^  select/m);
  });
});
