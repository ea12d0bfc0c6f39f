/**
 * Browser playback (issue 17), on a deployment from `iceflix up`:
 *  - click-to-first-frame p50 in headless Chromium (Play clicked → the first frame presented,
 *    requestVideoFrameCallback), next to the SDP/RTP path's start (getStream + getSDP → the first
 *    RTP packet at a UDP socket) on the same title and provider;
 *  - 50 concurrent readers of one title through its ticket URL (random 256 KiB ranges): the
 *    provider's CPU (% of one core) and RSS while they read, and the bytes/s they get.
 * Writes bench/results-web.json (or --out).
 *
 *   node dist/bench/webPlayback.js [--quick] [--out FILE]
 */
import dgram from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { IceFlix } from "../src/slice/index.js";
import { passwordHash } from "../src/common/password.js";
import { Deployment } from "../test/chaos/lib/deployment.js";
import { BENCH_DIR, commonArgs, cpuSeconds, environment, figure, onCleanup, rssBytes, runScript, type BenchResult } from "./lib/common.js";

const TITLE = "Test Pattern (720p).mp4";
const READERS = 50;

function p50(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

async function rtpStartMs(provider: IceFlix.StreamProviderPrx, id: string, token: string): Promise<number | null> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const first = new Promise<number>((r) => socket.once("message", () => r(performance.now())));
  const t0 = performance.now();
  const controller = (await provider.getStream(id, token))!;
  await controller.getSDP(token, socket.address().port);
  const at = await Promise.race([first, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  await controller.stop();
  socket.close();
  return at === null ? null : at - t0;
}

async function main(): Promise<void> {
  const { quick, out: outArg } = commonArgs(process.argv.slice(2));
  const rounds = quick ? 3 : 11;
  const readSeconds = quick ? 3 : 10;
  const out = outArg ?? join(BENCH_DIR, "results-web.json");
  const startedAt = new Date().toISOString();
  const d = await Deployment.up({ label: "bench-web" });
  onCleanup(() => d.down());
  const web = readFileSync(join(d.data, "web.url"), "utf8").trim();

  // Ice side: a token and the title's provider, as any client gets them.
  const main = d.main();
  const auth = (await main.getAuthenticator())!;
  const token = await auth.refreshAuthorization("demo", passwordHash("demo"));
  const catalog = (await main.getCatalogService())!;
  const [id] = await catalog.getTilesByName(TITLE, true);
  const provider = (await catalog.getTile(id!)).provider!;
  const rtp: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const ms = await rtpStartMs(provider, id!, token);
    if (ms !== null) rtp.push(ms);
  }

  // Browser side.
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"] });
  onCleanup(() => browser.close());
  const page = await browser.newPage();
  await page.goto(web);
  await page.getByTestId("login-user").fill("demo");
  await page.getByTestId("login-password").fill("demo");
  await page.getByTestId("login-submit").click();
  await page.getByTestId("search-input").fill(TITLE);
  await page.getByTestId("search-mode").selectOption("exact");
  await page.getByTestId("search-submit").click();
  await page.getByTestId("result").first().click();
  await page.getByTestId("play").waitFor({ state: "visible" });
  const clicks: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const ms = await page.evaluate(
      () =>
        new Promise<number>((resolve, reject) => {
          const video = document.querySelector<HTMLVideoElement>("[data-testid=player]")!;
          video.removeAttribute("src");
          video.load();
          const t0 = performance.now();
          const timer = setTimeout(() => reject(new Error("no frame within 10 s")), 10_000);
          const wait = () => {
            if (!video.src) return requestAnimationFrame(wait);
            video.requestVideoFrameCallback(() => {
              clearTimeout(timer);
              resolve(performance.now() - t0);
            });
          };
          document.querySelector<HTMLButtonElement>("[data-testid=play]")!.click();
          wait();
        }),
    );
    clicks.push(ms);
  }
  await page.close();

  // 50 range readers of one ticket URL.
  const login = await fetch(new URL("/api/login", web), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: "demo", passwordHash: passwordHash("demo") }),
  });
  const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const ticket = (await (await fetch(new URL(`/api/titles/${id}/play`, web), { method: "POST", headers: { cookie } })).json()) as { url: string };
  const head = await fetch(ticket.url, { method: "HEAD" });
  const size = Number(head.headers.get("content-length"));
  // The first request bound the ticket to this reader: the others present its viewer cookie.
  const viewer = { cookie: (head.headers.get("set-cookie") ?? "").split(";")[0]! };
  const streaming = d.components().find((c) => c.kind === "streaming")!;
  const cpu0 = cpuSeconds(streaming.pid);
  const rssBefore = rssBytes(streaming.pid);
  let bytes = 0;
  let requests = 0;
  let failures = 0;
  let peakRss = rssBefore;
  const until = Date.now() + readSeconds * 1000;
  const t0 = performance.now();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(streaming.pid))), 250);
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      while (Date.now() < until) {
        const start = Math.floor(Math.random() * Math.max(1, size - 262_144));
        const r = await fetch(ticket.url, { headers: { range: `bytes=${start}-${start + 262_143}`, ...viewer } });
        const body = await r.arrayBuffer();
        requests++;
        if (r.status === 206) bytes += body.byteLength;
        else failures++;
      }
    }),
  );
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  const cpuPercent = ((cpuSeconds(streaming.pid) - cpu0) / seconds) * 100;

  const mb = (n: number) => n / 1e6;
  const figures = [
    figure({
      id: "web.clickToFirstFrame.p50",
      name: "browser: Play clicked → first frame, p50",
      value: p50(clicks),
      unit: "ms",
      baseline: { name: "SDP/RTP: getStream → first RTP packet, p50", value: p50(rtp), unit: "ms" },
      ratioLabel: "browser / RTP",
    }),
    figure({
      id: "web.rangeReaders.providerCpu",
      name: `provider CPU with ${READERS} concurrent range readers`,
      value: cpuPercent,
      unit: "% of a core",
      baseline: { name: "throughput", value: mb(bytes) / seconds, unit: "MB/s" },
      ratioLabel: "-",
      ratio: null,
    }),
    figure({
      id: "web.rangeReaders.providerRss",
      name: `provider peak RSS with ${READERS} concurrent range readers`,
      value: mb(peakRss),
      unit: "MB",
      baseline: { name: "before", value: mb(rssBefore), unit: "MB" },
      ratioLabel: "peak / before",
    }),
  ];
  for (const f of figures) console.log(`${f.name}: ${f.value?.toFixed(1)} ${f.unit} (${f.baseline.name}: ${f.baseline.value?.toFixed(1)} ${f.baseline.unit})`);
  const result: BenchResult = {
    benchmark: "web",
    title: "9. Browser playback (direct play over HTTP) vs SDP/RTP",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick,
    options: { rounds, readSeconds, readers: READERS, title: TITLE },
    environment: environment(),
    figures,
    notes: [
      "Click to first frame: performance.now() in the page from the Play click (ticket asked through the web server, then the provider's HTTP endpoint) to the first requestVideoFrameCallback.",
      "RTP: getStream + getSDP on the same provider and title to the first UDP packet at a local socket (gst passthrough by default).",
      `Range readers: ${READERS} fetch loops of random 256 KiB ranges for ${readSeconds} s through one ticket; ${requests} requests, ${failures} not 206.`,
    ],
    details: { clicksMs: clicks, rtpMs: rtp, requests, failures, bytes, seconds },
  };
  writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
  console.log(`web: wrote ${out}`);
}

await runScript("web", main);
