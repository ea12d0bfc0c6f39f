/**
 * deploy/icegrid/iceflix.xml deploys 3 nodes. `grid up --nodes N` adapts it on one machine: more
 * nodes get node1's services without an IceStorm replica or the web server (one holds the sessions). Fewer are refused: replicated IceStorm
 * needs at least 3 replicas ("Replication requires at least 3 Nodes").
 */
export const MIN_NODES = 3;
const NODE_SECTION = /^( *)<node name="node(\d+)">\n[\s\S]*?^\1<\/node>\n/gm;

export function descriptorForNodes(xml: string, nodes: number): string {
  const sections = [...xml.matchAll(NODE_SECTION)];
  if (sections.length === 0) throw new Error("the descriptor has no <node name=\"nodeK\"> sections");
  if (nodes < MIN_NODES) throw new Error(`IceStorm replication needs at least ${MIN_NODES} nodes (asked for ${nodes})`);
  if (nodes <= sections.length) return xml;
  const first = sections[0]![0];
  const extra: string[] = [];
  for (let k = sections.length + 1; k <= nodes; k++) {
    extra.push(
      first
        .replace('<node name="node1">', `<node name="node${k}">`)
        .replace(/^.*template="IceFlix\.IceStorm".*\n/m, "")
        .replace(/^.*template="IceFlix\.Web".*\n/m, "")
        .replaceAll("${node1-host}", `\${node${k}-host}`),
    );
  }
  const last = sections[sections.length - 1]!;
  const at = last.index! + last[0].length;
  const variables = Array.from({ length: nodes - sections.length }, (_, i) => `    <variable name="node${sections.length + i + 1}-host" value="127.0.0.1"/>\n`).join("");
  const withNodes = xml.slice(0, at) + extra.join("") + xml.slice(at);
  return withNodes.replace(/^( *<variable name="node\d+-host".*\n)(?!\s*<variable name="node\d+-host")/m, `$1${variables}`);
}
