/**
 * One HTTP GET sent from a chosen loopback address (`localAddress`, e.g. 127.0.0.3): a second
 * client by IP on one machine, for the provider's TicketBinding=address. Bounded in time.
 */
import { get } from "node:http";

export interface AddressedAnswer {
  status: number;
  setCookie: string | undefined;
  body: string;
}

export function getFromAddress(url: string, localAddress: string, headers: Record<string, string>, timeoutMs = 5000): Promise<AddressedAnswer> {
  return new Promise((resolve, reject) => {
    const req = get(url, { localAddress, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (b: Buffer) => chunks.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"]?.[0], body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.once("error", reject);
  });
}
