/** `iceflix down`: stops what `up` started from the data folder. */
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths, runningUpPid } from "../../common/dataDir.js";

export async function down(data: string): Promise<number> {
  const paths = dataPaths(data);
  const pid = runningUpPid(paths);
  if (!pid) throw new CliError(`nothing is running on ${paths.root}`, EXIT.notRunning);
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      process.stdout.write(`IceFlix stopped (${paths.root})\n`);
      return EXIT.ok;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // `up` kills its process groups on exit, so killing it is enough.
  process.kill(pid, "SIGKILL");
  throw new CliError(`IceFlix (pid ${pid}) did not stop within 30 s and was killed`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
