/**
 * `iceflix web`: the browser client's server, an Ice client of Main like the terminal client
 * (src/mainlink: hand-outs, retries, token renewal). Main's proxy: IceFlix.Web.Main, else the
 * first line of <data>/main.proxy. Listens on IceFlix.Web.Endpoint [127.0.0.1:8080].
 */
import { readFileSync } from "node:fs";
import { Ice } from "../slice/index.js";
import { ConfigError, hostPort, intProperty, PROP } from "../runtime/config.js";
import type { Logger } from "../runtime/logger.js";
import type { RunningComponent } from "../runtime/lifecycle.js";
import { dataPaths } from "../common/dataDir.js";
import { MainLink } from "../mainlink/mainLink.js";
import { TokenKeeper } from "../mainlink/tokenKeeper.js";
import { Sessions } from "./sessions.js";
import { WebServer } from "./webServer.js";

export const PROP_WEB_ENDPOINT = "IceFlix.Web.Endpoint";
export const PROP_WEB_MAIN = "IceFlix.Web.Main";
export const DEFAULT_WEB_PORT = 8080;

export async function startWebComponent(communicator: Ice.Communicator, props: Ice.Properties, log: Logger): Promise<RunningComponent> {
  const endpoint = hostPort(PROP_WEB_ENDPOINT, props.getProperty(PROP_WEB_ENDPOINT).trim() || `127.0.0.1:${DEFAULT_WEB_PORT}`);
  let mainProxy = props.getProperty(PROP_WEB_MAIN).trim();
  if (!mainProxy) {
    const file = dataPaths(props.getProperty(PROP.data)).mainProxy;
    try {
      mainProxy = readFileSync(file, "utf8").split("\n")[0]!.trim();
    } catch {
      throw new ConfigError(`no Main proxy: set ${PROP_WEB_MAIN} or start IceFlix with iceflix up (it writes ${file})`);
    }
  }
  const idleMs = intProperty(props, "IceFlix.Web.SessionIdleSeconds", 1800, 10, 86_400) * 1000;
  const maxSessions = intProperty(props, "IceFlix.Web.MaxSessions", 10_000, 1, 1_000_000);
  const link = new MainLink(communicator, mainProxy, { attempts: 3, delayMs: 1000 }, (line) => log.warn(line));
  const facts = await link.connect().catch((e: Error) => {
    log.warn({ error: e.message }, "Main not reachable yet; each request tries again");
    return undefined;
  });
  const sessions = new Sessions(
    (onRenewed) => {
      const keeper = new TokenKeeper((user, hash) => link.withAuthenticator((a) => a.refreshAuthorization(user, hash)), undefined, {
        renewed: (token) => onRenewed(token),
        renewalFailed: (e) => log.warn({ error: String(e) }, "token renewal failed; trying again"),
      });
      keeper.setLifetime(link.facts?.tokenLifetimeSeconds ?? facts?.tokenLifetimeSeconds);
      return keeper;
    },
    maxSessions,
    idleMs,
  );
  const sweep = setInterval(() => sessions.sweep(), 60_000).unref();
  const metricsUrlsFile = dataPaths(props.getProperty(PROP.data)).metricsUrls;
  const server = await WebServer.start({ link, sessions, communicator, metricsUrlsFile }, endpoint.host, endpoint.port, log);
  log.info({ url: server.url, main: mainProxy }, "web server ready");
  return {
    proxy: server.url,
    stop: async () => {
      clearInterval(sweep);
      sessions.clear();
      await server.stop();
    },
  };
}
