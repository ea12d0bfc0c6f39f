/**
 * The demo user of `grid up`, added as `up` adds it (only into an empty users store), through
 * `bin/iceflix user`: the users store is the command's business, whichever store it is.
 */
import { execFile } from "node:child_process";
import { DEMO_USER } from "../demoMedia.js";
import { ICEFLIX_BIN } from "./components.js";

function iceflix(args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [ICEFLIX_BIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`iceflix ${args.join(" ")}: ${stderr.trim() || error.message}`)) : resolve(stdout),
    );
    child.stdin?.end(stdin ?? "");
  });
}

/** Adds the demo user when there is no user at all; true if it was added. */
export async function ensureDemoUserThroughCli(data: string): Promise<boolean> {
  const users = (await iceflix(["user", "list", "--data", data])).trim();
  if (users.length > 0) return false;
  await iceflix(["user", "add", DEMO_USER.name, "--data", data, "--password-stdin"], `${DEMO_USER.password}\n`);
  return true;
}
