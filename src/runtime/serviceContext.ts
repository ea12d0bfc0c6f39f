/**
 * What every IceFlix service needs besides its own logic: settings from the properties, the
 * deployment secret, the event signer and gate (spec §7), and the broker's topics.
 */
import { join } from "node:path";
import { Ice } from "../slice/index.js";
import { boolProperty, defaultDataDir, defaultTopicManagerProxy, intProperty, PROP } from "./config.js";
import { DEFAULT_CALL_TIMEOUT_MS } from "./communicator.js";
import { resolveDatabase, type DatabaseChoice } from "./database.js";
import { EventGate, EventSigner } from "./eventSignature.js";
import { ensureSecret } from "./secret.js";
import { Topics } from "./topics.js";
import { metrics } from "./metrics.js";
import type { Logger } from "./logger.js";

export interface CommonSettings {
  dataDir: string;
  announcePeriodMs: number;
  callTimeoutMs: number;
  topicManagerProxy: string;
  tokenLifetimeSeconds: number;
  allowUnsigned: boolean;
  maxSkewSeconds: number;
  secretFile: string;
  /** IceFlix.Database, else the URL `up` recorded in the data folder, else SQLite. */
  database: DatabaseChoice;
}

export function commonSettings(props: Ice.Properties): CommonSettings {
  const dataDir = props.getProperty(PROP.data) || defaultDataDir();
  return {
    dataDir,
    announcePeriodMs: intProperty(props, PROP.announcePeriod, 10, 1, 3600) * 1000,
    callTimeoutMs: intProperty(props, PROP.callTimeout, DEFAULT_CALL_TIMEOUT_MS, 1, 3_600_000),
    topicManagerProxy: props.getProperty(PROP.topicManager) || defaultTopicManagerProxy(),
    tokenLifetimeSeconds: intProperty(props, PROP.tokenLifetime, 30, 1, 86_400),
    allowUnsigned: boolProperty(props, PROP.allowUnsigned, false),
    maxSkewSeconds: intProperty(props, PROP.maxSkew, 60, 1, 86_400),
    secretFile: props.getProperty(PROP.secretFile) || join(dataDir, "secret"),
    database: resolveDatabase(props.getProperty(PROP.database), dataDir),
  };
}

export interface ServiceContext {
  communicator: Ice.Communicator;
  props: Ice.Properties;
  log: Logger;
  settings: CommonSettings;
  secret: Buffer;
  signer: EventSigner;
  gate: EventGate;
  topics: Topics;
}

export function createServiceContext(communicator: Ice.Communicator, props: Ice.Properties, log: Logger): ServiceContext {
  const settings = commonSettings(props);
  const secret = ensureSecret(settings.secretFile);
  const signer = new EventSigner(secret);
  const gate = new EventGate(signer, {
    allowUnsigned: settings.allowUnsigned,
    maxSkewSeconds: settings.maxSkewSeconds,
    onDrop: (topic, operation, reason) => {
      metrics.eventsDropped.inc({ topic, reason });
      log.warn({ topic, operation, reason }, "event dropped");
    },
    onAccept: (topic) => metrics.eventsReceived.inc({ topic }),
  });
  const topics = Topics.fromProxy(communicator, settings.topicManagerProxy, log);
  return { communicator, props, log, settings, secret, signer, gate, topics };
}
