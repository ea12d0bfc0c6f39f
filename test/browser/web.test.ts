/**
 * The web client in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core,
 * no browser download), against a whole deployment from `iceflix up` (which starts the web server
 * and writes <data>/web.url): log in (and a wrong password refused), search by substring and
 * exactly, rename and back, add and remove a tag, play H.264 MP4 (time advances, size matches,
 * a seek to the middle plays from there) and the VP8 WebM clip; the ticket URL refused to a second
 * browser while its owner keeps seeking; an MPEG-4 Part 2 AVI made here played through its
 * browser copy (made once, then from the cache); a phone-width page without horizontal scroll; a
 * keyboard-only login, search, open and play; no console errors, logout; a ticket URL refused once
 * its token expired. Screenshots of the search page and the player go to docs/. Tokens live 6 s
 * here, so the tickets are refreshed during playback. A second deployment puts the provider at
 * another site (127.0.0.2) with IceFlix.Stream.TicketBinding=address: the page plays and seeks,
 * another address is refused.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Deployment } from "../chaos/lib/deployment.js";
import { REPO_ROOT } from "../helpers/processes.js";
import { requireTool } from "../helpers/tools.js";
import { waitFor } from "../helpers/waitFor.js";
import { getFromAddress } from "../helpers/httpFromAddress.js";
import { passwordHash } from "../../src/common/password.js";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN_SECONDS = 6;

const launchChromium = () => chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"] });

describe("web client in Chromium", { timeout: 240_000 }, () => {
  let d: Deployment;
  let browser: Browser;
  let page: Page;
  let web: string;
  const consoleErrors: string[] = [];
  /** Statuses of the provider's answers to the main page's <video> (a refused one would be 403). */
  const mediaStatuses: number[] = [];
  /** The main page's play API calls: the page asks again after a failed ticket, which would hide a refusal. */
  let playCalls = 0;

  before(async () => {
    requireTool(CHROMIUM);
    d = await Deployment.up({ label: "web", props: [`--IceFlix.Token.LifetimeSeconds=${TOKEN_SECONDS}`, "--IceFlix.Announce.PeriodSeconds=2"] });
    web = readFileSync(join(d.data, "web.url"), "utf8").trim();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    // Playwright waits 30 s by default for an element: a test that looks for a missing one
    // should fail (or move on) sooner.
    page.setDefaultTimeout(10_000);
    page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    page.on("response", (r) => /\/media\//.test(r.url()) && mediaStatuses.push(r.status()));
    page.on("request", (r) => /\/api\/titles\/\w+\/play$/.test(r.url()) && playCalls++);
    await page.goto(web);
  });

  after(async () => {
    await browser?.close();
    await d?.down();
  });

  const byId = (id: string) => page.getByTestId(id);
  const message = () => page.locator("#message").textContent();

  async function search(text: string, mode: "name" | "exact" | "all" | "any"): Promise<string[]> {
    await byId("search-input").fill(text);
    await byId("search-mode").selectOption(mode);
    await page.locator("#result-count").evaluate((e) => (e.textContent = ""));
    await byId("search-submit").click();
    await page.waitForFunction(() => document.getElementById("result-count")!.textContent !== "", null, { timeout: 10_000 });
    return byId("result").allTextContents();
  }

  async function openTitle(name: string): Promise<void> {
    const results = await search(name, "exact");
    assert.equal(results.length, 1, `one title named ${name}: ${results}`);
    await byId("result").first().click();
    await waitFor("the title view", () => byId("title-name").textContent(), (t) => t === name);
  }

  it("refuses a wrong password and logs the demo user in", async () => {
    await byId("login-user").fill("demo");
    await byId("login-password").fill("wrong");
    await byId("login-submit").click();
    await waitFor("the refusal", message, (m) => /wrong user name or password/i.test(m ?? ""));
    assert.equal(await page.locator("#search-view").isHidden(), true);
    // Chromium logs the refused login's 401 as a failed resource: expected here, so not counted.
    assert.ok(consoleErrors.every((e) => /401/.test(e)), String(consoleErrors));
    consoleErrors.length = 0;
    await byId("login-password").fill("demo");
    await byId("login-submit").click();
    await byId("search-input").waitFor({ state: "visible", timeout: 10_000 });
    // The session cookie is HttpOnly: page scripts never see it.
    assert.equal(await page.evaluate(() => document.cookie), "");
    const cookie = (await page.context().cookies()).find((c) => c.name === "iceflix_session");
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, "Strict");
  });

  it("searches by substring and exactly", async () => {
    const sub = await search("colour", "name");
    assert.equal(sub.length, 1);
    assert.match(sub[0]!, /Colour Bars\.mp4/);
    assert.equal((await search("", "name")).length, 3);
    assert.equal((await search("Colour Bars.mp4", "exact")).length, 1);
    assert.equal((await search("Colour", "exact")).length, 0);
    await page.screenshot({ path: join(REPO_ROOT, "docs", "web-search.png") });
  });

  it("renames a title and back, adds and removes a tag", async () => {
    await openTitle("Colour Bars.mp4");
    await byId("rename-input").fill("Bars renamed in Chromium");
    await byId("rename-submit").click();
    await waitFor("the new name", () => byId("title-name").textContent(), (t) => t === "Bars renamed in Chromium");
    await page.locator("#back").click();
    assert.equal((await search("Bars renamed in Chromium", "exact")).length, 1);
    await byId("result").first().click();
    await byId("rename-input").fill("Colour Bars.mp4");
    await byId("rename-submit").click();
    await waitFor("the old name back", () => byId("title-name").textContent(), (t) => t === "Colour Bars.mp4");

    await byId("tag-input").fill("browser-tag");
    await byId("tag-add").click();
    await waitFor("the tag", () => page.getByTestId("tag").allTextContents(), (t) => t.some((x) => x.startsWith("browser-tag")));
    await page.locator("#back").click();
    assert.equal((await search("browser-tag", "all")).length, 1);
    assert.equal((await search("browser-tag,nope", "any")).length, 1);
    assert.equal((await search("browser-tag,nope", "all")).length, 0);
    await openTitle("Colour Bars.mp4");
    await page.getByTestId("tag-remove").first().click();
    await waitFor("the tag gone", () => page.getByTestId("tag").count(), (n) => n === 0);
  });

  async function playAndCheck(name: string, width: number, height: number, durationS: number): Promise<void> {
    await page.locator("#show-search").click();
    await openTitle(name);
    await byId("play").click();
    const video = byId("player");
    const state = () => video.evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, err: v.error?.message ?? null }));
    const start = await waitFor(`${name} plays`, state, (s) => s.t > 0.2, 20_000);
    await waitFor(`${name} advances 2 s`, state, (s) => s.t >= start.t + 2, 20_000);
    const s = await state();
    assert.deepEqual([s.w, s.h], [width, height]);
    // A seek to the middle plays from there (the provider answers the Range requests).
    const middle = durationS / 2;
    await video.evaluate((v: HTMLVideoElement, at: number) => (v.currentTime = at), middle);
    await waitFor(`${name} plays after the seek`, state, (x) => x.t >= middle + 0.5 && x.err === null, 20_000);
  }

  it("plays H.264 MP4 with seeking (the ticket refreshed as the token renews)", async () => {
    await playAndCheck("Test Pattern (720p).mp4", 1280, 720, 10);
    await page.screenshot({ path: join(REPO_ROOT, "docs", "web-player.png") });
  });

  it("refuses the ticket URL to a second browser while its owner keeps seeking", async () => {
    const video = byId("player");
    const url = await video.evaluate((v: HTMLVideoElement) => v.currentSrc);
    const callsBefore = playCalls;
    // The provider bound the ticket to this browser with an HttpOnly cookie scoped to the ticket's path.
    const bound = (await page.context().cookies(url)).find((c) => c.name === "iceflix_viewer");
    assert.ok(bound, "the provider set its viewer cookie");
    assert.equal(bound.httpOnly, true);
    assert.equal(bound.path, new URL(url).pathname);
    assert.equal(await page.evaluate(() => document.cookie), "");

    const other: BrowserContext = await browser.newContext();
    other.setDefaultTimeout(10_000);
    try {
      const answer = await (await other.newPage()).goto(url);
      assert.equal(answer?.status(), 403);
      const body = (await answer!.json()) as { error: string; code: string };
      assert.equal(body.code, "ticket-bound");
      assert.match(body.error, /bound to the browser that first used it/);
      // The same bytes asked outside any browser (no cookie at all): refused too.
      assert.equal((await fetch(url, { headers: { range: "bytes=0-9" } })).status, 403);
    } finally {
      await other.close();
    }

    // The owner: a range request with its cookie, and seeks that keep playing.
    assert.equal((await page.context().request.get(url, { headers: { range: "bytes=0-99" } })).status(), 206);
    const state = () => video.evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, err: v.error?.message ?? null }));
    for (const at of [8, 1]) {
      // play() too: a clip that reached its end stays paused after a seek.
      await video.evaluate((v: HTMLVideoElement, to: number) => ((v.currentTime = to), void v.play()), at);
      await waitFor(`playing from ${at} s after the refusal`, state, (x) => x.t >= at + 0.5 && x.t < at + 5 && x.err === null, 20_000);
    }
    assert.equal(playCalls, callsBefore, "the page did not need a new ticket");
    assert.ok(mediaStatuses.length > 0 && mediaStatuses.every((s) => s === 200 || s === 206), String(mediaStatuses));
  });

  it("plays the VP8 WebM clip", async () => {
    await playAndCheck("Mandelbrot (VP8).webm", 320, 240, 6);
  });

  it("plays an MPEG-4 Part 2 AVI through a browser copy made once, then from the cache", async () => {
    const name = "Part 2 Clip (MPEG-4).avi";
    // Made here (not a demo clip): Chromium decodes neither the codec nor the container.
    const made = join(d.tmp("clips"), name);
    execFileSync("ffmpeg", ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=480x270:rate=25:duration=8", "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
      "-c:v", "mpeg4", "-q:v", "5", "-c:a", "pcm_s16le", "-f", "avi", made], { timeout: 60_000 });
    const settled = new Date(Date.now() - 5000);
    utimesSync(made, settled, settled);
    renameSync(made, join(d.mediaDir, name)); // whole, at once: the provider's watch announces it
    await page.locator("#show-search").click();
    await waitFor("the AVI in the catalog", () => search(name, "exact"), (r) => r.length === 1 && !/unavailable/.test(r[0]!), 30_000);
    const id = (await byId("result").first().getAttribute("data-media-id"))!;
    const copy = join(d.data, "browser-copies", `${id}.mp4`);
    assert.equal(existsSync(copy), false);
    const copyLines = (msg: string) => d.log("streaming").filter((l) => l.msg === msg && l.mediaId === id);

    const video = byId("player");
    const state = () => video.evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, err: v.error?.message ?? null }));
    const playIt = async () => {
      await openTitle(name);
      await byId("play").click();
      const start = await waitFor(`${name} plays`, state, (s) => s.t > 0.2, 90_000);
      await waitFor(`${name} advances 1.5 s`, state, (s) => s.t >= start.t + 1.5, 20_000);
      assert.deepEqual([(await state()).w, (await state()).h], [480, 270]);
      await page.locator("#show-search").click();
    };

    await playIt();
    assert.equal(copyLines("making a browser copy (H.264 MP4)").length, 1);
    assert.ok(copyLines("browser copy progress").length >= 1, "progress in the log");
    assert.equal(copyLines("browser copy ready").length, 1);
    console.log(`browser copy of the AVI: ${copyLines("browser copy ready")[0]!.ms} ms, ${copyLines("browser copy progress").length} progress line(s)`);
    const made1 = statSync(copy);
    const probe = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", copy], { encoding: "utf8" });
    assert.equal(probe.trim(), "h264,480,270");

    await playIt();
    // From the cache: no second ffmpeg run, the same file.
    assert.equal(copyLines("making a browser copy (H.264 MP4)").length, 1);
    assert.equal(copyLines("browser copy ready").length, 1);
    const made2 = statSync(copy);
    assert.deepEqual([made2.ino, made2.mtimeMs, made2.size], [made1.ino, made1.mtimeMs, made1.size]);
    // The page asked again while the copy was being made: Chromium logs those 503 (busy) answers.
    const others = consoleErrors.filter((e) => !/503/.test(e));
    assert.deepEqual(others, []);
    consoleErrors.length = 0;
  });

  it("shows the status of the deployment, with what the provider serves from its /metrics", async () => {
    await page.locator("#show-status").click(); // this page's player stops: its ticket is no longer refreshed
    await waitFor("the instances", () => byId("status").textContent(), (t) => /authenticator/.test(t ?? "") && /streaming/.test(t ?? ""));
    const serving = async () => (await byId("serving").allTextContents()).filter(Boolean);
    // A play of another session: its ticket lives while that session keeps renewing its token.
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const { results } = (await (await fetch(new URL("/api/search?q=Colour&mode=name", web), { headers: { cookie } })).json()) as { results: Array<{ id: string }> };
    assert.equal((await fetch(new URL(`/api/titles/${results[0]!.id}/play`, web), { method: "POST", headers: { cookie } })).status, 200);
    // The page refreshes the view every 5 s.
    const during = await waitFor("the provider's browser ticket in the view", serving, (t) => t.length === 1 && /^0 RTP · [1-9]\d* browser$/.test(t[0]!), 15_000);
    const scraped = readFileSync(join(d.data, "metrics.urls"), "utf8").trim().split("\n");
    const own = await Promise.all(scraped.map(async (u) => (await (await fetch(u)).text()).match(/^iceflix_playback_tickets_live (\d+)$/m)?.[1]));
    assert.ok(own.some((n) => n !== undefined && Number(n) >= 1), `the provider's own gauge: ${own}`);
    // Logged out: nobody refreshes the tickets, so they end with their tokens and the view says so.
    await fetch(new URL("/api/logout", web), { method: "POST", headers: { cookie } });
    await waitFor("no browser ticket left in the view", serving, (t) => t.length === 1 && t[0] === "0 RTP · 0 browser", (TOKEN_SECONDS + 20) * 1000);
    console.log(`status view: "${during[0]}" during the play, "0 RTP · 0 browser" after the logout`);
  });

  /** Elements wider than the viewport or past its right edge, and whether the page scrolls sideways. */
  async function overflow(p: Page): Promise<{ scrolls: boolean; past: string[] }> {
    return p.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const past = [...document.querySelectorAll<HTMLElement>("body *")]
        .filter((e) => e.offsetParent !== null || e.tagName === "VIDEO")
        .filter((e) => e.getBoundingClientRect().right > width + 0.5 || e.getBoundingClientRect().left < -0.5)
        .map((e) => `${e.tagName.toLowerCase()}#${e.id || e.dataset.testid || ""} right=${Math.round(e.getBoundingClientRect().right)}`);
      return { scrolls: document.documentElement.scrollWidth > width, past };
    });
  }

  async function inView(p: Page, testid: string, width: number): Promise<void> {
    const box = await p.getByTestId(testid).first().boundingBox();
    assert.ok(box && box.width > 0 && box.x >= 0 && box.x + box.width <= width + 0.5, `${testid} within ${width} px: ${JSON.stringify(box)}`);
  }

  it("fits a phone's width (390×844): no sideways scroll, the main controls in view", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    phone.setDefaultTimeout(10_000);
    try {
      const p = await phone.newPage();
      await p.goto(web);
      const check = async (view: string, controls: string[]) => {
        const o = await overflow(p);
        assert.deepEqual(o, { scrolls: false, past: [] }, `${view} at 390 px`);
        for (const c of controls) await inView(p, c, 390);
      };
      await p.getByTestId("login-user").waitFor({ state: "visible", timeout: 10_000 });
      await check("login", ["login-user", "login-password", "login-submit"]);
      await p.getByTestId("login-user").fill("demo");
      await p.getByTestId("login-password").fill("demo");
      await p.getByTestId("login-submit").tap();
      await p.getByTestId("search-input").waitFor({ state: "visible", timeout: 10_000 });
      await p.getByTestId("search-submit").tap();
      await waitFor("all titles listed", () => p.getByTestId("result").count(), (n) => n >= 3);
      await check("search", ["search-input", "search-mode", "search-submit", "result", "logout"]);
      await p.screenshot({ path: join(REPO_ROOT, "docs", "web-phone.png") });

      // A name and a tag with no place to break (names may be 512 characters) must wrap too.
      const long = { name: `Mandelbrot_${"x".repeat(150)}.webm`, tag: "t".repeat(120) };
      const id = (await p.getByTestId("result").filter({ hasText: "Mandelbrot" }).getAttribute("data-media-id"))!;
      const call = (path: string, body: unknown) =>
        p.evaluate(async ([u, b]) => (await fetch(u as string, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(b) })).status, [path, body] as const);
      assert.equal(await call(`/api/titles/${id}/rename`, { name: long.name }), 200);
      assert.equal(await call(`/api/titles/${id}/tags`, { add: [long.tag] }), 200);
      try {
        await p.getByTestId("search-submit").tap();
        await waitFor("the long name listed", () => p.getByTestId("result").allTextContents(), (r) => r.some((x) => x.startsWith("Mandelbrot_xxx")));
        await check("search, a long name", ["result"]);
        await p.getByTestId("result").filter({ hasText: "Mandelbrot_" }).tap();
        await waitFor("the long title open", () => p.getByTestId("title-name").textContent(), (n) => n === long.name);
        await check("title, a long name and tag", ["title-name", "tag", "tag-remove", "play"]);
      } finally {
        assert.equal(await call(`/api/titles/${id}/rename`, { name: "Mandelbrot (VP8).webm" }), 200);
        assert.equal(await call(`/api/titles/${id}/tags`, { remove: [long.tag] }), 200);
      }
      await p.locator("#show-search").tap();
      await p.getByTestId("search-submit").tap();
      await p.getByTestId("result").filter({ hasText: "Test Pattern" }).tap();
      await p.getByTestId("play").waitFor({ state: "visible", timeout: 10_000 });
      await p.getByTestId("play").tap();
      const t = () => p.getByTestId("player").evaluate((v: HTMLVideoElement) => v.currentTime);
      await waitFor("playing at phone width", t, (x) => x > 0.5, 20_000);
      await check("title", ["title-name", "rename-input", "rename-submit", "tag-input", "tag-add", "play", "player"]);
      await p.locator("#show-status").tap();
      await waitFor("the status table", () => p.getByTestId("status").textContent(), (x) => /streaming/.test(x ?? ""));
      await check("status", ["status"]);
    } finally {
      await phone.close();
    }
  });

  it("logs in, searches, opens a title and plays it with the keyboard only", async () => {
    const keys = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    keys.setDefaultTimeout(10_000);
    try {
      const p = await keys.newPage();
      await p.goto(web);
      const focused = () =>
        p.evaluate(() => {
          const e = document.activeElement as HTMLElement | null;
          return { id: e?.dataset.testid ?? e?.id ?? "", visible: e?.matches(":focus-visible") ?? false };
        });
      const tabTo = async (testid: string) => {
        for (let i = 0; i < 20; i++) {
          if ((await focused()).id === testid) return;
          await p.keyboard.press("Tab");
        }
        assert.fail(`Tab never reached ${testid} (at ${(await focused()).id})`);
      };
      await p.getByTestId("login-user").waitFor({ state: "visible", timeout: 10_000 });
      await tabTo("login-user");
      await p.keyboard.type("demo");
      await p.keyboard.press("Tab");
      assert.equal((await focused()).id, "login-password");
      await p.keyboard.type("demo");
      await p.keyboard.press("Enter");
      await waitFor("the search box focused after login", focused, (f) => f.id === "search-input");
      await p.keyboard.type("Test Pattern");
      await p.keyboard.press("Enter");
      await waitFor("one result", () => p.getByTestId("result").count(), (n) => n === 1);
      await tabTo("result");
      assert.equal((await focused()).visible, true, "the focused result shows its focus ring");
      await p.keyboard.press("Enter");
      await waitFor("the title open, Play focused", focused, (f) => f.id === "play");
      assert.equal(await p.getByTestId("title-name").textContent(), "Test Pattern (720p).mp4");
      assert.equal((await focused()).visible, true, "Play shows its focus ring");
      await p.keyboard.press("Enter");
      const t = () => p.getByTestId("player").evaluate((v: HTMLVideoElement) => v.currentTime);
      await waitFor("playing after Enter on Play", t, (x) => x > 0.5, 20_000);
    } finally {
      await keys.close();
    }
  });

  it("logs out, with no console errors on the way", async () => {
    await byId("logout").click();
    await byId("login-user").waitFor({ state: "visible", timeout: 10_000 });
    const r = await fetch(new URL("/api/session", web), { headers: { cookie: "iceflix_session=x" } });
    assert.deepEqual(await r.json(), { user: null });
    assert.deepEqual(consoleErrors, []);
  });

  it("refuses a ticket URL after its token expired, and an altered one", async () => {
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
    });
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const results = (await (await fetch(new URL("/api/search?q=Colour&mode=name", web), { headers: { cookie } })).json()) as { results: Array<{ id: string }> };
    const play = (await (await fetch(new URL(`/api/titles/${results.results[0]!.id}/play`, web), { method: "POST", headers: { cookie } })).json()) as { url: string };
    const first = await fetch(play.url, { headers: { range: "bytes=0-99" } });
    assert.equal(first.status, 206);
    const setCookie = first.headers.get("set-cookie") ?? "";
    assert.match(setCookie, new RegExp(`^iceflix_viewer=[\\w-]{43}; Path=${new URL(play.url).pathname}; HttpOnly; SameSite=Strict$`));
    const viewer = { cookie: setCookie.split(";")[0]! };
    assert.equal((await fetch(play.url, { headers: { range: "bytes=0-9", ...viewer } })).status, 206);
    const forged = await fetch(play.url, { headers: { cookie: `iceflix_viewer=${"A".repeat(43)}` } });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { code: string }).code, "ticket-bound");
    const altered = play.url.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    assert.equal((await fetch(altered, { headers: viewer })).status, 403);
    // Logged out: nobody refreshes the ticket, so it ends with its token.
    await fetch(new URL("/api/logout", web), { method: "POST", headers: { cookie } });
    const refused = await waitFor("the ticket refused", () => fetch(play.url, { headers: viewer }).then(async (r) => ({ status: r.status, body: await r.text() })), (r) => r.status === 403, (TOKEN_SECONDS + 10) * 1000);
    assert.match(refused.body, /ticket refused \((expired|unknown|invalid)\)/);
  });

  it("ends a removed user's ticket within the announce period", async () => {
    await d.addUser("viewer", "pw-viewer");
    const login = await fetch(new URL("/api/login", web), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "viewer", passwordHash: passwordHash("pw-viewer") }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const results = (await (await fetch(new URL("/api/search?q=Test&mode=name", web), { headers: { cookie } })).json()) as { results: Array<{ id: string }> };
    const play = (await (await fetch(new URL(`/api/titles/${results.results[0]!.id}/play`, web), { method: "POST", headers: { cookie } })).json()) as { url: string };
    const first = await fetch(play.url, { headers: { range: "bytes=0-9" } });
    assert.equal(first.status, 206);
    const viewer = { cookie: first.headers.get("set-cookie")!.split(";")[0]! };
    assert.equal((await fetch(play.url, { headers: { range: "bytes=0-9", ...viewer } })).status, 206);
    const removed = await d.cli(["user", "remove", "viewer"]);
    assert.equal(removed.code, 0, removed.stderr);
    const t0 = Date.now();
    // Announce period 2 s here; the web server's renewals are refused too, so nothing revives it.
    const refused = await waitFor("the removed user's ticket refused", () => fetch(play.url, { headers: viewer }).then(async (r) => ({ status: r.status, body: await r.text() })), (r) => r.status === 403, 2000 + 3000);
    assert.match(refused.body, /"code":"ticket-refused"/); // its token, not its viewer
    console.log(`removed user's ticket refused after ${Date.now() - t0} ms`);
  });
});

// The reason `address` exists (docs/web.md): a provider at another site than the page, where the
// browser sends no SameSite cookie with the <video>'s requests, so `cookie` would refuse the
// owner's second request. Here the page is at 127.0.0.1 and the provider at 127.0.0.2.
describe("web client in Chromium, the provider at another site (IceFlix.Stream.TicketBinding=address)", { timeout: 120_000 }, () => {
  let d: Deployment;
  let browser: Browser;
  let page: Page;
  const mediaStatuses: number[] = [];
  let playCalls = 0;

  before(async () => {
    requireTool(CHROMIUM);
    d = await Deployment.up({ label: "web-address", props: ["--IceFlix.Stream.HttpEndpoint=127.0.0.2:0", "--IceFlix.Stream.TicketBinding=address", "--IceFlix.Announce.PeriodSeconds=2"] });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.setDefaultTimeout(10_000);
    page.on("response", (r) => /\/media\//.test(r.url()) && mediaStatuses.push(r.status()));
    page.on("request", (r) => /\/api\/titles\/\w+\/play$/.test(r.url()) && playCalls++);
    await page.goto(readFileSync(join(d.data, "web.url"), "utf8").trim());
  });

  after(async () => {
    await browser?.close();
    await d?.down();
  });

  it("plays and seeks through the owner's address; another address is refused", async () => {
    const byId = (id: string) => page.getByTestId(id);
    await byId("login-user").fill("demo");
    await byId("login-password").fill("demo");
    await byId("login-submit").click();
    await byId("search-input").fill("Test Pattern (720p).mp4");
    await byId("search-mode").selectOption("exact");
    await byId("search-submit").click();
    await byId("result").first().click();
    await byId("play").click();
    const video = byId("player");
    const state = () => video.evaluate((v: HTMLVideoElement) => ({ t: v.currentTime, src: v.currentSrc, err: v.error?.message ?? null }));
    const playing = await waitFor("the clip plays", state, (s) => s.t > 0.5, 20_000);
    const url = new URL(playing.src);
    assert.equal(url.hostname, "127.0.0.2", `the provider's own site: ${playing.src}`);
    await video.evaluate((v: HTMLVideoElement) => ((v.currentTime = 7), void v.play()));
    await waitFor("playing from 7 s", state, (s) => s.t >= 7.5 && s.t < 12 && s.err === null, 20_000);
    // The browser's next request for the ticket, from the page's site: the one `cookie` would
    // refuse at another site. A second <video> on the page, with a query the provider ignores:
    // the player's own media cache (keyed by URL) may already hold the whole clip.
    const before = mediaStatuses.length;
    const second = await page.evaluate(async (src) => {
      const v = document.createElement("video");
      v.muted = true;
      v.src = `${src}?again`;
      document.body.append(v);
      await v.play().catch(() => undefined);
      const result = { t: v.currentTime, err: v.error?.message ?? null };
      v.remove();
      return result;
    }, playing.src);
    assert.equal(second.err, null, `the second <video>: ${JSON.stringify(second)}`);
    await waitFor("the provider's answer to the page's second request", () => mediaStatuses.length, (n) => n > before, 5000);
    assert.ok(mediaStatuses.every((s) => s === 200 || s === 206), `the provider's answers: ${mediaStatuses}`);
    assert.equal(playCalls, 1, "one ticket was enough");
    assert.deepEqual((await page.context().cookies(playing.src)).map((c) => c.name).filter((n) => n === "iceflix_viewer"), [], "no viewer cookie with `address`");

    const other = await getFromAddress(playing.src, "127.0.0.3", { range: "bytes=0-9" });
    assert.equal(other.status, 403, other.body);
    assert.equal((JSON.parse(other.body) as { code: string }).code, "ticket-bound");
  });
});
