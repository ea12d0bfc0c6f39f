/**
 * The pieces of a stream that need no sockets (spec §6): which pipeline a probe leads to and its
 * gst-launch arguments, the SDP, the caller's route and port checks, the probe cache, the token
 * watch (lapses once per token, stale answers ignored), and opening a served file only while it
 * is what was announced.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Ice, IceFlixExt } from "../../src/slice/index.js";
import { gstLaunchArgs, planFor } from "../../src/services/streaming/pipelinePlan.js";
import { sessionDescription } from "../../src/services/streaming/sdp.js";
import { callerRoute, checkPort } from "../../src/services/streaming/rtpDestination.js";
import { MediaProbes, type MediaProbe } from "../../src/services/streaming/mediaProbe.js";
import { TokenWatch, type LapseReason } from "../../src/services/streaming/tokenWatch.js";
import { MediaUnavailableError, openServedFile } from "../../src/services/streaming/servedFile.js";
import type { MediaFile } from "../../src/services/streaming/mediaLibrary.js";

const silent = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("pipeline plan", () => {
  const mp4 = "mov,mp4,m4a,3gp,3g2,mj2";

  it("passes H.264 through with the container's demuxer, transcodes other codecs, refuses no video", () => {
    assert.deepEqual(planFor({ container: mp4, video: { codec: "h264" } }), { kind: "passthrough", demuxer: "qtdemux" });
    assert.deepEqual(planFor({ container: "matroska,webm", video: { codec: "h264" } }), { kind: "passthrough", demuxer: "matroskademux" });
    assert.deepEqual(planFor({ container: "h264", video: { codec: "h264" } }), { kind: "passthrough", demuxer: "" });
    assert.deepEqual(planFor({ container: "matroska,webm", video: { codec: "vp8" } }), { kind: "transcode" });
    assert.deepEqual(planFor({ container: "something,new", video: { codec: "h264" } }), { kind: "transcode" }, "no known demuxer: decodebin copes");
    assert.deepEqual(planFor({ container: mp4 }), { refused: "it has no video stream" });
    assert.match((planFor({ container: "", problem: "Invalid data found when processing input" }) as { refused: string }).refused, /not a media file.*Invalid data/);
  });

  it("builds gst-launch arguments from constants, numbers and the checked address only", () => {
    const to = { host: "127.0.0.1", port: 5004 };
    assert.deepEqual(gstLaunchArgs({ kind: "passthrough", demuxer: "qtdemux" }, to), [
      "filesrc", "location=/proc/self/fd/3", "!", "qtdemux", "!", "h264parse",
      "!", "rtph264pay", "config-interval=1", "pt=96", "!", "udpsink", "host=127.0.0.1", "port=5004",
    ]);
    const transcode = gstLaunchArgs({ kind: "transcode" }, { host: "::1", port: 9 });
    assert.ok(transcode.includes("decodebin") && transcode.includes("x264enc") && transcode.includes("tune=zerolatency"));
    assert.ok(transcode.includes("host=::1"));
    assert.throws(() => gstLaunchArgs({ kind: "transcode" }, { host: "127.0.0.1 ! filesink location=/x", port: 9 }), /not a numeric IP/);
    assert.throws(() => gstLaunchArgs({ kind: "transcode" }, { host: "fe80::1%lo", port: 9 }), /not a numeric IP/);
    assert.throws(() => gstLaunchArgs({ kind: "transcode" }, { host: "127.0.0.1", port: 0 }), /not a port/);
  });
});

describe("SDP", () => {
  it("has the lines ffmpeg and ffplay need, CRLF-terminated, for IPv4 and IPv6", () => {
    const sdp = sessionDescription({ destination: { host: "192.0.2.7", port: 5004 }, origin: "192.0.2.1", name: "ab12" });
    const lines = sdp.split("\r\n");
    assert.equal(lines[0], "v=0");
    assert.match(lines[1]!, /^o=- \d+ 1 IN IP4 192\.0\.2\.1$/);
    for (const l of ["s=IceFlix ab12", "c=IN IP4 192.0.2.7", "t=0 0", "m=video 5004 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1"]) {
      assert.ok(lines.includes(l), l);
    }
    assert.ok(sdp.endsWith("\r\n") && !sdp.replace(/\r\n/g, "").includes("\n"));
    const v6 = sessionDescription({ destination: { host: "::1", port: 9 }, origin: "::1", name: "x\ny" });
    assert.ok(v6.includes("c=IN IP6 ::1\r\n") && v6.includes("s=IceFlix x?y\r\n"));
  });
});

describe("caller route", () => {
  const current = (info: Ice.ConnectionInfo | null) => ({ con: info ? { getInfo: () => info } : null }) as unknown as Ice.Current;
  const tcp = (remote: string, local = "127.0.0.1") => new Ice.TCPConnectionInfo(undefined, true, "", "", local, 9097, remote, 40000);

  it("takes the caller's IP from the connection and the port from the call", () => {
    assert.deepEqual(callerRoute(current(tcp("10.1.2.3", "10.1.2.1")), 5004), { destination: { host: "10.1.2.3", port: 5004 }, origin: "10.1.2.1" });
    assert.deepEqual(callerRoute(current(tcp("::ffff:10.1.2.3")), 5004).destination, { host: "10.1.2.3", port: 5004 });
  });

  it("refuses ports outside 1–65535 and connections without a usable address with InvalidArgument", () => {
    for (const port of [0, -1, 65_536, 70_000, 1.5]) assert.throws(() => checkPort(port), IceFlixExt.InvalidArgument, String(port));
    assert.equal(checkPort(1), 1);
    assert.equal(checkPort(65_535), 65_535);
    assert.throws(() => callerRoute(current(null), 5004), IceFlixExt.InvalidArgument);
    assert.throws(() => callerRoute(current(tcp("fe80::1%eth0")), 5004), IceFlixExt.InvalidArgument);
  });
});

describe("MediaProbes", () => {
  it("probes an id once, shares a probe in flight, and forgets failures to run", async () => {
    let runs = 0;
    let fail = true;
    const probes = new MediaProbes(async (): Promise<MediaProbe> => {
      runs++;
      await sleep(10);
      if (fail) throw new Error("ffprobe is not installed");
      return { container: "matroska,webm", video: { codec: "vp8" } };
    });
    await assert.rejects(probes.get("a", 3), /not installed/);
    fail = false;
    const [x, y] = await Promise.all([probes.get("a", 3), probes.get("a", 3)]);
    assert.deepEqual(x, y);
    await probes.get("a", 3);
    assert.equal(runs, 2, "one failed run, then one shared run for three asks");
  });
});

describe("TokenWatch", () => {
  function watch(isValid: (token: string) => Promise<boolean>, checkEveryMs = 20) {
    const lapses: LapseReason[] = [];
    const w = new TokenWatch({ isValid, checkEveryMs, onLapse: (r) => lapses.push(r), log: silent });
    return { w, lapses };
  }

  it("reports expiry once, at the token's expiry", async () => {
    const { w, lapses } = watch(async () => true, 10_000);
    const expiresAt = Date.now() + 60;
    w.follow("t1", expiresAt);
    await sleep(30);
    assert.deepEqual(lapses, []);
    await sleep(80);
    assert.deepEqual(lapses, ["expired"]);
    w.revoked("t1");
    assert.deepEqual(lapses, ["expired"], "one lapse per token");
    w.follow("t2", Date.now() - 1);
    assert.deepEqual(lapses, ["expired", "expired"], "an already expired token lapses at once");
    w.stop();
  });

  it("reports revocation of its own token only, and a token the Authenticator refuses", async () => {
    const valid = new Set(["t1"]);
    const { w, lapses } = watch(async (t) => valid.has(t));
    w.follow("t1", undefined);
    w.revoked("other");
    assert.deepEqual(lapses, []);
    w.revoked("t1");
    assert.deepEqual(lapses, ["revoked"]);
    w.follow("t2", undefined); // not valid: the periodic check notices (a lost revoke event)
    const deadline = Date.now() + 2000;
    while (lapses.length < 2 && Date.now() < deadline) await sleep(10);
    assert.deepEqual(lapses, ["revoked", "invalid"]);
    w.stop();
  });

  it("ignores an answer about a token replaced meanwhile, and reports nothing once stopped", async () => {
    let answer: (ok: boolean) => void = () => {};
    const { w, lapses } = watch((t) => (t === "old" ? new Promise((r) => (answer = r)) : Promise.resolve(true)), 10);
    w.follow("old", undefined);
    await sleep(30); // the check of "old" is in flight
    w.follow("new", undefined);
    answer(false);
    await sleep(50);
    assert.deepEqual(lapses, []);
    w.stop();
    w.revoked("new");
    assert.deepEqual(lapses, []);
  });
});

describe("openServedFile", () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "iceflix-served-")));
  const outside = realpathSync(mkdtempSync(join(tmpdir(), "iceflix-outside-")));
  tmpDirs.push(dir, outside);
  const media = (name: string): MediaFile => {
    const st = statSync(join(dir, name), { bigint: true });
    return { id: "x", name, path: join(dir, name), size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
  };

  it("opens the announced file; refuses it once changed, replaced by a link, or gone", async () => {
    writeFileSync(join(dir, "a.mp4"), "content");
    const a = media("a.mp4");
    const handle = await openServedFile(a, dir);
    await handle.close();

    utimesSync(a.path, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(openServedFile(a, dir), (e: Error) => e instanceof MediaUnavailableError && /changed since it was announced/.test(e.message));

    writeFileSync(join(outside, "secret"), "content");
    rmSync(a.path);
    symlinkSync(join(outside, "secret"), a.path);
    await assert.rejects(openServedFile(a, dir), (e: Error) => e instanceof MediaUnavailableError && /ELOOP/.test(e.message) && !e.message.includes(dir));
    rmSync(a.path);
    await assert.rejects(openServedFile(a, dir), (e: Error) => e instanceof MediaUnavailableError && /ENOENT/.test(e.message));
  });

  it("refuses a file whose folder was swapped for a link leading outside", async () => {
    const sub = join(dir, "inner");
    writeFileSync(join(outside, "b.mp4"), "bb");
    symlinkSync(outside, sub);
    const st = statSync(join(outside, "b.mp4"), { bigint: true });
    const b: MediaFile = { id: "y", name: "b.mp4", path: join(sub, "b.mp4"), size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
    await assert.rejects(openServedFile(b, dir), /no longer resolves inside the media folder/);
  });
});
