/** Small helpers for check bodies: call and describe what came back. */
import { Ice } from "../slice/index.js";
import { ClientError } from "../mainlink/linkErrors.js";
import { CheckFailed, CheckSkipped, type VerifyContext } from "./types.js";
import type { EventWatch } from "./events.js";

/** The Ice type id of an exception (or its message), for evidence lines. */
export function exceptionName(e: unknown): string {
  e = unwrap(e);
  if (e instanceof Ice.UnknownUserException) return `UnknownUserException(${e.unknown})`;
  if (e instanceof Ice.Exception) return e.ice_id().replace(/^::/, "");
  return (e as Error)?.message ?? String(e);
}

/**
 * The Ice exception under a Main-link error: the link reports a service's failure (Unknown*
 * included, a LocalException) as a ClientError that carries it as its cause.
 */
export function unwrap(e: unknown): unknown {
  return e instanceof ClientError && e.cause !== undefined ? e.cause : e;
}

/** Calls `fn` expecting it to raise an exception of class `cls`; returns its evidence. */
export async function expectRaises(what: string, cls: abstract new (...a: never[]) => unknown, fn: () => PromiseLike<unknown>): Promise<string> {
  let answer: unknown;
  try {
    answer = await fn();
  } catch (e) {
    if (e instanceof cls) return `${what} -> ${exceptionName(e)}`;
    throw new CheckFailed(`${what} raised ${exceptionName(e)}, not ${cls.name}`, `${what} -> ${exceptionName(e)}`);
  }
  throw new CheckFailed(`${what} answered instead of raising ${cls.name}`, `${what} -> ${JSON.stringify(answer)}`);
}

/**
 * A crash of the servant: UnknownException / UnknownLocalException, or an UnknownUserException
 * that is not a user exception of IceFlix's modules (an undeclared IceFlix or IceFlixExt one, e.g.
 * an extension's InvalidArgument, is a deliberate refusal and is only shown in the evidence).
 */
export function isUnknown(e: unknown): boolean {
  e = unwrap(e);
  if (e instanceof Ice.UnknownUserException) return !/^::IceFlix(Ext)?::/.test(e.unknown);
  return e instanceof Ice.UnknownException || e instanceof Ice.UnknownLocalException;
}

export function needCredentials(ctx: VerifyContext): { user: string; hash: string } {
  if (!ctx.user || !ctx.passwordHash) throw new CheckSkipped("needs --user and --password-stdin");
  return { user: ctx.user, hash: ctx.passwordHash };
}

/** The broker link, or a skip naming what is missing. */
export function needEvents(ctx: VerifyContext): EventWatch {
  if (!ctx.events) throw new CheckSkipped(ctx.eventsMissing);
  return ctx.events;
}

export function needLifetime(ctx: VerifyContext): number {
  if (!ctx.tokenLifetimeSeconds) throw new CheckSkipped("token lifetime unknown: give --token-lifetime S");
  return ctx.tokenLifetimeSeconds;
}

/** A token in evidence: only its length. */
export const masked = (token: string) => `<token of ${token.length} chars>`;

export function timed<T>(fn: () => PromiseLike<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  return Promise.resolve(fn()).then((value) => ({ value, ms: Date.now() - t0 }));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
