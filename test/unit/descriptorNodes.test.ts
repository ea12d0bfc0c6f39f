/** `grid up --nodes N` adapts deploy/icegrid/iceflix.xml: 3 as shipped, more without IceStorm, fewer refused. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { descriptorForNodes } from "../../src/grid/descriptorNodes.js";
import { REPO_ROOT } from "../helpers/processes.js";

const xml = readFileSync(`${REPO_ROOT}deploy/icegrid/iceflix.xml`, "utf8");
const nodeNames = (text: string) => [...text.matchAll(/<node name="(node\d+)">/g)].map((m) => m[1]);

test("3 nodes: the descriptor as shipped", () => {
  assert.equal(descriptorForNodes(xml, 3), xml);
});

test("5 nodes: nodes 4 and 5 run every IceFlix service on their own host variable, no IceStorm replica", () => {
  const five = descriptorForNodes(xml, 5);
  assert.deepEqual(nodeNames(five), ["node1", "node2", "node3", "node4", "node5"]);
  const node5 = /<node name="node5">[\s\S]*?<\/node>/.exec(five)![0];
  assert.equal((node5.match(/server-instance/g) ?? []).length, 4);
  assert.doesNotMatch(node5, /IceFlix\.IceStorm"/);
  assert.match(node5, /host="\$\{node5-host\}"/);
  assert.match(five, /<variable name="node5-host" value="127\.0\.0\.1"\/>/);
  assert.equal((five.match(/template="IceFlix\.IceStorm"/g) ?? []).length, 3);
  // One web server (its sessions live in its memory): node1's, not copied to the added nodes.
  assert.equal((five.match(/template="IceFlix\.Web"/g) ?? []).length, 1);
  assert.match(/<node name="node1">[\s\S]*?<\/node>/.exec(five)![0], /template="IceFlix\.Web"/);
});

test("fewer than 3 nodes are refused: IceStorm replication needs 3", () => {
  assert.throws(() => descriptorForNodes(xml, 2), /at least 3 nodes/);
});
