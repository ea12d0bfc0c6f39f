/**
 * Sizes of the chaos tier (spec §11): the reduced CI sizes by default (they run inside `npm test`),
 * the full sizes with CHAOS_FULL=1 (`npm run chaos`).
 */
export const FULL = process.env.CHAOS_FULL === "1";

const TIER = FULL
  ? {
      tier: "full",
      /** Load: concurrent clients × operations each. */
      loadClients: 200,
      loadOps: 1000,
      /** Malformed Ice frames sent to each listening port. */
      fuzzFramesPerPort: 20_000,
      /** Client loops through Main while replicas are killed, and how long they run after the kill. */
      faultLoops: 16,
      faultAfterKillMs: 30_000,
      /** Acknowledged catalog edits wanted before the kill -9 and after the restart. */
      editsBeforeKill: 200,
      editsAfterRestart: 200,
    }
  : {
      tier: "ci",
      loadClients: 20,
      loadOps: 100,
      fuzzFramesPerPort: 2000,
      faultLoops: 4,
      faultAfterKillMs: 8000,
      editsBeforeKill: 60,
      editsAfterRestart: 60,
    };

/** A size from the environment (e.g. CHAOS_LOAD_CLIENTS=50) overrides the tier's, for experiments. */
const env = (name: string, dflt: number) => (process.env[name] && Number.isInteger(Number(process.env[name])) ? Number(process.env[name]) : dflt);

export const SIZES = {
  ...TIER,
  loadClients: env("CHAOS_LOAD_CLIENTS", TIER.loadClients),
  loadOps: env("CHAOS_LOAD_OPS", TIER.loadOps),
  fuzzFramesPerPort: env("CHAOS_FUZZ_FRAMES", TIER.fuzzFramesPerPort),
};
