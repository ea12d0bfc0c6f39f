/** scripts/setup.sh says what it does and, when it cannot go on, ends with one line saying what to
 * do (exit 1). Each case runs a copy of the script in a temporary checkout with stand-ins (PATH
 * shims) for the tools whose failure it handles: node, id, sudo, dpkg-query, apt-get, npm. */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/processes.js";

interface Run {
  status: number | null;
  stderr: string;
  lastLine: string;
}

let work: string;

/** A checkout with only what setup looks at; `installed` = npm tree and build up to date. */
function checkout(name: string, installed: boolean): string {
  const root = join(work, name);
  mkdirSync(join(root, "scripts"), { recursive: true });
  copyFileSync(join(REPO_ROOT, "scripts/setup.sh"), join(root, "scripts/setup.sh"));
  writeFileSync(join(root, "package-lock.json"), "{}\n");
  const old = new Date(Date.now() - 60_000);
  utimesSync(join(root, "package-lock.json"), old, old);
  if (installed) {
    mkdirSync(join(root, "node_modules"), { recursive: true });
    writeFileSync(join(root, "node_modules/.package-lock.json"), "{}\n");
    mkdirSync(join(root, "dist"), { recursive: true });
    writeFileSync(join(root, "dist/.build-stamp"), "");
  }
  return root;
}

/** A folder of executable stand-ins, first on PATH. */
function shims(name: string, scripts: Record<string, string>): string {
  const dir = join(work, `shims-${name}`);
  mkdirSync(dir, { recursive: true });
  for (const [tool, body] of Object.entries(scripts)) {
    writeFileSync(join(dir, tool), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}

const PACKAGES_MISSING = { "dpkg-query": "exit 1" };
const PACKAGES_PRESENT = { "dpkg-query": "printf 'install ok installed'" };

function runSetup(root: string, path: string, args: string[] = []): Run {
  const r = spawnSync("bash", [join(root, "scripts/setup.sh"), ...args], {
    env: { PATH: path, HOME: work, TMPDIR: work, ICEFLIX_SETUP_LOG: join(work, `${root.split("/").pop()}.log`) },
    encoding: "utf8",
    timeout: 30_000,
  });
  const lines = r.stderr.trimEnd().split("\n");
  return { status: r.status, stderr: r.stderr, lastLine: lines[lines.length - 1] ?? "" };
}

describe("scripts/setup.sh", () => {
  before(() => {
    work = mkdtempSync(join(tmpdir(), "iceflix-setup-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("with everything in place says nothing under --quiet and exits 0", () => {
    const root = checkout("ready", true);
    const r = runSetup(root, `${shims("ready", PACKAGES_PRESENT)}:${process.env.PATH}`, ["--quiet"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    const loud = runSetup(root, `${shims("ready", PACKAGES_PRESENT)}:${process.env.PATH}`);
    assert.match(loud.stderr, /\[1\/3\] Debian packages: all \d+ present/);
    assert.match(loud.lastLine, /^setup: ready in [\d.]+ s: nothing to do$/);
  });

  it("without Node.js says to install it", () => {
    // A PATH with every tool of /usr/bin but node, npm and npx.
    const bin = join(work, "bin-without-node");
    mkdirSync(bin);
    for (const tool of readdirSync("/usr/bin")) {
      if (!["node", "nodejs", "npm", "npx"].includes(tool)) symlinkSync(join("/usr/bin", tool), join(bin, tool));
    }
    const r = runSetup(checkout("no-node", true), bin);
    assert.equal(r.status, 1);
    assert.match(r.lastLine, /^setup: Node\.js 20 or newer is needed and none is installed: install it/);
  });

  it("with a too-old Node.js names the version found", () => {
    const dir = shims("old-node", { ...PACKAGES_PRESENT, node: "echo v18.19.0" });
    const r = runSetup(checkout("old-node", true), `${dir}:${process.env.PATH}`);
    assert.equal(r.status, 1);
    assert.match(r.lastLine, /^setup: Node\.js 20 or newer is needed, found v18\.19\.0 at .*: install Node\.js 20/);
  });

  it("with packages missing, no root and no sudo says how to install them", () => {
    const dir = shims("no-root", { ...PACKAGES_MISSING, id: "echo 1000", sudo: "exit 1" });
    const r = runSetup(checkout("no-root", true), `${dir}:${process.env.PATH}`);
    assert.equal(r.status, 1);
    assert.match(r.lastLine, /^setup: \d+ Debian packages are missing \(zeroc-icebox .*\) and installing them needs root: run 'sudo bash scripts\/setup\.sh' once/);
  });

  it("without network to the package archive shows the log's tail and says to check the network", () => {
    const dir = shims("no-network", {
      ...PACKAGES_MISSING,
      id: "echo 0",
      "apt-get": "echo \"Err:1 http://deb.debian.org/debian bookworm InRelease\"; echo \"  Temporary failure resolving 'deb.debian.org'\"; exit 100",
    });
    const r = runSetup(checkout("no-network", true), `${dir}:${process.env.PATH}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /setup: \[1\/3\] Debian packages: installing \d+ \(≈[^)]+\)… failed after/);
    assert.match(r.stderr, /---- last 30 lines of .*no-network\.log ----\n(.*\n)*.*Temporary failure resolving/);
    assert.match(r.lastLine, /^setup: installing Debian packages failed: the Debian package archive is not reachable\. Check the network/);
  });

  it("on a full disk says to free space", () => {
    const dir = shims("full-disk", {
      ...PACKAGES_MISSING,
      id: "echo 0",
      "apt-get": "case \"$1\" in update) exit 0;; esac; echo 'E: Write error - write (28: No space left on device)'; exit 100",
    });
    const r = runSetup(checkout("full-disk", true), `${dir}:${process.env.PATH}`);
    assert.equal(r.status, 1);
    assert.match(r.lastLine, /^setup: installing Debian packages failed: the disk is full\. Free some space/);
  });

  it("without the npm registry says to check the network, and times the step", () => {
    const dir = shims("no-registry", {
      ...PACKAGES_PRESENT,
      npm: "echo 'npm error code ENOTFOUND' >&2; echo 'npm error request to https://registry.npmjs.org/pg failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org' >&2; exit 1",
    });
    const r = runSetup(checkout("no-registry", false), `${dir}:${process.env.PATH}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /setup: \[2\/3\] npm dependencies: npm ci \(≈1 min\)… failed after [\d.]+ s/);
    assert.match(r.lastLine, /^setup: npm ci failed: the npm registry is not reachable\. Check the network/);
  });
});
