/**
 * The contract's answer for an id that names no media (spec §0, §4, §5): IceFlix.WrongMediaId{id},
 * whatever the id's length or shape, so an original-contract client can catch it. The id is echoed
 * cut to MAX_ECHOED_ID_CHARS: real ids have 64 characters, and a reply must stay small however
 * large the request was (spec §10).
 */
import { IceFlix } from "../slice/index.js";

export const MAX_ECHOED_ID_CHARS = 256;

/** `id` cut to `maxChars` UTF-16 units, never between the two halves of a surrogate pair (unencodable). */
export function echoedId(id: string, maxChars = MAX_ECHOED_ID_CHARS): string {
  if (id.length <= maxChars) return id;
  const cut = id.slice(0, maxChars);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

export function wrongMediaId(id: string): IceFlix.WrongMediaId {
  return new IceFlix.WrongMediaId(echoedId(id));
}
