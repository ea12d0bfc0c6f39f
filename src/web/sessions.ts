/**
 * Browser sessions: a random id in an HttpOnly, SameSite=Strict cookie names a session held here,
 * which keeps the user's token (TokenKeeper: renewed before expiry and after Unauthorized); the
 * token never reaches the page. Bounded in number; idle ones are dropped.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { TokenKeeper } from "../mainlink/tokenKeeper.js";
import { cookieValue } from "../runtime/httpJson.js";

export const COOKIE = "iceflix_session";

export interface Session {
  readonly id: string;
  readonly keeper: TokenKeeper;
  lastUsed: number;
  /** The play whose ticket follows the token's renewals. */
  playing?: { refresh(token: string): Promise<unknown> };
}

export class Sessions {
  readonly #byId = new Map<string, Session>();

  constructor(
    private readonly newKeeper: (onRenewed: (token: string) => void) => TokenKeeper,
    private readonly maxSessions: number,
    private readonly idleMs: number,
  ) {}

  get size(): number {
    return this.#byId.size;
  }

  get playing(): number {
    let n = 0;
    for (const s of this.#byId.values()) if (s.playing) n++;
    return n;
  }

  create(): Session {
    this.sweep();
    while (this.#byId.size >= this.maxSessions) this.end(this.#byId.keys().next().value!);
    const id = randomBytes(32).toString("base64url");
    let session: Session | undefined;
    const keeper = this.newKeeper((token) => void session?.playing?.refresh(token).catch(() => (session!.playing = undefined)));
    session = { id, keeper, lastUsed: Date.now() };
    this.#byId.set(id, session);
    return session;
  }

  /** The session a request's cookie names, if live. */
  of(req: IncomingMessage): Session | undefined {
    const id = cookieValue(req.headers.cookie, COOKIE);
    const session = id ? this.#byId.get(id) : undefined;
    if (!session) return undefined;
    if (Date.now() - session.lastUsed > this.idleMs) {
      this.end(session.id);
      return undefined;
    }
    session.lastUsed = Date.now();
    return session;
  }

  end(id: string): void {
    const s = this.#byId.get(id);
    if (!s) return;
    s.keeper.logout();
    this.#byId.delete(id);
  }

  sweep(now = Date.now()): void {
    for (const s of [...this.#byId.values()]) if (now - s.lastUsed > this.idleMs) this.end(s.id);
  }

  clear(): void {
    for (const id of [...this.#byId.keys()]) this.end(id);
  }
}

export function sessionCookie(id: string): string {
  return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict`;
}

export const CLEAR_COOKIE = `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
