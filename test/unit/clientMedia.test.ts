/** The client's receiving side: UDP port pair, SDP file, player choice and progress (spec §6, §8). */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pickRtpPort, sdpProblem, sdpVideoPort, writeSdpFile } from "../../src/mainlink/rtpReceiver.js";
import { choosePlayer, lastErrorLine, playerArgs, progressFrames } from "../../src/client/player.js";
import { stallReason } from "../../src/client/playback.js";

const SDP = ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=IceFlix", "c=IN IP4 127.0.0.1", "t=0 0", "m=video 40002 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1"].join("\n");

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    s.once("error", () => {
      s.close();
      resolve(false);
    });
    s.bind(port, () => s.close(() => resolve(true)));
  });
}

describe("RTP port and SDP", () => {
  test("pickRtpPort: an even port whose pair is free", async () => {
    for (let i = 0; i < 5; i++) {
      const port = await pickRtpPort();
      assert.equal(port % 2, 0);
      assert.ok(port >= 1024 && port < 65_535);
      assert.ok(await canBind(port), `RTP port ${port} free`);
      assert.ok(await canBind(port + 1), `RTCP port ${port + 1} free`);
    }
  });

  test("pickRtpPort avoids a port that is taken", async () => {
    const port = await pickRtpPort();
    const held = dgram.createSocket("udp4");
    await new Promise<void>((r) => held.bind(port + 1, () => r()));
    try {
      for (let i = 0; i < 20; i++) {
        const p = await pickRtpPort();
        assert.notEqual(p, port, "a pair with a taken RTCP port is never returned");
      }
    } finally {
      held.close();
    }
  });

  test("the SDP's video port and what makes an SDP unusable", () => {
    assert.equal(sdpVideoPort(SDP), 40002);
    assert.equal(sdpVideoPort(SDP.replace(/\n/g, "\r\n")), 40002);
    assert.equal(sdpVideoPort("v=0"), undefined);
    assert.equal(sdpProblem(SDP), undefined);
    assert.match(sdpProblem("")!, /empty/);
    assert.match(sdpProblem("v=0\nm=audio 5 RTP/AVP 0")!, /no m=video/);
    assert.match(sdpProblem(SDP + "x".repeat(70_000))!, /64 KiB/);
  });

  test("writeSdpFile: CRLF lines, one final CRLF, owner-only", () => {
    const dir = mkdtempSync(join(tmpdir(), "client-sdp-"));
    dirs.push(dir);
    const file = writeSdpFile(dir, "s1", SDP + "\n\n");
    assert.equal(file, join(dir, "s1.sdp"));
    const text = readFileSync(file, "utf8");
    assert.equal(text, SDP.split("\n").join("\r\n") + "\r\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});

describe("player", () => {
  test("ffplay with a display; ffmpeg headless, without one, or when recording", () => {
    assert.equal(choosePlayer({ headless: false }, { DISPLAY: ":0" }).kind, "ffplay");
    assert.equal(choosePlayer({ headless: false }, { WAYLAND_DISPLAY: "wayland-0" }).kind, "ffplay");
    assert.deepEqual(choosePlayer({ headless: false }, {}), { kind: "ffmpeg", why: "headless (no display)" });
    assert.deepEqual(choosePlayer({ headless: true }, { DISPLAY: ":0" }), { kind: "ffmpeg", why: "headless" });
    assert.deepEqual(choosePlayer({ headless: false, record: "out.mkv" }, { DISPLAY: ":0" }), { kind: "ffmpeg", why: "recording to out.mkv" });
  });

  test("command lines", () => {
    const headless = playerArgs("ffmpeg", "/t/s.sdp", { title: "T" });
    assert.deepEqual(headless.slice(0, 1), ["-nostdin"]);
    assert.ok(headless.join(" ").includes("-protocol_whitelist file,udp,rtp -i /t/s.sdp -c copy -f null - -progress pipe:1"));
    const record = playerArgs("ffmpeg", "/t/s.sdp", { title: "T", record: "/t/out.mkv" });
    assert.ok(record.join(" ").includes("-i /t/s.sdp -c copy -y /t/out.mkv -progress pipe:1"));
    const window = playerArgs("ffplay", "/t/s.sdp", { title: "IceFlix: X" });
    assert.ok(window.join(" ").includes("-protocol_whitelist file,udp,rtp"));
    assert.equal(window[window.indexOf("-window_title") + 1], "IceFlix: X");
    assert.equal(window.at(-1), "/t/s.sdp");
  });

  test("progress lines and the last error", () => {
    assert.equal(progressFrames("frame=123"), 123);
    assert.equal(progressFrames("frame=  7"), 7);
    assert.equal(progressFrames("fps=25.0"), undefined);
    assert.equal(progressFrames("progress=continue"), undefined);
    assert.equal(lastErrorLine("frame=1\nfps=0\n/t/s.sdp: Invalid data found when processing input\nprogress=end\n"), "/t/s.sdp: Invalid data found when processing input");
    assert.equal(lastErrorLine("frame=1\nprogress=continue\n"), undefined);
  });

  test("a stream counts as ended after no first frame, or no new frame, for long enough", () => {
    const limits = { firstFrameMs: 30_000, idleMs: 5_000 };
    assert.equal(stallReason(10_000, 0, undefined, limits), undefined);
    assert.match(stallReason(31_000, 0, undefined, limits)!, /no video arrived within 30 s/);
    assert.equal(stallReason(40_000, 0, 36_000, limits), undefined);
    assert.equal(stallReason(42_000, 0, 36_000, limits), "the stream ended");
  });
});
