/** `iceflix grid down`: stops the grid `grid up` runs from the data folder (nodes, their servers, the registry). */
import { CliError, EXIT } from "../../common/exitCodes.js";
import { waitForExit } from "../../common/processAlive.js";
import { gridPaths, removeGridFiles, runningGridPid } from "../../grid/gridFiles.js";

/** Nodes stop their servers through Ice::Process (each bounded by its own stop deadline). */
const STOP_TIMEOUT_MS = 60_000;

export async function gridDown(data: string): Promise<number> {
  const paths = gridPaths(data);
  const pid = runningGridPid(paths);
  if (!pid) throw new CliError(`no IceFlix grid is running on ${paths.root}`, EXIT.notRunning);
  process.kill(pid, "SIGTERM");
  if (await waitForExit(pid, STOP_TIMEOUT_MS)) {
    process.stdout.write(`IceFlix grid stopped (${paths.root})\n`);
    return EXIT.ok;
  }
  // `grid up` kills its registry and nodes' process groups when it exits, so killing it is enough.
  process.kill(pid, "SIGKILL");
  removeGridFiles(paths);
  throw new CliError(`the IceFlix grid (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s and was killed`);
}
