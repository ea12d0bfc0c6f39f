/**
 * The provider's media endpoint binds a ticket to its first viewer (IceFlix.Stream.TicketBinding):
 * `cookie` — an HttpOnly cookie scoped to the ticket's path, required afterwards; `address` — the
 * client's IP (a second loopback address plays the other client). Real sockets, a stub token check.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { MediaHttp, type TicketBinding } from "../../src/services/streaming/mediaHttp.js";
import { PlaybackTickets } from "../../src/services/streaming/playbackTickets.js";
import { createLogger } from "../../src/runtime/logger.js";
import { getFromAddress, type AddressedAnswer } from "../helpers/httpFromAddress.js";

const log = createLogger("test", "silent");
const MEDIA = "c".repeat(64);

/** One GET from `localAddress`, with an optional Cookie header. */
const get = (url: string, localAddress: string, cookie?: string): Promise<AddressedAnswer> =>
  getFromAddress(url, localAddress, { range: "bytes=0-3", ...(cookie ? { cookie } : {}) });

for (const binding of ["cookie", "address"] as TicketBinding[]) {
  describe(`media endpoint, TicketBinding=${binding}`, () => {
    let dir: string;
    let tickets: PlaybackTickets;
    let http: MediaHttp;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "iceflix-viewer-"));
      writeFileSync(join(dir, "clip.mp4"), "0123456789");
      tickets = new PlaybackTickets({ secret: randomBytes(32), isValid: async () => true, checkEveryMs: 60_000, maxTickets: 10, log });
      http = await MediaHttp.start({
        host: "127.0.0.1",
        port: 0,
        tickets,
        binding,
        open: async () => ({ handle: await open(join(dir, "clip.mp4"), "r"), size: 10, mimeType: "video/mp4" }),
        maxConnections: 16,
        log,
      });
    });

    after(async () => {
      tickets.clear();
      await http.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves the first viewer and refuses another with 403 ticket-bound", async () => {
      const url = http.urlOf(tickets.issue(MEDIA, { user: "alice", expiresAt: Date.now() + 60_000 }, "tok").ticket);
      const first = await get(url, "127.0.0.1");
      assert.equal(first.status, 206);
      assert.equal(first.body, "0123");
      const cookie = first.setCookie?.split(";")[0];
      if (binding === "cookie") {
        assert.match(first.setCookie ?? "", new RegExp(`^iceflix_viewer=[\\w-]{43}; Path=${new URL(url).pathname.replaceAll(".", "\\.")}; HttpOnly; SameSite=Strict$`));
        assert.equal((await get(url, "127.0.0.1", cookie)).status, 206);
        const sameHostNoCookie = await get(url, "127.0.0.1");
        assert.equal(sameHostNoCookie.status, 403);
        assert.equal((JSON.parse(sameHostNoCookie.body) as { code: string }).code, "ticket-bound");
        assert.equal((await get(url, "127.0.0.1", "iceflix_viewer=" + "B".repeat(43))).status, 403);
        assert.equal((await get(url, "127.0.0.2", cookie)).status, 206); // the cookie, wherever it comes from
      } else {
        assert.equal(first.setCookie, undefined);
        assert.equal((await get(url, "127.0.0.1")).status, 206);
        const elsewhere = await get(url, "127.0.0.2");
        assert.equal(elsewhere.status, 403);
        assert.match(elsewhere.body, /"code":"ticket-bound"/);
      }
    });

    it("answers an unknown ticket as before: refused for what it is, not for its viewer", async () => {
      const r = await get(`${http.baseUrl}/media/${"A".repeat(22)}.${"A".repeat(22)}`, "127.0.0.1");
      assert.equal(r.status, 403);
      assert.match(r.body, /"code":"ticket-refused"/);
      assert.match(r.body, /\(unknown\)/);
    });
  });
}
