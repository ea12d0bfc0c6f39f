/** StreamController: getSDP shape and refusals, RTP actually arriving on the port, stop() stopping it. */
import dgram from "node:dgram";
import { IceFlix } from "../../slice/index.js";
import { pickRtpPort, sdpProblem, sdpVideoPort } from "../../mainlink/rtpReceiver.js";
import { CheckFailed, type CheckGroup, type VerifyContext } from "../types.js";
import { expectRaises, sleep } from "../expect.js";
import { someTitle, token } from "./catalog.js";

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

async function controller(ctx: VerifyContext): Promise<{ c: IceFlix.StreamControllerPrx; t: string }> {
  const m = await someTitle(ctx);
  const t = await token(ctx);
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
  ],
};
