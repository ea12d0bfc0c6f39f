/** What the commands print: text for people, and the JSON shapes of `--json`. */
import type { PlaybackStatus } from "./playback.js";
import { formatResultTable, moreResultsNote, shortId, terminalSafe } from "./resultTable.js";
import type { SearchResult, SessionStatus, TitleInfo } from "./session.js";

const safe = terminalSafe;

export function searchText(result: SearchResult): string {
  const note = moreResultsNote(result.rows.length, result.total);
  return formatResultTable(result.rows) + (note ? `\n${note}` : "");
}

export function searchJson(result: SearchResult): object {
  return {
    ok: true,
    total: result.total,
    results: result.rows.map((r) => ({ n: r.n, id: r.id, name: r.name ?? null, tags: r.tags ?? null, available: r.available ?? null })),
  };
}

export function titleText(t: TitleInfo): string {
  const name = t.name === undefined ? shortId(t.id) : `"${safe(t.name)}"`;
  const tags = t.tags === undefined ? "" : t.tags.length ? `; tags: ${t.tags.map(safe).join(", ")}` : "; no tags";
  return `${name} (${shortId(t.id)})${tags}`;
}

export function titleJson(t: TitleInfo): object {
  return { ok: true, id: t.id, name: t.name ?? null, tags: t.tags ?? null, available: t.available ?? null };
}

export function playbackText(p: PlaybackStatus): string {
  const frames = p.frames === undefined ? "" : `${p.frames} frames received in ${p.seconds} s, `;
  return `"${safe(p.name)}": ${frames}${p.player}; token refreshes ${p.tokenRefreshes}; sync topic ${p.syncTopic ? `${safe(p.syncTopic)} ` : ""}${p.sync}`;
}

export function statusText(s: SessionStatus): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`${(label + ":").padEnd(10)} ${value}`);
  if (!s.main) row("Main", "not connected (connect <proxy>)");
  else if (s.main.reachable) row("Main", `${s.main.proxy} (reachable${s.main.implementation ? `, ${s.main.implementation}` : ""})`);
  else row("Main", `${s.main.proxy} (not reachable: ${s.main.error ?? "unknown"}; the next command tries again)`);
  if (s.broker) row("Broker", s.broker);
  if (s.user) {
    const parts = [
      s.tokenLifetimeSeconds !== undefined ? `token lifetime ${s.tokenLifetimeSeconds} s` : "token lifetime unknown",
      ...(s.nextRenewalInSeconds !== undefined ? [`next renewal in ${s.nextRenewalInSeconds} s`] : []),
      `renewed ${s.tokenRenewals ?? 0} times`,
    ];
    row("User", `${safe(s.user)} (${parts.join(", ")})`);
  } else row("User", "not logged in");
  if (s.selection) row("Selected", `${s.selection.n !== undefined ? `#${s.selection.n} ` : ""}${titleText(s.selection)}`);
  else row("Selected", "nothing");
  row("Playing", s.playback ? playbackText(s.playback) : "nothing");
  return lines.join("\n");
}

export function statusJson(s: SessionStatus): object {
  return {
    ok: true,
    main: s.main ? { proxy: s.main.proxy, reachable: s.main.reachable, implementation: s.main.implementation ?? null, error: s.main.error ?? null } : null,
    broker: s.broker ?? null,
    tokenLifetimeSeconds: s.tokenLifetimeSeconds ?? null,
    user: s.user ?? null,
    selection: s.selection ? { id: s.selection.id, name: s.selection.name ?? null } : null,
    playback: s.playback ?? null,
  };
}
