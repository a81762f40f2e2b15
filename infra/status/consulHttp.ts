/**
 * Consul's HTTP API, read-only, the way `consul` itself reaches it: `http(s)://<address>`, the
 * token in `X-Consul-Token`, for https the stack's CA. (Node's fetch cannot take a CA, hence
 * node:http/node:https.)
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export interface ConsulEndpoint {
  /** `host:port`. */
  address: string;
  scheme: "http" | "https";
  /** PEM CA for https. */
  ca?: string;
  token?: string;
}

/** Consul could not be asked (connection, TLS, timeout) or refused the token (`refused`: asking again will not help). */
export class ConsulUnreachable extends Error {
  constructor(message: string, readonly refused = false) {
    super(message);
  }
}

/**
 * Long enough for a loaded machine (a local server on a busy 2-core machine has taken seconds to
 * answer), short enough that a Consul that does not answer at all is reported within seconds;
 * a refused connection is reported at once anyway.
 */
export const CONSUL_TIMEOUT_MS = 10_000;

export interface ConsulAnswer<T> {
  status: number;
  body: T | undefined;
}

export function consulGet<T>(endpoint: ConsulEndpoint, pathname: string, timeoutMs = CONSUL_TIMEOUT_MS): Promise<ConsulAnswer<T>> {
  const url = new URL(`${endpoint.scheme}://${endpoint.address}${pathname}`);
  const request = endpoint.scheme === "https" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ca: endpoint.ca, headers: endpoint.token ? { "X-Consul-Token": endpoint.token } : {}, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status === 403) {
          reject(new ConsulUnreachable(`Consul at ${url.origin} refused the token (403): set CONSUL_HTTP_TOKEN to a token that may read ${pathname.split("?")[0]}`, true));
          return;
        }
        if (status >= 500) {
          reject(new ConsulUnreachable(`Consul at ${url.origin} answered ${status}: ${text.trim().slice(0, 200)}`));
          return;
        }
        let body: T | undefined;
        try {
          body = text ? (JSON.parse(text) as T) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status, body });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on("error", (error) => reject(new ConsulUnreachable(`Consul at ${url.origin} is unreachable: ${error.message}`)));
    req.end();
  });
}
