/**
 * deploy/icegrid/iceflix.xml loads into a real icegridregistry (icegridadmin application add):
 * a replica of every service and of IceStorm on each of the 3 nodes, the replica groups and the
 * well-known objects clients with a locator use. Running it is grid.test.ts's job.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { REPO_ROOT } from "../helpers/processes.js";
import { TestGrid } from "../helpers/iceGrid.js";

const DESCRIPTOR = `${REPO_ROOT}deploy/icegrid/iceflix.xml`;
const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean).sort();

describe("deploy/icegrid/iceflix.xml", () => {
  let grid: TestGrid;

  before(async () => {
    grid = await TestGrid.start();
  });

  after(async () => {
    await grid?.stop();
  });

  test("loads with icegridadmin and declares every server, replica group and well-known object", async () => {
    await grid.admin(`application add "${DESCRIPTOR}" iceflix=/opt/iceflix/bin/iceflix node2-host=127.0.0.2`);
    const servers = lines(await grid.admin("server list"));
    const expected = ["node1", "node2", "node3"].flatMap((n) =>
      ["Authenticator", "Catalog", "Main", "StreamProvider"].map((s) => `IceFlix.${s}-${n}`),
    );
    // One web server (its sessions live in its memory), on node1.
    assert.deepEqual(servers, [...expected, "IceFlix.IceStorm1", "IceFlix.IceStorm2", "IceFlix.IceStorm3", "IceFlix.Web-node1"].sort());

    const adapters = lines(await grid.admin("adapter list"));
    for (const group of ["IceFlix.Main", "IceFlix.Authenticator", "IceFlix.Catalog", "IceFlix.IceStorm.TopicManager", "IceFlix.IceStorm.Publish"]) {
      assert.ok(adapters.includes(group), `replica group ${group} in ${adapters.join(", ")}`);
    }
    const objects = lines(await grid.admin("object list"));
    assert.ok(objects.includes("Main") && objects.includes("IceFlix.IceStorm/TopicManager"), objects.join(", "));

    // Variables reach the servers: each node's host, the shared secret that services must not create.
    const auth2 = await grid.admin("server describe IceFlix.Authenticator-node2");
    assert.match(auth2, /endpoints = `tcp -h 127\.0\.0\.2 -p 9094'/);
    assert.match(auth2, /replica group id = `IceFlix\.Authenticator'/);
    assert.match(auth2, /IceFlix\.Secret\.Create = `0'/);
    assert.match(auth2, /IceFlix\.IceStorm\/TopicManager = `IceFlix\.IceStorm\/TopicManager'/);
    // The web server finds Main through the locator; the providers serve browsers on their host.
    const web = await grid.admin("server describe IceFlix.Web-node1");
    assert.match(web, /IceFlix\.Web\.Main = `Main'/);
    assert.match(web, /IceFlix\.Web\.Endpoint = `127\.0\.0\.1:8080'/);
    assert.match(web, /node = `node1'/);
    const provider2 = await grid.admin("server describe IceFlix.StreamProvider-node2");
    assert.match(provider2, /IceFlix\.Stream\.HttpEndpoint = `127\.0\.0\.2:9102'/);
    assert.match(provider2, /IceFlix\.Stream\.TicketBinding = `cookie'/);
  });

  test("a node the application does not know cannot be targeted", async () => {
    await assert.rejects(grid.admin("server start IceFlix.Main-node9"), /couldn't find server|IceFlix\.Main-node9/);
  });
});
