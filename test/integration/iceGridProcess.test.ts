/**
 * A service deployed on a real icegridnode: it registers its Ice::Process object, and
 * `icegridadmin server stop` (the node calling Process.shutdown) runs the same orderly stop as
 * SIGTERM: adapter unregistered, "Main stopped" logged, exit 0.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ice, IceFlix } from "../../src/slice/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { ICEFLIX_BIN } from "../helpers/processes.js";
import { TestGrid } from "../helpers/iceGrid.js";
import { logEntries } from "../helpers/logFiles.js";
import { waitFor } from "../helpers/waitFor.js";

const SERVER = "IceFlix.Main.test";

function descriptor(broker: string, data: string): string {
  // A node running as root starts servers as "nobody" unless told (our node allows root).
  const asRoot = process.getuid?.() === 0 ? ' user="root"' : "";
  return `<icegrid>
  <application name="ProcessTest">
    <node name="node1">
      <server id="${SERVER}" exe="${process.execPath}" activation="manual"${asRoot}>
        <option>${ICEFLIX_BIN}</option>
        <option>main</option>
        <option>--data</option>
        <option>${data}</option>
        <adapter name="MainAdapter" endpoints="tcp -h 127.0.0.1" id="${SERVER}.MainAdapter"/>
        <property name="IceFlix.IceStorm/TopicManager" value="${broker}"/>
      </server>
    </node>
  </application>
</icegrid>
`;
}

describe("Ice::Process of a deployed service (real icegridnode)", () => {
  let grid: TestGrid;
  let broker: TestBroker;
  let communicator: Ice.Communicator;

  before(async () => {
    grid = await TestGrid.start();
    broker = await startTestBroker();
    await grid.startNode("node1");
    communicator = grid.communicator();
  });

  after(async () => {
    await communicator?.destroy();
    await broker?.stop();
    await grid?.stop();
  });

  test("server stop runs the orderly stop through Ice.Process.shutdown", async () => {
    const file = join(grid.dir, "app.xml");
    writeFileSync(file, descriptor(broker.proxy, join(grid.dir, "main-data")));
    await grid.admin(`application add "${file}"`);
    await grid.admin(`server start ${SERVER}`);
    const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(`Main@${SERVER}.MainAdapter`));
    await main.ice_ping();
    const pid = Number((await grid.admin(`server pid ${SERVER}`)).trim());
    assert.ok(pid > 0);

    await grid.admin(`server stop ${SERVER}`);
    assert.equal((await grid.admin(`server state ${SERVER}`)).trim().split(/\s/)[0], "inactive");
    const log = grid.serverOutput("node1", SERVER, "err");
    const entries = await waitFor("the stop lines in the server's output", () => logEntries(log), (l) => l.some((e) => e.msg === "Main stopped"), 5000);
    const stopping = entries.find((e) => e.msg === "main stopping");
    assert.equal(stopping?.signal, "Ice.Process.shutdown", "stopped by the node's Process.shutdown, not by a signal");
    assert.ok(entries.some((e) => e.msg === "Ice.Process registered with the locator"));
    assert.ok(entries.some((e) => e.msg === "adapter unregistered with the locator"));
    assert.throws(() => process.kill(pid, 0), "the process is gone");
  });
});
