/** The storage-fault classifier (src/runtime/storageErrors.ts): codes → conditions → Busy reasons, log once. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IceFlixExt } from "../../src/slice/index.js";
import type { Logger } from "../../src/runtime/logger.js";
import {
  busyFor,
  classifyStorageCode,
  classifyStorageError,
  probeFolder,
  StorageFault,
  StorageHealth,
  toStorageFault,
} from "../../src/runtime/storageErrors.js";

test("SQLite and fs codes map to full / read-only / no-permission / io / cannot-open", () => {
  const cases: Record<string, string | undefined> = {
    SQLITE_FULL: "full",
    ENOSPC: "full",
    EDQUOT: "full",
    SQLITE_READONLY: "read-only",
    SQLITE_READONLY_DBMOVED: "read-only",
    SQLITE_READONLY_RECOVERY: "read-only",
    EROFS: "read-only",
    EACCES: "no-permission",
    EPERM: "no-permission",
    SQLITE_PERM: "no-permission",
    SQLITE_IOERR: "io",
    SQLITE_IOERR_WRITE: "io",
    SQLITE_IOERR_FSYNC: "io",
    SQLITE_IOERR_SHMSIZE: "io",
    EIO: "io",
    SQLITE_CANTOPEN: "cannot-open",
    ENOTDIR: "cannot-open",
    ENOENT: "cannot-open",
    // not storage faults: the service's own bugs or contention
    SQLITE_CONSTRAINT_UNIQUE: undefined,
    SQLITE_BUSY: undefined,
    SQLITE_CORRUPT: undefined,
    SQLITE_ERROR: undefined,
    ECONNRESET: undefined,
  };
  for (const [code, want] of Object.entries(cases)) assert.equal(classifyStorageCode(code), want, code);
  assert.equal(classifyStorageCode(undefined), undefined);
  assert.equal(classifyStorageError(new Error("no code")), undefined);
  assert.equal(classifyStorageError(null), undefined);
  assert.equal(classifyStorageError(Object.assign(new Error("x"), { code: "SQLITE_FULL" })), "full");
});

test("a StorageFault names the file and condition; its Busy reason has no path", () => {
  const e = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
  const fault = toStorageFault(e, "/srv/iceflix/catalog.db", "cannot write the catalog DB");
  assert.ok(fault instanceof StorageFault);
  assert.equal(fault.condition, "full");
  assert.equal(fault.message, "cannot write the catalog DB /srv/iceflix/catalog.db: storage full (SQLITE_FULL)");
  assert.equal(fault.reason, "storage full: change not saved");
  assert.equal(fault.cause, e);
  const busy = busyFor(fault);
  assert.ok(busy instanceof IceFlixExt.Busy);
  assert.equal(busy.reason, "storage full: change not saved");
  const ro = toStorageFault(Object.assign(new Error("ro"), { code: "SQLITE_READONLY" }), "/d/users.db", "cannot write the users DB");
  assert.equal(ro?.reason, "storage read-only: change not saved");
  assert.equal(toStorageFault(new Error("bug"), "/d/x.db", "x"), undefined);
  assert.equal(toStorageFault(fault, "/other", "y"), fault, "a StorageFault passes through");
});

test("SQLITE_CANTOPEN is explained by probing the folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "iceflix-storage-unit-"));
  try {
    // A writable folder with space: nothing more to tell, stays cannot-open.
    assert.equal(probeFolder(dir), undefined);
    const f = toStorageFault(Object.assign(new Error("unable to open"), { code: "SQLITE_CANTOPEN" }), join(dir, "c.db"), "cannot open the catalog DB");
    assert.equal(f?.condition, "cannot-open");
    // A "folder" that is a file: ENOTDIR from access(), cannot-open.
    writeFileSync(join(dir, "file"), "x");
    assert.equal(probeFolder(join(dir, "file", "sub")), undefined);
    const notDir = toStorageFault(Object.assign(new Error("x"), { code: "ENOTDIR" }), join(dir, "file", "c.db"), "cannot open the catalog DB");
    assert.match(notDir!.message, /not a folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("StorageHealth logs one line per failing condition and one when it works again", () => {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const fake = {
    error: (obj: Record<string, unknown>, msg: string) => lines.push({ level: "error", obj, msg }),
    info: (obj: Record<string, unknown>, msg: string) => lines.push({ level: "info", obj, msg }),
  } as unknown as Logger;
  const health = new StorageHealth("catalog DB", "/d/catalog.db", fake);
  const full = new StorageFault("full", "/d/catalog.db", "SQLITE_FULL", "cannot write the catalog DB");
  health.succeeded();
  for (let i = 0; i < 5; i++) health.failed(full);
  assert.equal(health.failing, "full");
  health.failed(new StorageFault("read-only", "/d/catalog.db", "SQLITE_READONLY", "cannot write the catalog DB"));
  health.succeeded();
  health.succeeded();
  assert.equal(health.failing, undefined);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg]),
    [
      ["error", "catalog DB /d/catalog.db: storage full (SQLITE_FULL); changes are not saved until it is fixed"],
      ["error", "catalog DB /d/catalog.db: storage read-only (SQLITE_READONLY); changes are not saved until it is fixed"],
      ["info", "catalog DB /d/catalog.db: writable again"],
    ],
  );
  assert.equal(lines[0]!.obj.file, "/d/catalog.db");
  assert.equal(lines[0]!.obj.condition, "full");
});
