/**
 * Search results as the user sees them: a numbered table (short id, name, tags, available). Text
 * that came over the network is made safe for a terminal first, so a title cannot carry escape
 * sequences into it.
 */

export interface ResultRow {
  /** 1-based number, what `select` takes. */
  n: number;
  id: string;
  /** undefined when the catalog did not say (the title has no live provider and we never saw it). */
  name?: string;
  tags?: string[];
  /** undefined when the catalog could not be asked. */
  available?: boolean;
}

export const SHORT_ID_LENGTH = 12;
const MAX_NAME_WIDTH = 48;
const MAX_TAGS_WIDTH = 40;

/** Control characters (C0, DEL, C1) shown as `?`. */
export function terminalSafe(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

export function shortId(id: string): string {
  const safe = terminalSafe(id);
  return safe.length > SHORT_ID_LENGTH ? safe.slice(0, SHORT_ID_LENGTH) : safe;
}

/** At most `width` characters, the cut marked with "...". */
export function truncate(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width - 3)).join("") + "...";
}

function availability(row: ResultRow): string {
  if (row.available === undefined) return "?";
  return row.available ? "yes" : "no";
}

/** The table, one line per row after a header; "no titles found" when empty. */
export function formatResultTable(rows: readonly ResultRow[]): string {
  if (rows.length === 0) return "no titles found";
  const cells = rows.map((r) => [
    String(r.n),
    shortId(r.id),
    r.name === undefined ? "(name unknown)" : truncate(terminalSafe(r.name), MAX_NAME_WIDTH),
    r.tags === undefined ? "?" : truncate(r.tags.map(terminalSafe).join(", "), MAX_TAGS_WIDTH),
    availability(r),
  ]);
  const header = ["#", "ID", "NAME", "TAGS", "AVAILABLE"];
  const all = [header, ...cells];
  const widths = header.map((_, c) => Math.max(...all.map((row) => [...row[c]!].length)));
  const pad = (cell: string, c: number) => (c === 0 ? cell.padStart(widths[c]!) : cell + " ".repeat(widths[c]! - [...cell].length));
  return all.map((row) => row.map(pad).join("  ").trimEnd()).join("\n");
}

/** "showing 50 of 1234 titles …" when a search found more than it shows. */
export function moreResultsNote(shown: number, total: number): string | undefined {
  return total > shown ? `showing ${shown} of ${total} titles; refine the search to see the others` : undefined;
}
