/**
 * When a freshly deployed grid serves: every server's adapters registered (a server that exited
 * while IceStorm was still coming up is being restarted by its node), every node's Main (their
 * direct endpoints are what main.proxy holds), one Main handing out an Authenticator and a
 * MediaCatalog (so a login works at once), the replicated TopicManager resolving. IceGrid has no event for "the services
 * found each other", so each is polled, all within one deadline.
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
  for (const [k, node] of nodes.entries()) {
    const adapters = ["Authenticator-NODE.AuthenticatorAdapter", "Catalog-NODE.CatalogAdapter", "StreamProvider-NODE.StreamingAdapter"];
    for (const adapter of adapters) {
      const adapterId = `IceFlix.${adapter.replace("NODE", node)}`;
      await until(`${adapterId} registered`, deadline, () => locator.findAdapterById(adapterId));
    }
    // IceStorm replicas run on the first 3 nodes (descriptorNodes.ts).
    if (k < 3) await until(`IceStorm replica ${k + 1}`, deadline, () => locator.findAdapterById(`IceFlix.IceStorm${k + 1}.TopicManager`));
  }
  const mains: string[] = [];
  for (const node of nodes) {
    const adapterId = `IceFlix.Main-${node}.MainAdapter`;
    const found = await until(`the Main of ${node} (${adapterId})`, deadline, () => locator.findAdapterById(adapterId));
    mains.push(`Main:${found.ice_getEndpoints().map((e) => e.toString()).join(":")}`);
  }
  const main = IceFlix.MainPrx.uncheckedCast(communicator.stringToProxy(mains[0]!));
  await until("a Main handing out an Authenticator", deadline, () => main.getAuthenticator());
  await until("a Main handing out a MediaCatalog", deadline, () => main.getCatalogService());
  await until(`the replicated TopicManager (${TOPIC_MANAGER_IDENTITY})`, deadline, async () => {
    await communicator.stringToProxy(TOPIC_MANAGER_IDENTITY).ice_ping();
    return true;
  });
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
