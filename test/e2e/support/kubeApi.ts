/**
 * A few REST calls to the test cluster's API server with the admin client certificate: what the
 * test kubelet and the suites need, no more. (The product's own tools use @kubernetes/client-node;
 * it is ESM-only, which jest on Node 20 cannot load, hence this.)
 */
import { request } from "node:https";
import { readFileSync } from "node:fs";
import * as path from "node:path";

export interface KubeResponse<T = any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  status: number;
  body: T;
}

export class KubeApiError extends Error {
  constructor(readonly status: number, readonly body: unknown, what: string) {
    super(`${what}: HTTP ${status}: ${typeof body === "object" ? (body as { message?: string })?.message ?? JSON.stringify(body) : String(body)}`);
  }
}

export class KubeApi {
  private readonly tls: { ca: Buffer; cert: Buffer; key: Buffer };

  constructor(readonly server: string, pkiDir: string, user = "admin") {
    this.tls = { ca: readFileSync(path.join(pkiDir, "ca.crt")), cert: readFileSync(path.join(pkiDir, `${user}.crt`)), key: readFileSync(path.join(pkiDir, `${user}.key`)) };
  }

  request<T = any>(method: string, pathname: string, body?: unknown, contentType = "application/json"): Promise<KubeResponse<T>> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const url = new URL(pathname, this.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, ...this.tls, headers: { accept: "application/json", ...(payload ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}) } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${pathname}: timed out`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** Like request(), but anything but 2xx throws. */
  async call<T = any>(method: string, pathname: string, body?: unknown, contentType?: string): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await this.request<T>(method, pathname, body, contentType);
    if (response.status < 200 || response.status >= 300) throw new KubeApiError(response.status, response.body, `${method} ${pathname}`);
    return response.body;
  }

  mergePatch<T = any>(pathname: string, body: unknown): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return this.call<T>("PATCH", pathname, body, "application/merge-patch+json");
  }
}
