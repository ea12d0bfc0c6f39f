/**
 * The in-process passthrough's pure parts (issue 15): the RFC 6184 packetizer (single NAL units,
 * FU-A, marker bit, SPS/PPS before IDRs, damaged samples), the one pacing scheduler (order,
 * cancel, a failing task does not stop the others), the bounded read-ahead over a fake file
 * handle, the SDP's H.264 parameters and the IceFlix.Stream.Passthrough setting.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ice } from "../../src/slice/index.js";
import { ConfigError } from "../../src/runtime/config.js";
import type { H264SampleTable } from "../../src/services/streaming/mp4SampleTable.js";
import { PacingScheduler } from "../../src/services/streaming/pacingScheduler.js";
import { CorruptSampleError, H264RtpPacketizer, nalUnits, RTP_MAX_PACKET } from "../../src/services/streaming/rtpH264Packetizer.js";
import { MAX_READ_AHEAD_MS, SampleReadAhead } from "../../src/services/streaming/sampleReadAhead.js";
import { sessionDescription } from "../../src/services/streaming/sdp.js";
import { PROP_PASSTHROUGH, streamingSettings } from "../../src/services/streaming/streamingSettings.js";

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xd9]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);

/** An AVC sample (4-byte lengths) of the given NAL units. */
const sample = (...units: Buffer[]) => Buffer.concat(units.flatMap((u) => [Buffer.from([0, 0, 0, 0].map((_, i) => (u.length >>> (8 * (3 - i))) & 0xff)), u]));
const nal = (type: number, length: number, nri = 3) => Buffer.concat([Buffer.from([(nri << 5) | type]), Buffer.alloc(length - 1, type)]);

const packetizer = () => new H264RtpPacketizer({ payloadType: 96, ssrc: 0x1234_5678, sequence: 65_534, sps: [SPS], pps: [PPS], nalLengthSize: 4 });
const seq = (p: Buffer) => p.readUInt16BE(2);
const marker = (p: Buffer) => (p[1]! & 0x80) !== 0;
const nalType = (p: Buffer) => p[12]! & 0x1f;

describe("H264RtpPacketizer (RFC 6184, packetization-mode=1)", () => {
  test("a first access unit gets SPS and PPS; small units go as single NAL unit packets; the marker ends the access unit", () => {
    const p = packetizer();
    const packets = p.packetize(sample(nal(1, 100)), 90_000);
    assert.deepEqual(packets.map(nalType), [7, 8, 1]);
    assert.deepEqual(packets.map(marker), [false, false, true]);
    assert.deepEqual(packets.map(seq), [65_534, 65_535, 0], "sequence numbers wrap at 2^16");
    for (const pk of packets) {
      assert.equal(pk[0], 0x80, "RTP version 2");
      assert.equal(pk[1]! & 0x7f, 96);
      assert.equal(pk.readUInt32BE(4), 90_000);
      assert.equal(pk.readUInt32BE(8), 0x1234_5678);
    }
    assert.deepEqual(packets[0]!.subarray(12), SPS);
    assert.equal(packets[2]!.length, 12 + 100);
    // Later non-IDR units: no parameter sets.
    assert.deepEqual(p.packetize(sample(nal(1, 50)), 93_600).map(nalType), [1]);
  });

  test("every IDR gets SPS and PPS before it (unless the sample has its own); timestamps wrap at 2^32", () => {
    const p = packetizer();
    p.packetize(sample(nal(1, 10)), 0);
    assert.deepEqual(p.packetize(sample(nal(6, 20), nal(5, 30)), 2 ** 32 + 5).map(nalType), [7, 8, 6, 5]);
    assert.equal(p.packetize(sample(nal(5, 30)), 2 ** 32 + 5)[0]!.readUInt32BE(4), 5);
    const inBand = p.packetize(sample(SPS, PPS, nal(5, 30)), 0);
    assert.deepEqual(inBand.map(nalType), [7, 8, 5], "not sent twice");
  });

  test("a unit larger than the MTU budget is cut into FU-A fragments that put it back together", () => {
    const p = packetizer();
    p.packetize(sample(nal(1, 10)), 0);
    const big = Buffer.concat([Buffer.from([0x65]), Buffer.from(Array.from({ length: 5000 }, (_, i) => i & 0xff))]);
    const packets = p.packetize(sample(big, nal(1, 10)), 7);
    const fragments = packets.filter((pk) => nalType(pk) === 28);
    assert.ok(fragments.length >= 4);
    assert.ok(packets.every((pk) => pk.length <= RTP_MAX_PACKET), `largest ${Math.max(...packets.map((pk) => pk.length))}`);
    assert.deepEqual(fragments.map((f) => f[12]), fragments.map(() => (0x65 & 0xe0) | 28), "FU indicator: the unit's NRI, type 28");
    assert.deepEqual(fragments.map((f) => f[13]! & 0xc0), [0x80, ...fragments.slice(1, -1).map(() => 0), 0x40], "start and end bits");
    assert.ok(fragments.every((f) => (f[13]! & 0x1f) === 5), "the fragmented unit's type");
    const rebuilt = Buffer.concat([Buffer.from([(fragments[0]![12]! & 0xe0) | (fragments[0]![13]! & 0x1f)]), ...fragments.map((f) => f.subarray(14))]);
    assert.deepEqual(rebuilt, big);
    assert.ok(!fragments.some(marker), "the marker waits for the access unit's last unit");
    assert.ok(marker(packets.at(-1)!));
  });

  test("damaged samples: a length past the end, or a cut-short prefix, are CorruptSampleError; zero-length units are skipped", () => {
    const bad = sample(nal(1, 10));
    bad.writeUInt32BE(1000, 0);
    assert.throws(() => packetizer().packetize(bad, 0), CorruptSampleError);
    assert.throws(() => nalUnits(Buffer.from([0, 0, 1]), 4), CorruptSampleError);
    assert.deepEqual(nalUnits(Buffer.concat([Buffer.from([0, 0]), Buffer.from([0, 1, 9])]), 2), [Buffer.from([9])]);
  });
});

describe("PacingScheduler", () => {
  test("runs tasks in due order on one timer; cancelled tasks do not run; a throwing task does not stop the others", async () => {
    const errors: unknown[] = [];
    const s = new PacingScheduler((e) => errors.push(e));
    const ran: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const now = performance.now();
    s.schedule({ run: () => ran.push("c") }, now + 30);
    s.schedule({ run: () => { ran.push("a"); throw new Error("boom"); } }, now + 10);
    const cancelled = s.schedule({ run: () => ran.push("never") }, now + 15);
    s.schedule({ run: () => ran.push("b") }, now + 20);
    s.schedule({ run: () => { ran.push("d"); done(); } }, now + 40);
    cancelled.cancel();
    await finished;
    assert.deepEqual(ran, ["a", "b", "c", "d"]);
    assert.equal(errors.length, 1);
  });

  test("a task that reschedules itself in the past runs again on a later turn, not in a loop", async () => {
    const s = new PacingScheduler();
    let runs = 0;
    let otherRan = false;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const task = {
      run: () => {
        runs++;
        if (runs < 5) s.schedule(task, 0);
        else done();
      },
    };
    s.schedule(task, 0);
    setImmediate(() => (otherRan = true));
    await finished;
    assert.equal(runs, 5);
    assert.ok(otherRan, "the event loop turned meanwhile");
  });
});

/** A fake FileHandle over `data` that counts reads. */
function fakeFile(data: Buffer) {
  const reads: Array<{ position: number; length: number }> = [];
  const handle = {
    read: async (buffer: Buffer, offset: number, length: number, position: number) => {
      reads.push({ position, length });
      const n = Math.max(0, Math.min(length, data.length - position));
      data.copy(buffer, offset, position, position + n);
      return { bytesRead: n, buffer };
    },
  };
  return { handle: handle as unknown as FileHandle, reads };
}

/** A table of `n` contiguous 1000-byte samples at 25 fps (timescale 1000: 40 ticks each). */
function table(n: number): H264SampleTable {
  const t: H264SampleTable = {
    timescale: 1000, count: n, offsets: new Float64Array(n), sizes: new Uint32Array(n), dts: new Float64Array(n), cts: new Float64Array(n), sync: new Uint8Array(n),
    nalLengthSize: 4, sps: [SPS], pps: [PPS], profileLevelId: "42c01e", presentationStart: 0, width: 16, height: 16,
  };
  for (let i = 0; i < n; i++) {
    t.offsets[i] = i * 1000;
    t.sizes[i] = 1000;
    t.dts[i] = t.cts[i] = i * 40;
  }
  return t;
}

describe("SampleReadAhead", () => {
  test("reads contiguous samples in one read, never more than its window ahead (bounded by 2 s)", async () => {
    const t = table(500); // 20 s
    const { handle, reads } = fakeFile(Buffer.alloc(500 * 1000, 1));
    let wake!: () => void;
    const reader = new SampleReadAhead(handle, t, 60_000, () => wake?.());
    const next = () => new Promise<void>((r) => (wake = r));
    let arrived = next();
    reader.fill();
    await arrived;
    const windowSamples = (MAX_READ_AHEAD_MS / 40) + 1;
    for (let i = 0; i < 200; i++) {
      let data = reader.take(i);
      while (!data) {
        arrived = next();
        await arrived;
        data = reader.take(i);
      }
      assert.equal(data.length, 1000);
      assert.ok(reader.bufferedBytes <= windowSamples * 1000, `at ${i}: ${reader.bufferedBytes} bytes held`);
    }
    assert.ok(reads.length < 40, `${reads.length} reads for 200 samples: runs, not one per sample`);
    assert.ok(reads.every((r) => r.length <= windowSamples * 1000));
    reader.close();
  });

  test("a file that ends before its samples fails with SampleReadError after handing over what it has", async () => {
    const t = table(10);
    const { handle } = fakeFile(Buffer.alloc(4500, 1)); // samples 0-3 whole, 4 cut
    let wake!: () => void;
    const reader = new SampleReadAhead(handle, t, 1000, () => wake?.());
    const taken: number[] = [];
    for (let i = 0; i < 10 && !reader.failure; i++) {
      let data = reader.take(i);
      while (!data && !reader.failure) {
        await new Promise<void>((r) => (wake = r));
        data = reader.take(i);
      }
      if (data) taken.push(i);
    }
    assert.deepEqual(taken, [0, 1, 2, 3]);
    assert.match(reader.failure?.message ?? "", /^the file ends before sample 4 of 10/);
  });
});

describe("SDP and settings", () => {
  test("the in-process SDP adds profile-level-id and sprop-parameter-sets to packetization-mode=1", () => {
    const sdp = sessionDescription({ destination: { host: "192.0.2.7", port: 5004 }, origin: "192.0.2.1", name: "ab", h264: { profileLevelId: "640028", sps: [SPS], pps: [PPS] } });
    assert.ok(sdp.split("\r\n").includes(`a=fmtp:96 packetization-mode=1;profile-level-id=640028;sprop-parameter-sets=${SPS.toString("base64")},${PPS.toString("base64")}`), sdp);
    const plain = sessionDescription({ destination: { host: "192.0.2.7", port: 5004 }, origin: "192.0.2.1", name: "ab" });
    assert.ok(plain.split("\r\n").includes("a=fmtp:96 packetization-mode=1"), "the gst path's SDP is unchanged");
  });

  test("IceFlix.Stream.Passthrough: inprocess or gst (default inprocess); anything else is a ConfigError", () => {
    const media = mkdtempSync(join(tmpdir(), "iceflix-passthrough-"));
    const props = (value?: string) => {
      const p = Ice.createProperties();
      p.setProperty("IceFlix.Media.Dir", media);
      if (value !== undefined) p.setProperty(PROP_PASSTHROUGH, value);
      return p;
    };
    assert.equal(streamingSettings(props()).passthrough, "inprocess");
    assert.equal(streamingSettings(props("inprocess")).passthrough, "inprocess");
    assert.equal(streamingSettings(props("gst")).passthrough, "gst");
    assert.throws(() => streamingSettings(props("ffmpeg")), ConfigError);
  });
});
