/**
 * When a freshly deployed grid serves: the IceStorm replicas and the replicated TopicManager,
 * then every service's adapters (a service registers only once it answers calls), one Main
 * handing out an Authenticator and a MediaCatalog (so a login works at once), and every node's
 * Main (their direct endpoints are what main.proxy holds). IceGrid has no event for "the
 * services found each other", so each is polled, all within one deadline.
 */
import { Ice, IceFlix } from "../slice/index.js";

export const TOPIC_MANAGER_IDENTITY = "IceFlix.IceStorm/TopicManager";
const POLL_MS = 200;

export class GridNotReadyError extends Error {
  override name = "GridNotReadyError";
}

/** Resolves with a direct proxy of every node's Main, once the grid serves; throws after timeoutMs naming what is missing. */
export async function waitForGrid(communicator: Ice.Communicator, nodes: readonly string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const locator = communicator.getDefaultLocator();
  if (!locator) throw new Error("waitForGrid needs a communicator with a default locator");
  // IceStorm first: the services subscribe while they start.
  for (let k = 0; k < Math.min(3, nodes.length); k++) {
    await until(`IceStorm replica ${k + 1}`, deadline, () => locator.findAdapterById(`IceFlix.IceStorm${k + 1}.TopicManager`));
  }
  await until(`the replicated TopicManager (${TOPIC_MANAGER_IDENTITY})`, deadline, async () => {
    await communicator.stringToProxy(TOPIC_MANAGER_IDENTITY).ice_ping();
    return true;
  });
  // A service registers once it answers calls (lifecycle.ts), so a registered adapter is a started server.
  for (const node of nodes) {
    for (const adapter of ["Authenticator-NODE.AuthenticatorAdapter", "Catalog-NODE.CatalogAdapter", "StreamProvider-NODE.StreamingAdapter"]) {
      const adapterId = `IceFlix.${adapter.replace("NODE", node)}`;
      await until(`${adapterId} registered`, deadline, () => locator.findAdapterById(adapterId));
    }
  }
  const mainOf = async (node: string) => {
    const found = await locator.findAdapterById(`IceFlix.Main-${node}.MainAdapter`);
    return found ? `Main:${found.ice_getEndpoints().map((e) => e.toString()).join(":")}` : null;
  };
  // Each probe asks the locator again: a Main that restarted has new endpoints.
  for (const [what, getter] of [
    ["an Authenticator", (m: IceFlix.MainPrx) => m.getAuthenticator()],
    ["a MediaCatalog", (m: IceFlix.MainPrx) => m.getCatalogService()],
  ] as const) {
    await until(`a Main handing out ${what}`, deadline, async () => {
      const proxy = await mainOf(nodes[0]!);
      return proxy ? getter(IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(proxy))) : null;
    });
  }
  const mains: string[] = [];
  for (const node of nodes) mains.push(await until(`the Main of ${node}`, deadline, () => mainOf(node)));
  return mains;
}

async function until<T>(what: string, deadline: number, probe: () => PromiseLike<T | null>): Promise<T> {
  let last = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined) return value;
    } catch (e) {
      last = e instanceof Ice.Exception ? e.ice_id() : String(e);
    }
    if (Date.now() >= deadline) throw new GridNotReadyError(`not ready in time: ${what}${last ? ` (last answer: ${last})` : ""}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
