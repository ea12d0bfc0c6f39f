/** The interactive prompt: connection, user, selected title and whether something is playing. */
import type { LinkState } from "../mainlink/mainLink.js";
import { terminalSafe, truncate, shortId } from "./resultTable.js";

export interface PromptState {
  link?: { label: string; state: LinkState };
  user?: string;
  selection?: { id: string; name?: string };
  playing: boolean;
}

const SELECTION_WIDTH = 28;

/** e.g. `iceflix demo@127.0.0.1:9095 "Colour Bars" [playing]> `; `iceflix offline> ` unconnected. */
export function promptText(s: PromptState): string {
  const parts = ["iceflix"];
  if (!s.link) parts.push("offline");
  else {
    const where = (s.user ? `${terminalSafe(s.user)}@` : "") + s.link.label;
    parts.push(s.link.state === "connected" ? where : `${where} (${s.link.state === "lost" ? "lost" : "connecting"})`);
  }
  if (s.selection) parts.push(`"${truncate(terminalSafe(s.selection.name ?? shortId(s.selection.id)), SELECTION_WIDTH)}"`);
  if (s.playing) parts.push("[playing]");
  return `${parts.join(" ")}> `;
}
