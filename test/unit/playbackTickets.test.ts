/** Playback tickets and Range parsing of the provider's media endpoint (pure logic; the token check is a stub). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { parseRange } from "../../src/services/streaming/mediaHttp.js";
import { PlaybackTickets, TicketRefused } from "../../src/services/streaming/playbackTickets.js";
import { createLogger } from "../../src/runtime/logger.js";

const log = createLogger("test", "silent");
const MEDIA = "a".repeat(64);

function tickets(valid = true, maxTickets = 10) {
  return new PlaybackTickets({ secret: randomBytes(32), isValid: async () => valid, checkEveryMs: 60_000, maxTickets, log });
}

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    if (e instanceof TicketRefused) return e.reason;
    throw e;
  }
  return "accepted";
};

describe("parseRange", () => {
  it("reads one byte range and refuses what cannot be served", () => {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=990-5000", 1000), { start: 990, end: 999 });
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange("bytes=5-4", 1000), "unsatisfiable");
    assert.equal(parseRange(undefined, 1000), undefined);
    assert.equal(parseRange("bytes=0-1,5-6", 1000), undefined); // several: the whole file
    assert.equal(parseRange("items=0-1", 1000), undefined);
    assert.equal(parseRange("bytes=-", 1000), undefined);
  });
});

describe("PlaybackTickets", () => {
  it("accepts its own ticket for its media only; altered, unknown and expired ones are refused", () => {
    const t = tickets();
    const r = t.issue(MEDIA, { user: "alice", expiresAt: Date.now() + 60_000 }, "tok");
    assert.equal(t.check(r.ticket, MEDIA).user, "alice");
    assert.equal(refusal(() => t.check(r.ticket, "b".repeat(64))), "altered");
    const [id, mac] = r.ticket.split(".") as [string, string];
    assert.equal(refusal(() => t.check(`${id}.${mac.replace(/^./, (c) => (c === "A" ? "B" : "A"))}`)), "unknown");
    assert.equal(refusal(() => t.check("../../etc/passwd")), "malformed");
    const old = t.issue(MEDIA, { user: "alice", expiresAt: Date.now() - 1 }, "tok2");
    assert.equal(refusal(() => t.check(old.ticket)), "unknown"); // lapsed at once: forgotten
    t.clear();
  });

  it("is refreshed by a newer token of the same user only, and ends when its token is revoked", () => {
    const t = tickets();
    const r = t.issue(MEDIA, { user: "alice", expiresAt: Date.now() + 1000 }, "tok1");
    t.refresh(r.ticket, { user: "alice", expiresAt: Date.now() + 60_000 }, "tok2");
    assert.ok(t.check(r.ticket).expiresAt > Date.now() + 30_000);
    assert.equal(refusal(() => t.refresh(r.ticket, { user: "mallory", expiresAt: Date.now() + 60_000 }, "tok3")), "altered");
    t.tokenRevoked("tok1"); // the old token: nothing happens
    assert.equal(t.check(r.ticket).token, "tok2");
    t.tokenRevoked("tok2");
    assert.equal(refusal(() => t.check(r.ticket)), "unknown");
    t.clear();
  });

  it("is bound to the viewer key of its first use", () => {
    const t = tickets();
    const r = t.issue(MEDIA, { user: "alice", expiresAt: Date.now() + 60_000 }, "tok");
    assert.equal(refusal(() => t.admitViewer(r, undefined)), "other-viewer"); // no key: not bound
    assert.equal(r.viewer, undefined);
    assert.equal(t.admitViewer(r, "key-of-alice"), true);
    assert.equal(t.admitViewer(r, "key-of-alice"), false);
    assert.equal(refusal(() => t.admitViewer(r, "key-of-bob")), "other-viewer");
    assert.equal(refusal(() => t.admitViewer(r, undefined)), "other-viewer");
    assert.equal(refusal(() => t.admitViewer(r, "")), "other-viewer");
    // The binding survives a refresh (same record) and is not the key itself.
    t.refresh(r.ticket, { user: "alice", expiresAt: Date.now() + 120_000 }, "tok2");
    assert.equal(t.admitViewer(t.check(r.ticket), "key-of-alice"), false);
    assert.notEqual(r.viewer!.toString("utf8"), "key-of-alice");
    t.clear();
  });

  it("keeps at most maxTickets, forgetting the oldest", () => {
    const t = tickets(true, 3);
    const issued = Array.from({ length: 5 }, () => t.issue(MEDIA, { user: "u", expiresAt: Date.now() + 60_000 }, "tok"));
    assert.equal(t.size, 3);
    assert.equal(refusal(() => t.check(issued[0]!.ticket)), "unknown");
    assert.equal(refusal(() => t.check(issued[4]!.ticket)), "accepted");
    t.clear();
  });
});
