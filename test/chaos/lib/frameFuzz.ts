/**
 * Ice protocol fuzzing of one listening port with the seeded generator of
 * test/helpers/iceFrames.ts: many short connections, each with 1–5 malformed frames built from
 * well-formed requests of the service that listens there, then a valid ice_ping probe. Each
 * connection's content comes from its own PRNG seeded from (seed, connection index), so a run is
 * reproducible whatever the interleaving.
 */
import {
  connectRaw,
  mulberry32,
  mutate,
  pick,
  pingFrame,
  randInt,
  type Identity,
  type MutatorName,
  type Rng,
  type ValidConnectionReader,
} from "../../helpers/iceFrames.js";

export interface FuzzStats {
  frames: number;
  connections: number;
  closedByServer: number;
  probeAnswered: number;
  idle: number;
  connectFailures: number;
  perMutator: Partial<Record<MutatorName, number>>;
}

export interface FuzzTarget {
  host: string;
  port: number;
  /** The identity the probe pings (a servant that exists there). */
  identity: Identity | string;
  /** Well-formed requests of that service, the raw material of the mutators. */
  frames: Array<(rng: Rng) => Buffer>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function fuzzPort(target: FuzzTarget, seed: number, total: number, concurrency: number): Promise<FuzzStats> {
  const stats: FuzzStats = { frames: 0, connections: 0, closedByServer: 0, probeAnswered: 0, idle: 0, connectFailures: 0, perMutator: {} };
  const PROBE_ID = 0x7ffffff0;
  let nextConnection = 0;
  const open = new Set<ValidConnectionReader>();
  const worker = async () => {
    while (stats.frames < total) {
      const index = nextConnection++;
      const rng = mulberry32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      const count = Math.min(randInt(rng, 1, 5), total - stats.frames);
      stats.frames += count;
      stats.connections++;
      let reader: ValidConnectionReader;
      try {
        reader = await connectRaw(target.host, target.port, 5000);
      } catch {
        stats.connectFailures++;
        continue;
      }
      open.add(reader);
      try {
        if (rng() < 0.5) await Promise.race([reader.validated.catch(() => undefined), sleep(1000)]);
        const parts: Buffer[] = [];
        if (rng() < 0.4) parts.push(pingFrame(1, target.identity));
        for (let i = 0; i < count; i++) {
          const { name, bytes } = mutate(pick(rng, target.frames)(rng), rng);
          stats.perMutator[name] = (stats.perMutator[name] ?? 0) + 1;
          parts.push(bytes);
        }
        const probe = pingFrame(PROBE_ID, target.identity);
        if (rng() < 0.5) {
          reader.socket.write(Buffer.concat([...parts, probe]));
        } else {
          for (const p of parts) reader.socket.write(p);
          reader.socket.write(probe);
        }
        const outcome = await Promise.race([
          reader.closed.then(() => "closed" as const),
          reader.reply(PROBE_ID, 150).then(
            () => "answered" as const,
            () => "idle" as const,
          ),
        ]);
        if (outcome === "closed" || reader.isClosed) stats.closedByServer++;
        else if (outcome === "answered") stats.probeAnswered++;
        else stats.idle++;
      } finally {
        reader.socket.destroy();
        open.delete(reader);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    for (const r of open) r.socket.destroy();
  }
  return stats;
}
