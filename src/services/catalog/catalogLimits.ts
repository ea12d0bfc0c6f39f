/**
 * The catalog's input limits (spec §10). Arguments beyond them are refused with
 * IceFlixExt.InvalidArgument{reason}, before anything changes; only arguments the contract has no
 * exception for (names, tags, search text) are checked here: an id is answered WrongMediaId.
 * Lengths count Unicode code points, so a limit means the same to a client in any language.
 */
import { IceFlixExt } from "../../slice/index.js";

export const LIMITS = {
  titleChars: 512,
  tagChars: 128,
  tagsPerCall: 1000,
  tagsPerTitle: 256,
  searchChars: 512,
  /** Longer ids cannot be known (ids are 64 hex chars): WrongMediaId without a lookup. */
  mediaIdChars: 1024,
} as const;

const CONTROL = /[\p{Cc}\p{Cs}]/u;
const MEDIA_ID = /^[0-9a-f]{64}$/;

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function refuse(reason: string): never {
  throw new IceFlixExt.InvalidArgument(reason);
}

/** A media id as StreamProviders make them: lowercase hex SHA-256. */
export function isMediaId(id: string): boolean {
  return MEDIA_ID.test(id);
}

/**
 * Whether `id` is worth a lookup: a longer one names no title (ids are 64 hex chars), so it is
 * answered WrongMediaId at once (the contract's exception, spec §0), never InvalidArgument.
 */
export function mayNameTitle(id: string): boolean {
  return id.length <= LIMITS.mediaIdChars;
}

/** A new title name: 1–512 characters after trimming, no control characters. Returns it trimmed. */
export function checkTitleName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) refuse("title name is empty");
  if (codePoints(trimmed) > LIMITS.titleChars) refuse(`title name longer than ${LIMITS.titleChars} characters`);
  if (CONTROL.test(trimmed)) refuse("title name contains control characters");
  return trimmed;
}

/** A tag list of an edit or a search: at most 1,000 tags of 1–128 characters. Returns it de-duplicated. */
export function checkTags(tags: readonly string[]): string[] {
  if (tags.length > LIMITS.tagsPerCall) refuse(`more than ${LIMITS.tagsPerCall} tags in one call`);
  for (const tag of tags) {
    if (tag.length === 0) refuse("empty tag");
    if (codePoints(tag) > LIMITS.tagChars) refuse(`tag longer than ${LIMITS.tagChars} characters`);
    if (CONTROL.test(tag)) refuse("tag contains control characters");
  }
  return [...new Set(tags)];
}

export function checkSearchText(text: string): void {
  if (codePoints(text) > LIMITS.searchChars) refuse(`search text longer than ${LIMITS.searchChars} characters`);
}

/**
 * The name a newMedia event proposes, made storable (events have no caller to refuse): control
 * characters become spaces, whitespace is trimmed, the length is cut to the limit; `fallback`
 * (the id) when nothing is left.
 */
export function sanitizeInitialName(name: string, fallback: string): string {
  const cleaned = name.replace(new RegExp(CONTROL.source, "gu"), " ").trim();
  const cut = cleaned.length <= LIMITS.titleChars ? cleaned : [...cleaned].slice(0, LIMITS.titleChars).join("").trim();
  return cut.length > 0 ? cut : fallback;
}
