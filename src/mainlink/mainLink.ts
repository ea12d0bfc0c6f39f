/**
 * A client's way into a deployment (shared by the terminal client and the checker): one Main proxy (all its endpoints, so Ice fails over
 * between Mains), reached with retries (spec §8), and the Authenticator and MediaCatalog it hands
 * out, cached. A service that stops answering is asked of Main again, once, within the same
 * command; Main itself lost is reported, and reached again (with retries) by the next command.
 * Works with any Main; with our MainExt it also learns the broker and the token lifetime.
 */
import { Ice, IceFlix, IceFlixExt, IceStorm } from "../slice/index.js";
import { callDroppingStuckConnection } from "../runtime/staleConnection.js";
import { ClientError, describeError, isTransportFailure } from "./linkErrors.js";
import { withRetries, type RetryPolicy, type Sleep } from "./retry.js";

export type LinkState = "connecting" | "connected" | "lost";

export interface MainFacts {
  /** Main offers IceFlixExt.MainExt (our implementation). */
  ext: boolean;
  topicManager?: IceStorm.TopicManagerPrx;
  tokenLifetimeSeconds?: number;
}

/** `host:port` of a proxy's first endpoint (`+N` when it has more), for the prompt. */
export function endpointLabel(proxy: Ice.ObjectPrx): string {
  const endpoints = proxy.ice_getEndpoints();
  if (endpoints.length === 0) return `${proxy.ice_getIdentity().name} (through the locator)`;
  const info = endpoints[0]?.getInfo();
  if (!(info instanceof Ice.IPEndpointInfo)) return proxy.ice_getIdentity().name;
  const host = info.host.includes(":") ? `[${info.host}]` : info.host;
  return `${host}:${info.port}` + (endpoints.length > 1 ? `+${endpoints.length - 1}` : "");
}

export class MainLink {
  readonly proxyText: string;
  readonly label: string;
  readonly #base: Ice.ObjectPrx;
  #main: IceFlix.MainPrx | undefined;
  #facts: MainFacts | undefined;
  #state: LinkState = "connecting";
  #lastError: string | undefined;
  #authenticator: IceFlix.AuthenticatorPrx | undefined;
  #catalog: IceFlix.MediaCatalogPrx | undefined;
  #connecting: Promise<MainFacts> | undefined;

  constructor(
    communicator: Ice.Communicator,
    proxyText: string,
    private readonly policy: RetryPolicy,
    /** Progress lines while retrying ("cannot reach Main …; retrying in 10 s"). */
    private readonly say: (line: string) => void,
    private readonly sleep?: Sleep,
  ) {
    this.proxyText = proxyText.trim();
    try {
      this.#base = communicator.stringToProxy(this.proxyText);
    } catch (e) {
      throw new ClientError(`not a valid proxy: ${this.proxyText} (${describeError(e)})`);
    }
    // Without endpoints a locator must resolve it (Ice.Default.Locator: e.g. the web server as an IceGrid server, "Main").
    if (this.#base.ice_getEndpoints().length === 0 && !this.#base.ice_getLocator()) {
      throw new ClientError(`the proxy ${this.proxyText} has no endpoint (e.g. Main:tcp -h 127.0.0.1 -p 9095)`);
    }
    this.label = endpointLabel(this.#base);
  }

  get state(): LinkState {
    return this.#state;
  }

  /** What went wrong last time Main was asked, while lost. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  get facts(): MainFacts | undefined {
    return this.#facts;
  }

  /** Reaches Main (retrying per the policy) and learns what it offers. */
  connect(): Promise<MainFacts> {
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<MainFacts> {
    const attempts = Math.max(1, this.policy.attempts);
    try {
      const facts = await withRetries(this.policy, () => this.#connectOnce(), {
        sleep: this.sleep,
        onRetry: (n, e, delayMs) =>
          this.say(`cannot reach Main at ${this.label} (${describeError(e)}); attempt ${n}/${attempts}, retrying in ${formatSeconds(delayMs)}`),
      });
      this.#facts = facts;
      this.#state = "connected";
      this.#lastError = undefined;
      return facts;
    } catch (e) {
      this.#state = "lost";
      this.#lastError = describeError(e);
      if (e instanceof ClientError) throw e;
      throw new ClientError(
        `Main at ${this.proxyText} is not reachable after ${attempts} attempt${attempts === 1 ? "" : "s"} (${describeError(e)}). ` +
          "Is IceFlix running (iceflix up)? Or connect to another Main.",
        undefined,
        { cause: e },
      );
    }
  }

  async #connectOnce(): Promise<MainFacts> {
    let ext: IceFlixExt.MainExtPrx | null;
    try {
      ext = await IceFlixExt.MainExtPrx.checkedCast(this.#base);
    } catch (e) {
      if (e instanceof Ice.ObjectNotExistException) {
        throw new ClientError(`there is no object "${this.#base.ice_getIdentity().name}" at ${this.label} (is the proxy right?)`);
      }
      throw e;
    }
    if (ext) {
      this.#main = ext;
      const [topicManager, tokenLifetimeSeconds] = await Promise.all([ext.getTopicManager(), ext.tokenLifetimeSeconds()]);
      return { ext: true, topicManager: topicManager ?? undefined, tokenLifetimeSeconds };
    }
    const main = await IceFlix.MainPrx.checkedCast(this.#base);
    if (!main) throw new ClientError(`${this.proxyText} is not an IceFlix Main`);
    this.#main = main;
    return { ext: false };
  }

  /** Connected, or connects now (with retries) when never connected or lost. */
  async ensureConnected(): Promise<IceFlix.MainPrx> {
    if (this.#state !== "connected" || !this.#main) await this.connect();
    return this.#main!;
  }

  /** One quick check that Main answers (for status); marks the link lost if it does not. */
  async ping(): Promise<boolean> {
    try {
      await this.#base.ice_ping();
      if (this.#state === "lost" && this.#main) this.#state = "connected";
      return this.#state === "connected";
    } catch (e) {
      if (!isTransportFailure(e)) throw e;
      this.#lost(e);
      return false;
    }
  }

  #lost(e: unknown): void {
    this.#state = "lost";
    this.#lastError = describeError(e);
  }

  /** Calls Main; a transport failure marks Main lost and becomes a clear ClientError. */
  async #ask<T>(what: string, call: (main: IceFlix.MainPrx) => PromiseLike<T>): Promise<T> {
    const main = await this.ensureConnected();
    try {
      return await callDroppingStuckConnection(main, call);
    } catch (e) {
      if (e instanceof IceFlix.TemporaryUnavailable) throw new ClientError(`no ${what} is available right now; try again later`);
      if (isTransportFailure(e)) {
        this.#lost(e);
        throw new ClientError(`lost Main at ${this.label} (${describeError(e)}); the next command will try to reach it again`, undefined, {
          cause: e,
        });
      }
      throw e;
    }
  }

  /** Runs `fn` on the cached service; after a transport failure asks Main for one again and retries once. */
  async #withService<P extends Ice.ObjectPrx, T>(
    what: string,
    cached: () => P | undefined,
    remember: (p: P | undefined) => void,
    askMain: (main: IceFlix.MainPrx) => PromiseLike<P | null>,
    fn: (service: P) => PromiseLike<T>,
  ): Promise<T> {
    const obtain = async () => {
      const p = await this.#ask(what, askMain);
      if (!p) throw new ClientError(`Main returned no ${what}`);
      remember(p);
      return p;
    };
    let service = cached() ?? (await obtain());
    try {
      // A call that timed out leaves its connection stuck when the link is down (TCP back-off):
      // dropped, so the retry and later commands use a fresh one.
      return await callDroppingStuckConnection(service, fn);
    } catch (e) {
      if (!isTransportFailure(e)) throw e;
      remember(undefined);
    }
    service = await obtain();
    try {
      return await callDroppingStuckConnection(service, fn);
    } catch (e) {
      if (!isTransportFailure(e)) throw e;
      remember(undefined);
      throw new ClientError(`the ${what} does not answer (${describeError(e)}); the next command will ask Main for another`, undefined, {
        cause: e,
      });
    }
  }

  withCatalog<T>(fn: (catalog: IceFlix.MediaCatalogPrx) => PromiseLike<T>): Promise<T> {
    return this.#withService(
      "catalog service",
      () => this.#catalog,
      (p) => (this.#catalog = p),
      (main) => main.getCatalogService(),
      fn,
    );
  }

  withAuthenticator<T>(fn: (authenticator: IceFlix.AuthenticatorPrx) => PromiseLike<T>): Promise<T> {
    return this.#withService(
      "authentication service",
      () => this.#authenticator,
      (p) => (this.#authenticator = p),
      (main) => main.getAuthenticator(),
      fn,
    );
  }
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
