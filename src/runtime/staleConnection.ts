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

/** How long a proxy with several endpoints tries the others first after one was stuck. */
export const STUCK_ENDPOINT_LAST_MS = 30_000;

/**
 * Proxies whose call timed out on one of several endpoints (a Main replica on a cut host):
 * the same proxy with that endpoint last, in order, for a while. Without it the retry's new
 * connection picks an endpoint at random and may spend its connect timeout on the same host.
 */
const detours = new WeakMap<Ice.ObjectPrx, { proxy: Ice.ObjectPrx; until: number }>();

/** `proxy` with the endpoint `connection` was made to moved last (Ordered); undefined if it has one endpoint. */
function stuckEndpointLast<P extends Ice.ObjectPrx>(proxy: P, connection: Ice.Connection): P | undefined {
  const endpoints = proxy.ice_getEndpoints();
  if (endpoints.length < 2) return undefined;
  const used = connection.getEndpoint().getInfo();
  const same = (e: Ice.Endpoint) => {
    const info = e.getInfo();
    return info instanceof Ice.IPEndpointInfo && used instanceof Ice.IPEndpointInfo && info.host === used.host && info.port === used.port;
  };
  const stuck = endpoints.filter(same);
  if (stuck.length === 0) return undefined;
  return proxy.ice_endpoints([...endpoints.filter((e) => !same(e)), ...stuck]).ice_endpointSelection(Ice.EndpointSelectionType.Ordered) as P;
}

/**
 * Runs `call(proxy)` on the connection `proxy` has or gets now, and closes that connection
 * (forcefully: a graceful close would wait on the same stuck link) if the call times out. The
 * connection is taken before the call because the runtime forgets a proxy's connection when a
 * call on it fails. Other calls still waiting on it fail at once with
 * ConnectionManuallyClosedException instead of running into their own timeout. For the next
 * STUCK_ENDPOINT_LAST_MS, calls through `proxy` try its other endpoints first.
 */
export async function callDroppingStuckConnection<P extends Ice.ObjectPrx, T>(proxy: P, call: (proxy: P) => PromiseLike<T>): Promise<T> {
  const detour = detours.get(proxy);
  const target = detour && detour.until > Date.now() ? (detour.proxy as P) : proxy;
  // The cached connection (synchronous) when the proxy has one: this runs on every token check
  // and publish; only a proxy not yet connected waits for ice_getConnection().
  const connection = target.ice_getCachedConnection() ?? (await target.ice_getConnection());
  try {
    return await call(target);
  } catch (e) {
    if (connection && isStuckTimeout(e)) {
      void connection.close(Ice.ConnectionClose.Forcefully).catch(() => undefined);
      const reordered = stuckEndpointLast(proxy, connection);
      if (reordered) detours.set(proxy, { proxy: reordered, until: Date.now() + STUCK_ENDPOINT_LAST_MS });
    }
    throw e;
  }
}
