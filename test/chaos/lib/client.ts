/**
 * A small Node client of a deployment for the chaos tests, on the npm `ice` runtime: bounded
 * communicators, login through Main, exception classification, and an "at most one retry"
 * wrapper that counts what it needed.
 */
import { createHash } from "node:crypto";
import { Ice, IceFlix, IceFlixExt } from "../../../src/slice/index.js";

export const sha256hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** A communicator whose every call and connect is bounded. */
export function newCommunicator(options: { invocationTimeoutMs?: number; connectTimeoutMs?: number; extra?: Record<string, string> } = {}): Ice.Communicator {
  const init = new Ice.InitializationData();
  init.properties = Ice.createProperties();
  init.properties.setProperty("Ice.Default.InvocationTimeout", String(options.invocationTimeoutMs ?? 5000));
  init.properties.setProperty("Ice.Override.ConnectTimeout", String(options.connectTimeoutMs ?? 2000));
  // Large arguments (1 MB strings, 100k-entry lists) must leave the client; the server's own
  // 1 MiB limit is what is being tested.
  init.properties.setProperty("Ice.MessageSizeMax", "4096");
  for (const [k, v] of Object.entries(options.extra ?? {})) init.properties.setProperty(k, v);
  return Ice.initialize(init);
}

export function mainPrx(communicator: Ice.Communicator, proxy: string): IceFlixExt.MainExtPrx {
  return IceFlixExt.MainExtPrx.uncheckedCast(communicator.stringToProxy(proxy));
}

/** Logs in through Main: getAuthenticator, then refreshAuthorization with the SHA-256 hex. */
export async function login(main: IceFlix.MainPrx, user: string, password: string): Promise<string> {
  const auth = await main.getAuthenticator();
  return auth.refreshAuthorization(user, sha256hex(password));
}

/**
 * What an exception is, in one word, for assertions and tallies: a contract exception's name
 * (Unauthorized, WrongMediaId, TemporaryUnavailable), an extension exception's name as the
 * original-contract client receives it (InvalidArgument, Busy, InternalError: carried by
 * UnknownUserException), or the Ice local exception's id (e.g. ::Ice::ConnectionLostException).
 */
export function errorKind(e: unknown): string {
  if (e instanceof Ice.UnknownUserException) {
    const m = /::IceFlixExt::(\w+)/.exec(e.unknown);
    return m ? m[1]! : `UnknownUserException(${e.unknown})`;
  }
  if (e instanceof IceFlix.Unauthorized) return "Unauthorized";
  if (e instanceof IceFlix.WrongMediaId) return "WrongMediaId";
  if (e instanceof IceFlix.TemporaryUnavailable) return "TemporaryUnavailable";
  if (e instanceof IceFlixExt.InvalidArgument) return "InvalidArgument";
  if (e instanceof IceFlixExt.Busy) return "Busy";
  if (e instanceof IceFlixExt.InternalError) return "InternalError";
  if (e instanceof Ice.Exception) return e.ice_id();
  return `JS:${(e as Error)?.name ?? typeof e}:${String((e as Error)?.message ?? e).slice(0, 120)}`;
}

/** The outcome of a call, as a word: "ok" or errorKind. */
export async function outcome(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "ok";
  } catch (e) {
    return errorKind(e);
  }
}

export interface RetryTally {
  ops: number;
  /** Operations that failed once and then succeeded. */
  retried: number;
  /** Operations that failed twice: the second failure, and the first one. */
  failed: Array<{ op: string; error: string; first: string; at: number }>;
  /** Why each retried operation needed its retry. */
  retries: Array<{ first: string; at: number }>;
}

export function newTally(): RetryTally {
  return { ops: 0, retried: 0, failed: [], retries: [] };
}

/**
 * Runs `attempt` at most twice; the second attempt gets `true` (it should ask Main again rather
 * than reuse what the first attempt was handed). Never throws: failures are tallied.
 */
export async function withOneRetry<T>(tally: RetryTally, op: string | (() => string), attempt: (isRetry: boolean) => Promise<T>): Promise<T | undefined> {
  tally.ops++;
  const name = () => (typeof op === "string" ? op : op());
  let first = "";
  try {
    return await attempt(false);
  } catch (e) {
    first = `${errorKind(e)} at ${name()}`;
    try {
      const v = await attempt(true);
      tally.retried++;
      tally.retries.push({ first, at: Date.now() });
      return v;
    } catch (e2) {
      tally.failed.push({ op: name(), error: errorKind(e2), first, at: Date.now() });
      return undefined;
    }
  }
}

/** host:port of a proxy's first endpoint. */
export function endpointOf(proxy: Ice.ObjectPrx): string {
  const info = proxy.ice_getEndpoints()[0]?.getInfo();
  return info instanceof Ice.IPEndpointInfo ? `${info.host}:${info.port}` : proxy.toString();
}
