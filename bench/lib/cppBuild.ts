/**
 * Builds the C++ load client and C++ bench server (bench/cpp/*.cpp) against Debian's Ice 3.7
 * (libzeroc-ice-dev, slice2cpp from zeroc-ice-compilers, g++) into bench/.build/, and rebuilds
 * only when an input changes: the stamp is a SHA-256 over the sources, the Slice file, the
 * compiler flags and the tool versions.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { BENCH_DIR, ROOT } from "./common.js";

const run = promisify(execFile);

export const BUILD_DIR = join(BENCH_DIR, ".build");
const SLICE = join(ROOT, "slice", "iceflix.ice");
const SOURCES = ["load_client", "bench_server"] as const;
const CXXFLAGS = ["-std=c++17", "-O2", "-DICE_CPP11_MAPPING", "-Wall"];
const LIBS = ["-lIce++11", "-lpthread"];

export interface CppBinaries {
  client: string;
  server: string;
  built: boolean;
  buildSeconds: number;
}

async function toolVersion(command: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(command, args);
    return (stdout + stderr).trim().split("\n")[0] ?? "";
  } catch (e) {
    throw new Error(
      `${command} is missing (${(e as Error).message.split("\n")[0]}): the C++ benchmarks need g++ and the Debian packages ` +
        "libzeroc-ice-dev and zeroc-ice-compilers (scripts/setup.sh installs them)",
    );
  }
}

export async function ensureCppBinaries(log: (line: string) => void = () => {}): Promise<CppBinaries> {
  const versions = [await toolVersion("g++", ["--version"]), await toolVersion("slice2cpp", ["--version"])];
  if (!existsSync("/usr/include/Ice/Ice.h")) {
    throw new Error("Ice C++ headers are missing (/usr/include/Ice/Ice.h): install libzeroc-ice-dev (scripts/setup.sh does)");
  }
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ CXXFLAGS, LIBS, versions }));
  hash.update(readFileSync(SLICE));
  for (const s of SOURCES) hash.update(readFileSync(join(BENCH_DIR, "cpp", `${s}.cpp`)));
  const stamp = hash.digest("hex");
  const out = join(BUILD_DIR, "bin");
  const binaries = { client: join(out, "load_client"), server: join(out, "bench_server") };
  const stampFile = join(out, "stamp");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp && existsSync(binaries.client) && existsSync(binaries.server)) {
    return { ...binaries, built: false, buildSeconds: 0 };
  }

  const t0 = Date.now();
  log("building the C++ load client and server (bench/.build, once per source change) ...");
  const work = join(BUILD_DIR, `tmp-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    await run("slice2cpp", ["--ice", "--output-dir", work, SLICE]);
    const gen = join(work, "iceflix.o");
    await run("g++", [...CXXFLAGS, "-I", work, "-c", join(work, "iceflix.cpp"), "-o", gen], { maxBuffer: 16 << 20 });
    // Two jobs at most: the machine may have only two cores.
    await Promise.all(
      SOURCES.map((s) =>
        run("g++", [...CXXFLAGS, "-I", work, join(BENCH_DIR, "cpp", `${s}.cpp`), gen, "-o", join(work, s), ...LIBS], { maxBuffer: 16 << 20 }),
      ),
    );
    writeFileSync(join(work, "stamp"), stamp);
    rmSync(out, { recursive: true, force: true });
    renameSync(work, out);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`C++ build failed: ${err.message.split("\n")[0]}\n${(err.stderr ?? "").slice(0, 4000)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const buildSeconds = (Date.now() - t0) / 1000;
  log(`built in ${buildSeconds.toFixed(1)} s`);
  return { ...binaries, built: true, buildSeconds };
}
