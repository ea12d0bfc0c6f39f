/**
 * `iceflix user add|remove|passwd NAME`, `user import FILE`, `user list`: edits the users store
 * of the deployment (`--database URL`, else the one `up` recorded in `--data D`, else
 * `<data>/users.db`); running Authenticators see the change at once (spec §3).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isValidUserName, UserStoreError, type UserStore } from "../../services/authenticator/userStore.js";
import { openUserStore } from "../../services/authenticator/userStores.js";
import { resolveDatabase } from "../../runtime/database.js";
import { postgresBoundsFor } from "../../runtime/postgres.js";
import { normalizePasswordHash } from "../../services/authenticator/passwordKdf.js";
import { StorageFault, toStorageFault } from "../../runtime/storageErrors.js";
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths, ensureDataDir } from "../../common/dataDir.js";
import { askHidden, passwordHash, readPasswordFromStdin } from "../../common/password.js";

export type UserAction = "add" | "remove" | "passwd" | "import" | "list";

/** A one-shot command: a few seconds for the database to answer. */
const CLI_CALL_TIMEOUT_MS = 10_000;

export async function user(
  action: UserAction,
  arg: string | undefined,
  options: { data: string; passwordStdin: boolean; database?: string },
): Promise<number> {
  const paths = dataPaths(options.data);
  const database = resolveDatabase(options.database, paths.root);
  const file = join(paths.root, "users.db");
  let store: UserStore;
  try {
    if (database.kind === "sqlite") ensureDataDir(paths);
    store = await openUserStore(database, { dataDir: paths.root, ...postgresBoundsFor(CLI_CALL_TIMEOUT_MS), listen: false });
  } catch (e) {
    if (e instanceof StorageFault) throw new CliError(e.message);
    // A data folder that is read-only, full, a file, …: one line naming the condition.
    const fault = toStorageFault(e, file, "cannot open the users DB");
    if (fault) throw new CliError(fault.message);
    throw e;
  }
  try {
    switch (action) {
      case "list":
        for (const name of await store.list()) process.stdout.write(name + "\n");
        return EXIT.ok;
      case "import":
        return await importUsersJson(store, required(arg, "FILE"));
      case "remove":
        await store.remove(validName(arg));
        process.stdout.write(`removed user ${arg}; their tokens are revoked\n`);
        return EXIT.ok;
      case "add":
      case "passwd": {
        const name = validName(arg);
        if (action === "add" && (await store.has(name))) throw new CliError(`user ${name} already exists`);
        if (action === "passwd" && !(await store.has(name))) throw new CliError(`no user ${name}`);
        const password = await obtainPassword(options.passwordStdin);
        if (action === "add") await store.add(name, passwordHash(password));
        else await store.setPassword(name, passwordHash(password));
        process.stdout.write(action === "add" ? `added user ${name}\n` : `changed the password of ${name}; their tokens are revoked\n`);
        return EXIT.ok;
      }
    }
  } catch (e) {
    if (e instanceof UserStoreError) throw new CliError(e.message);
    if (e instanceof StorageFault) throw new CliError(`${e.message}; nothing was changed`);
    throw e;
  } finally {
    await store.close();
  }
}

function required(value: string | undefined, what: string): string {
  if (!value) throw new CliError(`missing ${what}`, EXIT.usage);
  return value;
}

function validName(name: string | undefined): string {
  const n = required(name, "NAME");
  if (!isValidUserName(n)) throw new CliError("a user name is 1–64 characters without control characters", EXIT.usage);
  return n;
}

async function obtainPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = await readPasswordFromStdin();
  } else {
    password = await askHidden("Password: ");
    const again = await askHidden("Again: ");
    if (password !== again) throw new CliError("the passwords differ");
  }
  if (password.length === 0) throw new CliError("the password is empty", EXIT.usage);
  return password;
}

/** The original format: {"user": {"password_hash": "<sha256 hex>"}}. Existing users are kept. */
async function importUsersJson(store: UserStore, file: string): Promise<number> {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) throw new CliError(`${file} is not a users.json object`);
  let added = 0;
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(data as Record<string, unknown>)) {
    const hash = normalizePasswordHash((entry as { password_hash?: unknown })?.password_hash as string);
    if (!isValidUserName(name) || !hash) {
      problems.push(`${JSON.stringify(name).slice(0, 70)}: invalid name or password_hash`);
      continue;
    }
    if (await store.has(name)) {
      problems.push(`${name}: already exists (kept)`);
      continue;
    }
    await store.add(name, hash);
    added++;
  }
  process.stdout.write(`imported ${added} user(s)\n`);
  for (const p of problems) process.stderr.write(`  skipped ${p}\n`);
  return EXIT.ok;
}
