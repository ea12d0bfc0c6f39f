/**
 * Configuration as Ice properties (spec §1): defaults < `--config FILE` (= `--Ice.Config=FILE`)
 * < `--Prop.Name=value` arguments. Property names are the original IceFlix ones, so property
 * files written for other implementations keep working.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { Ice } from "../slice/index.js";

export const PROP = {
  topicManager: "IceFlix.IceStorm/TopicManager",
  topicManagerAlias: "IceStorm.TopicManager.Proxy",
  data: "IceFlix.Data",
  secretFile: "IceFlix.Secret.File",
  tokenLifetime: "IceFlix.Token.LifetimeSeconds",
  announcePeriod: "IceFlix.Announce.PeriodSeconds",
  allowUnsigned: "IceFlix.Events.AllowUnsigned",
  maxSkew: "IceFlix.Events.MaxSkewSeconds",
  callTimeout: "IceFlix.Call.TimeoutMs",
  connectTimeout: "IceFlix.Call.ConnectTimeoutMs",
  mediaDir: "IceFlix.Media.Dir",
  streamMax: "IceFlix.Stream.MaxConcurrent",
  reauthGrace: "IceFlix.Stream.ReauthGraceSeconds",
  unusedController: "IceFlix.Stream.UnusedControllerSeconds",
  catalogMaxResults: "IceFlix.Catalog.MaxResults",
  /** Where titles and users live: unset = SQLite in the data folder, or postgresql://… (runtime/database.ts). */
  database: "IceFlix.Database",
} as const;

/** The original deployment's ports (spec §1); `--base-port P` moves them to P…P+3, P+10, P+11. */
export interface Ports {
  authenticator: number;
  main: number;
  catalog: number;
  streaming: number;
  topicManager: number;
  publish: number;
  /** The web client's HTTP port (IceFlix.Web.Endpoint). */
  web: number;
}

export const DEFAULT_PORTS: Readonly<Ports> = {
  authenticator: 9094,
  main: 9095,
  catalog: 9096,
  streaming: 9097,
  topicManager: 10000,
  publish: 10001,
  web: 8080,
};

export function portsFromBase(base?: number): Readonly<Ports> {
  if (base === undefined) return DEFAULT_PORTS;
  return {
    authenticator: base,
    main: base + 1,
    catalog: base + 2,
    streaming: base + 3,
    topicManager: base + 10,
    publish: base + 11,
    web: base + 8,
  };
}

export function defaultTopicManagerProxy(port: number = DEFAULT_PORTS.topicManager): string {
  return `IceStorm/TopicManager:tcp -h 127.0.0.1 -p ${port}`;
}

/** `$ICEFLIX_DATA`, else `$XDG_DATA_HOME/iceflix`, else `~/.local/share/iceflix`. */
export function defaultDataDir(): string {
  if (process.env.ICEFLIX_DATA) return resolve(process.env.ICEFLIX_DATA);
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg ? xdg : join(homedir(), ".local", "share"), "iceflix");
}

/** Thrown for unusable configuration; the CLI prints the message and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** `host:port` (IPv6 in brackets) of a listening HTTP endpoint; a ConfigError naming `name` otherwise. */
export function hostPort(name: string, value: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[\w.-]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65_535) throw new ConfigError(`${name} must be host:port (got ${JSON.stringify(value)})`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/**
 * Splits `--Some.Property=value` arguments (a name with a dot or slash before `=`) from the
 * others. `--config F` and `--config=F` become `Ice.Config`.
 */
export function splitPropertyArgs(argv: readonly string[]): { properties: Map<string, string>; rest: string[] } {
  const properties = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--config") {
      const file = argv[++i];
      if (!file) throw new ConfigError("--config needs a file");
      properties.set("Ice.Config", file);
      continue;
    }
    const m = /^--([A-Za-z][\w-]*(?:[./][\w/-]+)+)(?:=(.*))?$/s.exec(arg);
    if (m) {
      properties.set(m[1]!, m[2] ?? "1");
      continue;
    }
    if (arg.startsWith("--config=")) {
      properties.set("Ice.Config", arg.slice("--config=".length));
      continue;
    }
    rest.push(arg);
  }
  return { properties, rest };
}

/** Builds Ice properties from defaults, the config file(s) named by Ice.Config, and overrides. */
export function loadProperties(overrides: Map<string, string>, defaults: Record<string, string> = {}): Ice.Properties {
  const props = Ice.createProperties();
  for (const [k, v] of Object.entries(defaults)) props.setProperty(k, v);
  const configFiles = overrides.get("Ice.Config") ?? "";
  for (const file of configFiles.split(",").map((f) => f.trim()).filter(Boolean)) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`, { cause: e });
    }
    if (text.trim()) (props as unknown as { parse(t: string): void }).parse(text);
  }
  for (const [k, v] of overrides) props.setProperty(k, v);
  // The two spellings of the broker property are one setting.
  const tm = props.getProperty(PROP.topicManager) || props.getProperty(PROP.topicManagerAlias);
  if (tm) {
    props.setProperty(PROP.topicManager, tm);
    props.setProperty(PROP.topicManagerAlias, tm);
  }
  return props;
}

/** An integer property within [min, max], or a ConfigError naming it. */
export function intProperty(props: Ice.Properties, name: string, dflt: number, min: number, max: number): number {
  const raw = props.getProperty(name).trim();
  if (raw === "") return dflt;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer (got "${raw}")`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max} (got ${n})`);
  return n;
}

/** One of `choices` (exactly as written), `dflt` when unset, or a ConfigError naming the property and the choices. */
export function choiceProperty<C extends string>(props: Ice.Properties, name: string, choices: readonly C[], dflt: C): C {
  const raw = props.getProperty(name).trim();
  if (raw === "") return dflt;
  const choice = choices.find((c) => c === raw);
  if (!choice) throw new ConfigError(`${name} must be one of ${choices.join(", ")} (got ${JSON.stringify(raw)})`);
  return choice;
}

export function boolProperty(props: Ice.Properties, name: string, dflt: boolean): boolean {
  const raw = props.getProperty(name).trim();
  if (raw === "") return dflt;
  if (raw === "1" || raw.toLowerCase() === "true") return true;
  if (raw === "0" || raw.toLowerCase() === "false") return false;
  throw new ConfigError(`${name} must be 0 or 1 (got "${raw}")`);
}
