/**
 * A TypeScript process hosting echo servants of every contract interface through the server
 * transport, for interop and robustness tests. Prints one JSON line on stdout:
 *   {"event":"ready","endpoints":"tcp -h 127.0.0.1 -p N","pid":…}
 * Identities: "catalog" (MediaCatalog), "auth" (Authenticator), "provider" (StreamProvider),
 * "controller" (StreamController), "announcements" (ServiceAvailability, records what it gets),
 * "slow" (Authenticator whose isAuthorized takes `ms` from the token text).
 * Endpoints come from `TestAdapter.Endpoints` (default `tcp -h 127.0.0.1 -p 0`); other
 * `--Prop=value` arguments are Ice properties.
 */
import { Ice, IceFlix } from "../../src/slice/index.js";
import { ServerAdapter } from "../../src/ice-server/index.js";
import { createCommunicator } from "../../src/runtime/communicator.js";
import { createLogger } from "../../src/runtime/logger.js";
import { loadProperties, splitPropertyArgs } from "../../src/runtime/config.js";

const received: Array<{ kind: string; id: string; proxy: string }> = [];

class CatalogEcho extends IceFlix.MediaCatalog {
  constructor(private readonly provider: () => IceFlix.StreamProviderPrx) {
    super();
  }
  getTile(id: string): IceFlix.Media {
    if (id === "wrong") throw new IceFlix.WrongMediaId(id);
    if (id === "unavailable") throw new IceFlix.TemporaryUnavailable();
    if (id === "crash") throw new Error("internal detail /secret/path/file.ts");
    // A lone surrogate cannot be encoded as UTF-8: marshalling this exception throws.
    if (id === "unmarshallable") throw new IceFlix.WrongMediaId("\ud800");
    return new IceFlix.Media(id, this.provider(), new IceFlix.MediaInfo(`name of ${id}`, ["tag1", "ñ", ""]));
  }
  getTilesByName(name: string, exact: boolean): string[] {
    // Echo: the name back, its length in code points and the flag.
    return [name, String([...name].length), String(exact)];
  }
  getTilesByTags(tags: string[], includeAllTags: boolean): string[] {
    return [...tags, String(includeAllTags)];
  }
  renameTile(id: string, _name: string, authentication: string): void {
    if (authentication !== "ok") throw new IceFlix.Unauthorized();
    if (id === "wrong") throw new IceFlix.WrongMediaId(id);
  }
  addTags(id: string, _tags: string[], authentication: string): void {
    this.renameTile(id, "", authentication);
  }
  removeTags(id: string, _tags: string[], authentication: string): void {
    this.renameTile(id, "", authentication);
  }
}

class AuthEcho extends IceFlix.Authenticator {
  refreshAuthorization(user: string, passwordHash: string, current: Ice.Current): string {
    if (user === "bad") throw new IceFlix.Unauthorized();
    const info = current.con.getInfo() as Ice.TCPConnectionInfo;
    return JSON.stringify({ user, passwordHash, remote: info.remoteAddress, ctx: Object.fromEntries(current.ctx ?? new Map()) });
  }
  isAuthorized(authentication: string): boolean {
    return authentication === "ok";
  }
}

class SlowAuth extends IceFlix.Authenticator {
  refreshAuthorization(): string {
    throw new IceFlix.Unauthorized();
  }
  async isAuthorized(authentication: string): Promise<boolean> {
    await new Promise((r) => setTimeout(r, Number(authentication) || 0));
    return true;
  }
}

class ProviderEcho extends IceFlix.StreamProvider {
  constructor(private readonly controller: () => IceFlix.StreamControllerPrx) {
    super();
  }
  getStream(id: string, authentication: string): IceFlix.StreamControllerPrx {
    if (authentication !== "ok") throw new IceFlix.Unauthorized();
    if (id === "wrong") throw new IceFlix.WrongMediaId(id);
    return this.controller();
  }
  isAvailable(id: string): boolean {
    return id === "available";
  }
  reannounceMedia(): void {}
}

class ControllerEcho extends IceFlix.StreamController {
  getSDP(authentication: string, port: number): string {
    if (authentication !== "ok") throw new IceFlix.Unauthorized();
    return `port=${port}`;
  }
  getSyncTopic(): string {
    return "sync-topic";
  }
  refreshAuthentication(authentication: string): void {
    if (authentication !== "ok") throw new IceFlix.Unauthorized();
  }
  stop(): void {}
}

class AnnouncementsRecorder extends IceFlix.ServiceAvailability {
  catalogService(service: IceFlix.MediaCatalogPrx | null, id: string): void {
    received.push({ kind: "catalog", id, proxy: service ? service.toString() : "" });
  }
  authenticationService(service: IceFlix.AuthenticatorPrx | null, id: string): void {
    received.push({ kind: "auth", id, proxy: service ? service.toString() : "" });
  }
  mediaService(service: IceFlix.StreamProviderPrx | null, id: string): void {
    received.push({ kind: "media", id, proxy: service ? service.toString() : "" });
  }
}

/** Lets tests read what AnnouncementsRecorder received (an Authenticator-shaped query op). */
class ReceivedQuery extends IceFlix.MediaCatalog {
  getTile(): IceFlix.Media {
    throw new IceFlix.TemporaryUnavailable();
  }
  getTilesByName(): string[] {
    return received.map((r) => JSON.stringify(r));
  }
  getTilesByTags(): string[] {
    return [];
  }
  renameTile(): void {}
  addTags(): void {}
  removeTags(): void {}
}

async function run(): Promise<void> {
  const { properties } = splitPropertyArgs(process.argv.slice(2));
  const props = loadProperties(properties, { "TestAdapter.Endpoints": "tcp -h 127.0.0.1 -p 0" });
  const log = createLogger("contract-server", process.env.ICEFLIX_LOG_LEVEL ?? "warn");
  const communicator = createCommunicator(props, log);
  const server = await ServerAdapter.create(communicator, "TestAdapter");
  let controller: IceFlix.StreamControllerPrx | undefined;
  let provider: IceFlix.StreamProviderPrx | undefined;
  controller = IceFlix.StreamControllerPrx.uncheckedCast(server.add(new ControllerEcho(), "controller"));
  provider = IceFlix.StreamProviderPrx.uncheckedCast(server.add(new ProviderEcho(() => controller!), "provider"));
  server.add(new CatalogEcho(() => provider!), "catalog");
  server.add(new AuthEcho(), "auth");
  server.add(new SlowAuth(), "slow");
  server.add(new AnnouncementsRecorder(), "announcements");
  server.add(new ReceivedQuery(), "received");
  process.stdout.write(JSON.stringify({ event: "ready", endpoints: server.publishedEndpoints, pid: process.pid }) + "\n");
  const stop = async () => {
    await server.destroy();
    await communicator.destroy();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

void run();
