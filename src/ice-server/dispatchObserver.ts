/**
 * Two hooks for observability (src/runtime/requestObserver.ts implements them), kept out of the
 * dispatch path itself:
 * - a DispatchObserver sees every dispatch of the servants added through ServerAdapter from the
 *   moment it is set: the servant's `_iceDispatch` (the runtime's per-class dispatch function) is
 *   wrapped once when the servant is added, so nothing is added per call when no observer is set;
 * - an outgoing context source adds entries to the context of every outgoing request made while it
 *   answers (the trace id of the request being served), through the runtime's
 *   OutgoingAsync.prepare, which writes the context. Both are runtime internals, checked here.
 */
import { Ice } from "../slice/index.js";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

/** The runtime's per-servant dispatch: returns a promise for an asynchronous servant method, else null. */
export type ServantDispatch = (this: Ice.Object, incoming: unknown, current: Ice.Current) => PromiseLike<unknown> | null;

export interface DispatchObserver<S = unknown> {
  /** Once per servant, when it is added: what dispatch() gets back as `servantState`. */
  servant(servant: Ice.Object): S;
  /** Runs one dispatch: calls `dispatch.call(servant, incoming, current)` once and returns its result. */
  dispatch(servantState: S, dispatch: ServantDispatch, servant: Ice.Object, incoming: unknown, current: Ice.Current): PromiseLike<unknown> | null;
}

let observer: DispatchObserver | undefined;

/** Servants added from now on are observed (set once at process start, before any adapter). */
export function setDispatchObserver(o: DispatchObserver<any> | undefined): void {
  observer = o;
}

/** Wraps the servant's dispatch with the observer, if one is set; returns the servant. */
export function observeServant<T extends Ice.Object>(servant: T): T {
  const o = observer;
  if (o === undefined) return servant;
  const s = servant as Any;
  const dispatch = s._iceDispatch as ServantDispatch | undefined;
  if (typeof dispatch !== "function" || Object.prototype.hasOwnProperty.call(s, "_iceDispatch")) return servant;
  const state = o.servant(servant);
  s._iceDispatch = function (this: Ice.Object, incoming: unknown, current: Ice.Current) {
    return o.dispatch(state, dispatch, this, incoming, current);
  };
  return servant;
}

/** Given the context an outgoing request would carry (null: the proxy's own), the one to send. */
export type OutgoingContextSource = (ctx: Map<string, string> | null) => Map<string, string> | undefined;

let contextSource: OutgoingContextSource | undefined;

/**
 * Outgoing requests of this process ask `source` for their context (undefined: unchanged).
 * Process-wide; a later call replaces the source.
 */
export function setOutgoingContextSource(source: OutgoingContextSource): void {
  const OutgoingAsync = (Ice as Any).OutgoingAsync;
  if (typeof OutgoingAsync?.prototype?.prepare !== "function") {
    throw new Error("the Ice runtime lacks OutgoingAsync.prototype.prepare, which request tracing needs");
  }
  if (contextSource === undefined) {
    const prepare = OutgoingAsync.prototype.prepare;
    OutgoingAsync.prototype.prepare = function (this: Any, op: string, mode: unknown, ctx: Map<string, string> | null | undefined) {
      // ctx undefined: the runtime sends the proxy's context (or an implicit one, which we never use).
      if (contextSource !== undefined && (ctx !== undefined || this._proxy._getReference().getInstance().getImplicitContext() === null)) {
        const base = ctx === undefined ? (this._proxy._getReference().getContext() as Map<string, string> | null) : ctx;
        const replaced = contextSource(base ?? null);
        if (replaced !== undefined) ctx = replaced;
      }
      return prepare.call(this, op, mode, ctx);
    };
  }
  contextSource = source;
}
