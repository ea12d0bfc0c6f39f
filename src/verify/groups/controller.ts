/**
 * StreamController: getSDP shape and refusals, RTP arriving on the port and decoding as H.264
 * (ffmpeg), stop() stopping it, the sync topic, and requestAuthentication at the token's expiry.
 */
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice, IceFlix } from "../../slice/index.js";
import { pickRtpPort, sdpProblem, sdpVideoPort, writeSdpFile } from "../../mainlink/rtpReceiver.js";
import { CheckFailed, CheckSkipped, type CheckGroup, type VerifyContext } from "../types.js";
import { exceptionName, expectRaises, needEvents, needLifetime, sleep } from "../expect.js";
import { SyncRecorder } from "../events.js";
import { decodeFrames } from "../ffmpegDecode.js";
import { someTitle, token } from "./catalog.js";

/** The controller is gone (ObjectNotExistException), e.g. destroyed when its media ended. */
async function controllerGone(c: IceFlix.StreamControllerPrx): Promise<boolean> {
  try {
    await c.ice_ping();
    return false;
  } catch (e) {
    return e instanceof Ice.ObjectNotExistException;
  }
}

const DECODE_FRAMES = 10;
const DECODE_WAIT_MS = 10_000;
/** After the token's expiry, how long the controller has to publish requestAuthentication. */
const REAUTH_SLACK_MS = 5000;

/** A UDP socket on an even port counting what arrives. */
async function rtpCounter(): Promise<{ port: number; packets: () => number; close: () => void }> {
  const port = await pickRtpPort();
  const socket = dgram.createSocket("udp4");
  let n = 0;
  socket.on("message", () => n++);
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(port, "127.0.0.1", () => resolve());
  });
  return { port, packets: () => n, close: () => socket.close() };
}

async function waitPackets(count: () => number, atLeast: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (count() < atLeast && Date.now() - t0 < timeoutMs) await sleep(50);
  return Date.now() - t0;
}

async function controller(ctx: VerifyContext, fresh?: string): Promise<{ c: IceFlix.StreamControllerPrx; t: string }> {
  const m = await someTitle(ctx);
  const t = fresh ?? (await token(ctx));
  const c = await m.provider!.getStream(m.id, t);
  if (!c) throw new CheckFailed("getStream returned a null controller");
  return { c, t };
}

export const controllerGroup: CheckGroup = {
  name: "controller",
  checks: [
    {
      name: "getSDP and refreshAuthentication refuse a made-up token (Unauthorized)",
      async run(ctx) {
        const { c } = await controller(ctx);
        try {
          const bad = `made-up-${Date.now()}`;
          const ev = [
            await expectRaises("getSDP(made-up token, port)", IceFlix.Unauthorized, () => c.getSDP(bad, 40000)),
            await expectRaises("refreshAuthentication(made-up token)", IceFlix.Unauthorized, () => c.refreshAuthentication(bad)),
          ];
          return { reason: "refused", evidence: ev.join("; ") };
        } finally {
          await c.stop().catch(() => undefined);
        }
      },
    },
    {
      name: "getSDP names the port, RTP arrives there, stop() stops it",
      async run(ctx) {
        const { c, t } = await controller(ctx);
        const rtp = await rtpCounter();
        try {
          const sdp = await c.getSDP(t, rtp.port);
          const problem = sdpProblem(sdp);
          if (problem) throw new CheckFailed(problem, `getSDP(token, ${rtp.port}) -> ${JSON.stringify(sdp.slice(0, 200))}`);
          if (sdpVideoPort(sdp) !== rtp.port) throw new CheckFailed(`the SDP names port ${sdpVideoPort(sdp)}, not ${rtp.port}`);
          ctx.progress("controller: waiting for RTP packets");
          const firstMs = await waitPackets(rtp.packets, 5, 10_000);
          if (rtp.packets() < 5) throw new CheckFailed("no RTP arrived within 10 s of getSDP", `getSDP(token, ${rtp.port}) -> SDP ok; ${rtp.packets()} packets in 10 s`);
          await c.refreshAuthentication(t);
          await c.stop();
          await sleep(1000); // packets in flight and a sender's last buffers
          const atStop = rtp.packets();
          await sleep(2000);
          const late = rtp.packets() - atStop;
          const ev = `5 packets ${firstMs} ms after getSDP; ${late} packets in the 2 s from 1 s after stop()`;
          if (late > 0) throw new CheckFailed("stop() did not stop RTP", ev);
          return { reason: "SDP, RTP and stop behave", evidence: ev };
        } finally {
          rtp.close();
          await c.stop().catch(() => undefined);
        }
      },
    },
    {
      name: "RTP decodes as H.264 with ffmpeg",
      async run(ctx) {
        const { c, t } = await controller(ctx);
        const dir = mkdtempSync(join(tmpdir(), "iceflix-verify-sdp-"));
        try {
          const port = await pickRtpPort();
          const sdp = await c.getSDP(t, port);
          const problem = sdpProblem(sdp);
          if (problem) throw new CheckFailed(problem, `getSDP(token, ${port}) -> ${JSON.stringify(sdp.slice(0, 200))}`);
          // ffmpeg listens where the SDP says: a wrong port would only show as a timeout.
          if (sdpVideoPort(sdp) !== port) throw new CheckFailed(`the SDP names port ${sdpVideoPort(sdp)}, not ${port}`);
          const rtpmap = /^a=rtpmap:\d+ H264\/90000/im.exec(sdp);
          if (!rtpmap) throw new CheckFailed("the SDP does not announce H.264 (a=rtpmap:<pt> H264/90000)", JSON.stringify(sdp.slice(0, 300)));
          ctx.progress(`controller: decoding ${DECODE_FRAMES} frames with ffmpeg`);
          const r = await decodeFrames(writeSdpFile(dir, "stream", sdp), DECODE_FRAMES, DECODE_WAIT_MS);
          if (r.missing) throw new CheckSkipped("ffmpeg not found on PATH");
          const ev = `getSDP(token, ${port}) -> ${rtpmap[0]}; ffmpeg -frames:v ${DECODE_FRAMES} -> ${r.frames} frames, ${r.stoppedAtLimit ? `stopped after ${DECODE_WAIT_MS / 1000} s` : `exit ${r.code}`} in ${r.ms} ms`;
          if (r.code !== 0 || r.frames < DECODE_FRAMES) throw new CheckFailed(`ffmpeg decoded ${r.frames} of ${DECODE_FRAMES} frames within ${DECODE_WAIT_MS / 1000} s`, `${ev}${r.errorTail ? `; ${r.errorTail}` : ""}`);
          return { reason: `${DECODE_FRAMES} frames decoded in ${r.ms} ms`, evidence: ev };
        } finally {
          await c.stop().catch(() => undefined);
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
    {
      name: "getSyncTopic names a topic of its own on the broker; refreshAuthentication accepts a fresh token",
      async run(ctx) {
        const events = needEvents(ctx);
        const a = await controller(ctx);
        const b = await controller(ctx);
        const rtp = await rtpCounter();
        try {
          const [ta, tb] = [await a.c.getSyncTopic(), await b.c.getSyncTopic()];
          if (!ta) throw new CheckFailed("getSyncTopic returned an empty name");
          if (ta === tb) throw new CheckFailed("two controllers share one sync topic", `getSyncTopic() -> ${JSON.stringify(ta)} twice`);
          let when = "after getSyncTopic";
          if (!(await events.topicExists(ta))) {
            // Some implementations create it when the stream starts.
            await a.c.getSDP(a.t, rtp.port);
            when = "after getSDP";
            if (!(await events.topicExists(ta))) throw new CheckFailed(`the sync topic ${JSON.stringify(ta)} does not exist on the broker`, `getSyncTopic() -> ${JSON.stringify(ta)}; retrieve -> NoSuchTopic after getSyncTopic and getSDP`);
          }
          const fresh = await token(ctx);
          try {
            await a.c.refreshAuthentication(fresh);
          } catch (e) {
            throw new CheckFailed(`refreshAuthentication(fresh token) raised ${exceptionName(e)}`, `refreshAuthentication(fresh) -> ${exceptionName(e)}`);
          }
          return { reason: "distinct topics, on the broker, refresh accepted", evidence: `getSyncTopic() -> ${JSON.stringify(ta)} / ${JSON.stringify(tb)}; exists ${when}; refreshAuthentication(fresh) -> ok` };
        } finally {
          rtp.close();
          await Promise.allSettled([a.c.stop(), b.c.stop()]);
        }
      },
    },
    {
      name: "requestAuthentication arrives on the sync topic after the token expires",
      slow: true,
      async run(ctx) {
        const events = needEvents(ctx);
        const lifetime = needLifetime(ctx);
        const t = await token(ctx);
        const issued = Date.now();
        const { c } = await controller(ctx, t);
        const heard = new SyncRecorder();
        const rtp = await rtpCounter();
        let listening: { stop(): Promise<void> } | undefined;
        try {
          const topic = await c.getSyncTopic();
          listening = await events.listen(topic, heard);
          await c.getSDP(t, rtp.port);
          const deadline = lifetime * 1000 + REAUTH_SLACK_MS;
          ctx.progress(`controller: waiting up to ${Math.round((deadline - (Date.now() - issued)) / 1000)} s for requestAuthentication on ${topic}`);
          const hit = await heard.log.waitFor(() => true, deadline - (Date.now() - issued));
          if (!hit) {
            const evidence = `getSDP at ${rtp.port}; ${rtp.packets()} RTP packets; nothing on ${topic} for ${Date.now() - issued} ms`;
            // A title shorter than the token lifetime ends first, and its controller with it:
            // nothing is left to ask for a fresh token, so this cannot be told here.
            if (await controllerGone(c)) throw new CheckSkipped(`the stream ended before its token expired (lifetime ${lifetime} s): needs a title longer than the lifetime (${evidence})`);
            throw new CheckFailed(`no requestAuthentication within ${REAUTH_SLACK_MS / 1000} s of the token's expiry (lifetime ${lifetime} s)`, evidence);
          }
          const at = hit.at - issued;
          if (at < lifetime * 1000 - 1000) throw new CheckFailed(`requestAuthentication ${at} ms after login, before the token expired (lifetime ${lifetime} s)`, `on ${topic} at ${at} ms`);
          try {
            await c.refreshAuthentication(await token(ctx));
          } catch (e) {
            throw new CheckFailed(`refreshAuthentication(fresh token) after the request raised ${exceptionName(e)}`, `requestAuthentication at ${at} ms; refreshAuthentication -> ${exceptionName(e)}`);
          }
          return { reason: `requested ${at} ms after login (lifetime ${lifetime} s)`, evidence: `requestAuthentication on ${topic} at ${at} ms; refreshAuthentication(fresh) -> ok` };
        } finally {
          rtp.close();
          await listening?.stop();
          await c.stop().catch(() => undefined);
        }
      },
    },
  ],
};
