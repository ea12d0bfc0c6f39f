/**
 * Hostile input, web side: 1,000 malformed or oversized HTTP requests (seeded) at the web server
 * of an `iceflix up` deployment and at its provider's media endpoint — bad request lines and
 * methods, header floods, oversized URLs and bodies, non-JSON and wrongly typed bodies, bad
 * percent-encoding, forged session cookies and tickets. Each gets a 4xx with a JSON
 * `{ error }` (never a stack or a path); afterwards both still answer normal requests and the
 * demo user still logs in.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32, pick, randInt, type Rng } from "../helpers/iceFrames.js";
import { passwordHash } from "../../src/common/password.js";
import { Deployment } from "./lib/deployment.js";

const TOTAL = 1000;
const CONCURRENCY = 16;

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends raw bytes, reads one HTTP answer (bounded in time and size). */
function raw(host: string, port: number, bytes: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error("no answer within 5 s")), 5000);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      const text = data.toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m) return reject(err ?? new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 80))}`));
      resolve({ status: Number(m[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    };
    socket.on("data", (b) => {
      data = Buffer.concat([data, b]).subarray(0, 1 << 20);
      const text = data.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      const len = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && len && data.length >= end + 4 + Number(len[1])) finish();
    });
    socket.on("end", () => finish());
    socket.on("error", (e) => finish(e));
    socket.write(bytes, () => undefined);
  });
}

/** One malformed request for the web server (API paths) or the media endpoint. */
function malformed(rng: Rng, media: boolean): Buffer {
  const path = media
    ? pick(rng, ["/media/", `/media/${"x".repeat(randInt(rng, 1, 300))}`, "/media/%zz", "/media/AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA", "/../../etc/passwd", "/media/../secret"])
    : pick(rng, ["/api/login", "/api/search?q=%zz&mode=name", "/api/search?mode=nope", `/api/titles/${"f".repeat(64)}/rename`, "/api/titles/../../etc/passwd", "/api/nope", `/api/${"a".repeat(5000)}`, "/%00"]);
  const bodies = ["{", "[]", "null", '{"user":1,"passwordHash":[]}', '{"user":"demo","passwordHash":"zz"}', "x".repeat(randInt(rng, 0, 40_000)), '{"name":""}'];
  const kind = randInt(rng, 0, 7);
  const body = pick(rng, bodies);
  switch (kind) {
    case 0: // garbage request line
      return Buffer.from(`${pick(rng, ["GET", "P0ST", "", "\u0000\u0001"])} ${path} HTTP/9.9\r\n\r\n`, "latin1");
    case 1: // method the route does not take
      return Buffer.from(`${pick(rng, ["PUT", "DELETE", "PATCH", "OPTIONS", "POST", "GET"])} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    case 2: // header flood
      return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: x\r\n${"X-A: " + "b".repeat(randInt(rng, 9000, 70_000))}\r\n\r\n`);
    case 3: // bad header syntax
      return Buffer.from(`GET ${path} HTTP/1.1\r\nHost x\r\n\u0001\r\n\r\n`, "latin1");
    case 4: // lying content length
      return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n${body}`);
    case 5: // wrong content type
      return Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    case 6: // oversized or bad JSON with a forged session
      return Buffer.from(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: iceflix_session=${"z".repeat(randInt(rng, 0, 60))}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    default: // a GET with junk query
      return Buffer.from(`GET ${path}${pick(rng, ["?", "?&&=", "?q=" + "%".repeat(20)])} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  }
}

describe("web fuzz: malformed HTTP requests", { timeout: 240_000 }, () => {
  let d: Deployment;
  let web: URL;
  let mediaBase: URL;

  before(async () => {
    d = await Deployment.up({ label: "webfuzz" });
    web = new URL(readFileSync(join(d.data, "web.url"), "utf8").trim());
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const { results } = (await (await fetch(new URL("/api/search?q=&mode=name", web), { headers: { cookie } })).json()) as { results: Array<{ id: string }> };
    const play = (await (await fetch(new URL(`/api/titles/${results[0]!.id}/play`, web), { method: "POST", headers: { cookie } })).json()) as { url: string };
    mediaBase = new URL(play.url);
  });

  after(async () => {
    await d?.down();
  });

  it(`answers ${TOTAL} malformed requests with 4xx JSON and stays up`, async () => {
    const rng = mulberry32(17);
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const n = next++;
        const media = n % 4 === 3;
        const target = media ? mediaBase : web;
        const bytes = malformed(rng, media);
        const a = await raw(target.hostname, Number(target.port), bytes);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        let json: { error?: unknown } | undefined;
        try {
          json = JSON.parse(a.body) as { error?: unknown };
        } catch {
          json = undefined;
        }
        if (a.status < 400 || a.status >= 500 || typeof json?.error !== "string" || /\n\s+at |\/work\/|\/tmp\//.test(a.body)) {
          if (bad.length < 5) bad.push(`${a.status} ${a.body.slice(0, 120)} <- ${bytes.toString("latin1").slice(0, 80)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual(bad, [], `statuses: ${JSON.stringify([...statuses])}`);
    // Still up: the page, the API, a login, the media endpoint.
    assert.equal((await fetch(web)).status, 200);
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
    });
    assert.equal(login.status, 200);
    assert.equal((await fetch(mediaBase, { headers: { range: "bytes=0-9" } })).status, 206);
    console.log(`web fuzz: ${TOTAL} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
