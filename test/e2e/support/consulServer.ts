/**
 * A real Consul server (the binary `npm run engines` built) on 127.0.0.1: a single-node server
 * with a data directory (so it survives a restart, as a chart's server does), ACLs on with
 * `default_policy = "deny"`, a management token generated per run, random ports; with `tls`, an
 * HTTPS port too (support/pki.ts makes the certificates).
 */
import { DEFAULT_SESSION_NODE_PREFIX } from "../../../components/consulAcl";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { engine } from "../../engines/paths";
import type { ConsulTlsFiles } from "../../support/pki";
import { freePort, Proc, waitFor } from "./processes";

export interface ConsulResponse {
  status: number;
  body: unknown;
  text: string;
}

export interface ConsulServerOptions {
  /** Fixed HTTP port (e.g. one a wrapper already points at before Consul starts); default: a free one. */
  httpPort?: number;
  /** Node name; default `consul-server-0`. */
  nodeName?: string;
  /** Management token shared by the servers of one cluster; default: a new UUID. */
  managementToken?: string;
  /** Servers expected to form the cluster (default 1) and the serf LAN addresses to join. */
  bootstrapExpect?: number;
  join?: string[];
  /** Fixed serf LAN port (so that peers can be told where to join before it starts). */
  serfLanPort?: number;
  /** Datacenter; default `dc1`. */
  datacenter?: string;
  /** Serve HTTPS with these files as well (default: plain HTTP only). */
  tls?: ConsulTlsFiles;
}

/** Options every server of a cluster shares. */
export type ClusterOptions = Pick<ConsulServerOptions, "datacenter" | "tls">;

/**
 * The servers' node names, as the consul-k8s chart's StatefulSet gives them (`consul-server-<n>`):
 * what the stacks' default `mogi:consul.sessionNodePrefix` scopes the pod's token to.
 */
export const SERVER_NODE_PREFIX = DEFAULT_SESSION_NODE_PREFIX;

export class ConsulServer {
  readonly managementToken: string;
  readonly nodeName: string;
  httpPort = 0;
  /** The HTTPS port, with `tls`; 0 otherwise. */
  httpsPort = 0;
  serfLanPort = 0;
  private proc?: Proc;
  private readonly configFile: string;
  private starts = 0;

  constructor(private readonly dir: string, private readonly options: ConsulServerOptions = {}) {
    this.configFile = path.join(dir, "consul.hcl");
    this.httpPort = options.httpPort ?? 0;
    this.serfLanPort = options.serfLanPort ?? 0;
    this.managementToken = options.managementToken ?? randomUUID();
    this.nodeName = options.nodeName ?? `${SERVER_NODE_PREFIX}0`;
  }

  /**
   * `count` servers forming one cluster, nodes `consul-server-<i>` (ports chosen up front so that each can join the others),
   * started together: a quorum is needed before any of them answers.
   */
  static async cluster(dir: string, count: number, shared: ClusterOptions = {}): Promise<ConsulServer[]> {
    const managementToken = randomUUID();
    const serfPorts = await Promise.all(Array.from({ length: count }, () => freePort()));
    const servers = serfPorts.map((serfLanPort, i) => new ConsulServer(path.join(dir, `server-${i}`), {
      nodeName: `${SERVER_NODE_PREFIX}${i}`,
      managementToken,
      bootstrapExpect: count,
      serfLanPort,
      join: serfPorts.filter((p) => p !== serfLanPort).map((p) => `127.0.0.1:${p}`),
      ...shared,
    }));
    await Promise.all(servers.map((server) => server.start()));
    return servers;
  }

  get address(): string {
    return `127.0.0.1:${this.httpPort}`;
  }

  get url(): string {
    return `http://${this.address}`;
  }

  /** `127.0.0.1:<https port>`, with `tls`. */
  get httpsAddress(): string {
    if (!this.options.tls) throw new Error("this Consul server serves no HTTPS (no tls option)");
    return `127.0.0.1:${this.httpsPort}`;
  }

  /** The port clients of the stack use: HTTPS with `tls`, else HTTP. */
  get clientPort(): number {
    return this.options.tls ? this.httpsPort : this.httpPort;
  }

  get running(): boolean {
    return this.proc?.alive ?? false;
  }

  /** Writes the configuration (ports chosen once, kept across restarts) and starts the agent. */
  async start(): Promise<void> {
    if (this.starts === 0) await this.writeConfig();
    this.starts += 1;
    this.proc = new Proc("consul", engine("consul"), ["agent", `-config-file=${this.configFile}`], { logFile: path.join(this.dir, "consul.log") });
    await waitFor("Consul to elect itself leader and accept the management token", async () => {
      if (!this.proc?.alive) throw new Error(`consul exited:\n${this.proc?.tail()}`);
      const leader = await this.api("GET", "/v1/status/leader");
      if (leader.status !== 200 || !String(leader.body).includes(":")) return false;
      return (await this.api("GET", "/v1/acl/token/self")).status === 200;
    }, 60_000, 100);
  }

  /** SIGTERM (as Kubernetes stops a pod; a server does not leave the cluster on it), then start again. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.proc?.stop(15_000);
  }

  tail(lines = 40): string {
    return this.proc?.tail(lines) ?? "(consul was not started)";
  }

  private async writeConfig(): Promise<void> {
    if (!this.httpPort) this.httpPort = await freePort();
    if (!this.serfLanPort) this.serfLanPort = await freePort();
    const tls = this.options.tls;
    if (tls) this.httpsPort = await freePort();
    const server = await freePort();
    mkdirSync(path.join(this.dir, "data"), { recursive: true });
    writeFileSync(this.configFile, [
      `node_name = "${this.nodeName}"`,
      `datacenter = "${this.options.datacenter ?? "dc1"}"`,
      `data_dir = "${path.join(this.dir, "data")}"`,
      `server = true`,
      `bootstrap_expect = ${this.options.bootstrapExpect ?? 1}`,
      `retry_join = ${JSON.stringify(this.options.join ?? [])}`,
      `bind_addr = "127.0.0.1"`,
      `advertise_addr = "127.0.0.1"`,
      `client_addr = "127.0.0.1"`,
      `log_level = "INFO"`,
      `disable_update_check = true`,
      // Consul's production recommendation ("Server Performance": 1, not the default 5, which is
      // tuned for t2.micro servers): a leader lost is replaced in 1-2 s, not 5-10 s, so a leader's
      // restart does not outlast the guard's 6 s deadline (components/README.md#limits-of-the-guarantee).
      `performance { raft_multiplier = 1 }`,
      // The HTTP port stays open with TLS: the suites' own management calls use it (Node's fetch
      // takes no CA); the stack, its pods and `npm run status` are only ever given the HTTPS one.
      `ports { http = ${this.httpPort}, https = ${tls ? this.httpsPort : -1}, grpc = -1, grpc_tls = -1, dns = -1, serf_wan = -1, serf_lan = ${this.serfLanPort}, server = ${server} }`,
      // Consul 1.12+ `tls` stanza (1.14 docs, agent/config/config-file#tls-configuration-reference):
      // `defaults` apply to the HTTPS API; no client certificate asked for (verify_incoming
      // false: the stack has no client-certificate setting, its pods and provider present none);
      // RPC between the servers stays plain TCP (verify_outgoing false): only the API's TLS is
      // under test.
      ...(tls ? [`tls { defaults { ca_file = "${tls.caFile}", cert_file = "${tls.certFile}", key_file = "${tls.keyFile}", verify_incoming = false, verify_outgoing = false } }`] : []),
      // The server's own token is the management token: a test cluster, not a pattern to copy.
      `acl { enabled = true, default_policy = "deny", enable_token_persistence = true, tokens { initial_management = "${this.managementToken}", agent = "${this.managementToken}" } }`,
      "",
    ].join("\n"));
  }

  /** One HTTP call, with `token` (default: the management token). */
  async api(method: string, pathname: string, options: { token?: string; body?: unknown } = {}): Promise<ConsulResponse> {
    const response = await fetch(`${this.url}${pathname}`, {
      method,
      headers: { "X-Consul-Token": options.token ?? this.managementToken },
      body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body, text };
  }

  /** Like api(), but a non-2xx status throws with Consul's answer. */
  async call(method: string, pathname: string, options: { token?: string; body?: unknown } = {}): Promise<unknown> {
    const response = await this.api(method, pathname, options);
    if (response.status >= 300) throw new Error(`Consul ${method} ${pathname}: HTTP ${response.status}: ${response.text.trim()}`);
    return response.body;
  }

  /** An ACL policy with these rules and a token bound to it; returns the token's secret ID. */
  async tokenFor(name: string, rules: string, secretId: string = randomUUID()): Promise<string> {
    await this.call("PUT", "/v1/acl/policy", { body: { Name: name, Rules: rules } });
    await this.call("PUT", "/v1/acl/token", { body: { Description: name, SecretID: secretId, Policies: [{ Name: name }] } });
    return secretId;
  }

  /** The lock key's holder, if any: its session ID and the session's name (the pod name). */
  async lockHolder(key: string): Promise<{ session: string; name: string; modifyIndex: number; lockIndex: number } | undefined> {
    const kv = await this.api("GET", `/v1/kv/${key}`);
    const entry = kv.status === 200 ? (kv.body as { Session?: string; ModifyIndex: number; LockIndex: number }[])[0] : undefined;
    if (!entry?.Session) return undefined;
    const info = (await this.call("GET", `/v1/session/info/${entry.Session}`)) as { Name: string }[] | null;
    return { session: entry.Session, name: info?.[0]?.Name ?? "?", modifyIndex: entry.ModifyIndex, lockIndex: entry.LockIndex };
  }
}
