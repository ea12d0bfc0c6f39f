/**
 * Where a getSDP caller wants its stream (spec §6): the caller's own IP, as its Ice connection
 * shows it (a client cannot aim a stream at someone else), and the port it gives (1–65535, else
 * InvalidArgument).
 */
import { Ice, IceFlixExt } from "../../slice/index.js";
import type { RtpDestination } from "./pipelinePlan.js";

export interface CallerRoute {
  destination: RtpDestination;
  /** Our own address on that connection (for the SDP's o= line). */
  origin: string;
}

/** The port argument, checked. */
export function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new IceFlixExt.InvalidArgument(`port must be between 1 and 65535 (got ${port})`);
  }
  return port;
}

export function callerRoute(current: Ice.Current, port: number): CallerRoute {
  checkPort(port);
  let info: Ice.ConnectionInfo | null = current.con?.getInfo() ?? null;
  while (info && !(info instanceof Ice.IPConnectionInfo)) info = info.underlying;
  const remote = info ? numericAddress(info.remoteAddress) : undefined;
  if (!info || !remote) throw new IceFlixExt.InvalidArgument("cannot tell this connection's IP address to send the stream to");
  return { destination: { host: remote, port }, origin: numericAddress(info.localAddress) ?? remote };
}

/** An IPv4-mapped IPv6 address as plain IPv4; undefined for anything but a plain numeric address. */
function numericAddress(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const plain = address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, "$1");
  // A zone index (fe80::1%eth0) cannot go in an SDP c= line.
  return /^[0-9a-fA-F:.]+$/.test(plain) && (plain.includes(".") || plain.includes(":")) ? plain : undefined;
}
