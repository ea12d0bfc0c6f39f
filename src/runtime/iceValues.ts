/** Conversions between JS values and Ice runtime value types. */
import { Ice } from "../slice/index.js";

/** An Ice `long` from a non-negative safe integer (e.g. ms since the epoch). */
export function toIceLong(n: number): Ice.Long {
  return new Ice.Long(Math.floor(n / 0x1_0000_0000), n >>> 0);
}

/** A proxy as people write it: `Main:tcp -h 127.0.0.1 -p 9095` (default options left out). */
export function proxyText(communicator: Ice.Communicator, proxy: Ice.ObjectPrx): string {
  return communicator.proxyToString(proxy).replace(/ -t -e 1\.[01](?=:|$)/, "").replace(/ -t 60000(?=:|$)/g, "");
}
