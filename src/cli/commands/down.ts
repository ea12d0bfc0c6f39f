/** `iceflix down`: stops what `up` started from the data folder. */
import { CliError, EXIT } from "../../common/exitCodes.js";
import { dataPaths, runningUpPid } from "../../common/dataDir.js";
import { waitForExit } from "../../common/processAlive.js";

export async function down(data: string): Promise<number> {
  const paths = dataPaths(data);
  const pid = runningUpPid(paths);
  if (!pid) throw new CliError(`nothing is running on ${paths.root}`, EXIT.notRunning);
  process.kill(pid, "SIGTERM");
  if (await waitForExit(pid, 30_000)) {
    process.stdout.write(`IceFlix stopped (${paths.root})\n`);
    return EXIT.ok;
  }
  // `up` kills its process groups on exit, so killing it is enough.
  process.kill(pid, "SIGKILL");
  throw new CliError(`IceFlix (pid ${pid}) did not stop within 30 s and was killed`);
}
