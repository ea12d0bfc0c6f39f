/**
 * Dropping a connection that a timed-out call leaves behind. When a link is cut, a request
 * written on an open TCP connection sits unacknowledged and the kernel retransmits it with
 * exponential back-off; after the link heals nothing moves on that connection until the next
 * retransmission, seconds later (measured: 1.6–5.8 s of extra outage after an 8–12 s cut). The
 * Ice runtime keeps such a connection after an invocation timeout, so later calls queue behind
 * it. Closing it makes the next call open a fresh connection, which works as soon as the peer is
 * reachable again (and fails within the connect timeout while it is not).
 */
import { Ice } from "../slice/index.js";

/** True for the failures after which the connection used may be stuck (not refused, not closed). */
export function isStuckTimeout(error: unknown): boolean {
  return error instanceof Ice.TimeoutException && !(error instanceof Ice.ConnectTimeoutException);
}

/**
 * Runs `call(proxy)` on the connection `proxy` has or gets now, and closes that connection
 * (forcefully: a graceful close would wait on the same stuck link) if the call times out. The
 * connection is taken before the call because the runtime forgets a proxy's connection when a
 * call on it fails. Other calls still waiting on it fail at once with
 * ConnectionManuallyClosedException instead of running into their own timeout.
 */
export async function callDroppingStuckConnection<P extends Ice.ObjectPrx, T>(proxy: P, call: (proxy: P) => PromiseLike<T>): Promise<T> {
  // The cached connection (synchronous) when the proxy has one: this runs on every token check
  // and publish; only a proxy not yet connected waits for ice_getConnection().
  const connection = proxy.ice_getCachedConnection() ?? (await proxy.ice_getConnection());
  try {
    return await call(proxy);
  } catch (e) {
    if (connection && isStuckTimeout(e)) void connection.close(Ice.ConnectionClose.Forcefully).catch(() => undefined);
    throw e;
  }
}
