/**
 * Request tracing (docs/observability.md): a trace id travels in the Ice request context under
 * `iceflix-trace-id`. While a servant serves a request (and in everything it awaits), the request's
 * Current is the trace scope: its id is the caller's, or one generated on first use (an
 * original-contract client sends no context); every outgoing call made in that scope carries it
 * and every log line written in it shows it (logger.ts). A client opens a scope of its own with
 * withTraceId().
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

export const TRACE_CONTEXT_KEY = "iceflix-trace-id";

/** Accepted from callers as is: a bounded id of safe characters (anything else is replaced, never logged). */
const VALID_TRACE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** What a scope holds: a request's Ice.Current, or a client's own context. */
export interface TraceScope {
  ctx: Map<string, string>;
}

const scopes = new AsyncLocalStorage<TraceScope>();

/** 32 hex digits, like a W3C trace id. */
export function newTraceId(): string {
  return randomUUID().replaceAll("-", "");
}

export function isValidTraceId(id: string): boolean {
  return VALID_TRACE_ID.test(id);
}

/** The scope's trace id; generated (and remembered in its context) when it has no valid one. */
export function traceIdOf(scope: TraceScope): string {
  const id = scope.ctx.get(TRACE_CONTEXT_KEY);
  if (id !== undefined && VALID_TRACE_ID.test(id)) return id;
  const generated = newTraceId();
  scope.ctx.set(TRACE_CONTEXT_KEY, generated);
  return generated;
}

/** The trace id of the request being served (or of the client's scope), if any. */
export function currentTraceId(): string | undefined {
  const scope = scopes.getStore();
  return scope === undefined ? undefined : traceIdOf(scope);
}

/** Runs `fn(...args)` with `scope` as the trace scope (no closure needed on the dispatch path). */
export function runInTraceScope<A extends unknown[], R>(scope: TraceScope, fn: (...args: A) => R, ...args: A): R {
  return scopes.run(scope, fn, ...args);
}

/** A client's calls made in `fn` carry `traceId`. */
export function withTraceId<R>(traceId: string, fn: () => R): R {
  return scopes.run({ ctx: new Map([[TRACE_CONTEXT_KEY, traceId]]) }, fn);
}

/**
 * The context an outgoing call sends: `ctx` plus the current trace id, unless there is no scope
 * or `ctx` already names one (undefined: send `ctx` unchanged).
 */
export function outgoingTraceContext(ctx: Map<string, string> | null): Map<string, string> | undefined {
  const scope = scopes.getStore();
  if (scope === undefined || ctx?.has(TRACE_CONTEXT_KEY)) return undefined;
  const out = new Map(ctx ?? []);
  out.set(TRACE_CONTEXT_KEY, traceIdOf(scope));
  return out;
}
