/**
 * The world of the suites that deploy through Kubernetes, started once and always stopped: a
 * control plane (support/cluster.ts), three Consul servers behind a stand-in Service, two real
 * nodes (support/realNode.ts: kubelet, containerd, runc; pods bound to them by the test
 * scheduler), each reaching Consul through a link of its own (its network, which a test can cut),
 * the images they run (support/nodeImages.ts), a copy of the project with its e2e stack (the
 * management token stored as its secret setting), the watcher of the test Mogis and the intervals
 * their parents observed. `target` is how the shared failover scenarios act on it.
 *
 * What the stack looks like is its StackShape: by default the dev shape (plain HTTP, a namespace
 * the stack owns); support/productionStack.ts gives the production one (HTTPS with a throw-away
 * CA, the platform's namespace).
 */
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { FailoverCluster, RestartedServer } from "../../support/failover";
import { ConsulTlsFiles, consulTls } from "../../support/pki";
import { LocalCluster } from "./cluster";
import { ConsulServer } from "./consulServer";
import { KubeApi } from "./kubeApi";
import { MogiIntervals } from "./mogiIntervals";
import { MogiWatch } from "./mogiWatch";
import { stopAll, waitFor } from "./processes";
import { DeployRun, ProjectCopy } from "./project";
import { TcpService } from "./tcpService";
import { buildNodeImages, NODE_TEST_MOGI, NodeImages } from "./nodeImages";
import { hostSettings } from "./nodeNamespace";
import { RealNode } from "./realNode";
import { TestScheduler } from "./testScheduler";

export const STACK = "e2e";
export const NAMESPACE = "mogi-e2e";
/**
 * The Consul Service's address as pods see it on every node (a ClusterIP, local on each node: a
 * relay to the node's own link, support/nodeNamespace.ts). The TLS shape's server certificate
 * names it (test/support/pki.ts).
 */
export const CONSUL_SERVICE_IP = "10.96.0.50";
export const CONSUL_SERVICE_PORT = 8500;
export const CONSUL_IN_CLUSTER_HOST = `${CONSUL_SERVICE_IP}:${CONSUL_SERVICE_PORT}`;
export const lockPrefix = "service/mogi-e2e/lock";
export const configPrefix = "service/mogi-e2e/config";
export const lockKey = `${lockPrefix}/.lock`;

/** The stack an environment deploys, and what its world must offer it. */
export interface StackShape {
  stack: string;
  namespace: string;
  lockKey: string;
  /** Consul's datacenter (the servers are started in it). */
  datacenter: string;
  /** Consul serves HTTPS to the stack, its pods and `npm run status`, with a throw-away CA. */
  tls: boolean;
  /** Who creates the namespace: the stack, or the platform team before `up` (the suite does it). */
  namespaceOwnedBy: "stack" | "platform";
  /** The stack file's settings in this world (addresses, kubeconfig). */
  config(env: DeployEnvironment): Record<string, unknown>;
  /** Files the project copy needs before the stack runs (path relative to it → content). */
  files?(env: DeployEnvironment): Record<string, string>;
}

/** The dev shape: plain HTTP, the stack's own namespace, the test Mogi. */
export const DEV_SHAPE: StackShape = {
  stack: STACK,
  namespace: NAMESPACE,
  lockKey,
  datacenter: "dc1",
  tls: false,
  namespaceOwnedBy: "stack",
  config: (env) => ({
    "mogi:environment": "development",
    "mogi:namespace": NAMESPACE,
    "mogi:image": env.images.testImage,
    "mogi:command": [NODE_TEST_MOGI],
    "mogi:pdb": "allow-drain",
    "mogi:readOnlyRootFilesystem": true,
    // Admitted by the real kube-apiserver; nothing enforces it here (the CNI bridge plugin does not).
    "mogi:networkPolicy": { dns: "kube-dns" },
    "mogi:kubernetes": { kubeconfig: env.cluster.kubeconfig },
    "mogi:consul": { address: env.consulService.address, scheme: "http", datacenter: "dc1", inClusterHost: CONSUL_IN_CLUSTER_HOST, lockPrefix, configPrefix, kv: { "log-level": "debug", "feature/dry-run": "true" } },
  }),
};

export class DeployEnvironment {
  readonly work = mkdtempSync(path.join(tmpdir(), "mogi-e2e-deploy-"));
  readonly watch = new MogiWatch(path.join(this.work, "mogi-events.jsonl"));
  readonly cluster = new LocalCluster(path.join(this.work, "cluster"));
  /** Three Consul servers, as the Helm chart runs them, behind a stand-in for its Service. */
  consuls: ConsulServer[] = [];
  consulService!: TcpService;
  api!: KubeApi;
  /** The nodes, each with its own link to the Consul Service. */
  nodes: { node: RealNode; link: TcpService }[] = [];
  /** The API server as a Unix socket, which the nodes' relays reach from their namespaces. */
  private apiRelay?: TcpService;
  images!: NodeImages;
  /** The host's settings before any node started (support/nodeNamespace.ts, hostSettings). */
  private hostBefore: Record<string, string> = {};
  scheduler!: TestScheduler;
  project!: ProjectCopy;
  consulVersion = "";
  readonly intervals = new MogiIntervals();
  /** Consul's CA and server certificate, with a TLS shape. */
  consulTls?: ConsulTlsFiles;

  constructor(readonly shape: StackShape = DEV_SHAPE) {}

  /** The node running `pod`. */
  nodeOf(pod: string): { node: RealNode; link: TcpService } {
    const node = this.nodes.find((n) => n.node.podNames().includes(pod));
    if (!node) throw new Error(`no node runs pod ${pod}`);
    return node;
  }

  /**
   * `npm run deploy -- <args>` in the project copy; its output kept in the work dir. Throws with
   * its tail (and the control plane's and stand-ins' latest errors) unless it exits `expectedCode`.
   */
  async deploy(label: string, args: string[], expectedCode = 0): Promise<DeployRun> {
    const run = await this.project.deploy(args);
    appendFileSync(path.join(this.work, "deploy-output.log"), `\n===== ${label}: npm run deploy -- ${args.join(" ")} (exit ${run.code}, ${run.ms} ms)\n${run.output}`);
    if (run.code !== expectedCode) throw new Error(`${label}: exit ${run.code}, expected ${expectedCode}:\n${run.output.split("\n").slice(-40).join("\n")}\n${this.cluster.tails(8)}\n--- test scheduler errors ---\n${this.standInErrors()}`);
    return run;
  }

  /** Brings a lost node back and waits until Kubernetes has forgotten the pods it lost with it. */
  async recoverNode({ node, link }: { node: RealNode; link: TcpService }, lostPod: string): Promise<void> {
    link.set("up");
    await node.resumeReporting();
    await waitFor(`the lost pod ${lostPod} to be gone`, async () => !((await this.api.call("GET", this.ns("/pods"))).items as { metadata: { name: string } }[]).some((p) => p.metadata.name === lostPod), 180_000, 500);
    await waitFor(`node ${node.nodeName} to be Ready and untainted`, async () => {
      const n = await this.api.call("GET", `/api/v1/nodes/${node.nodeName}`);
      return (n.status.conditions as { type: string; status: string }[]).find((c) => c.type === "Ready")?.status === "True" && !(n.spec.taints ?? []).length;
    }, 120_000, 500);
  }

  /** The host's settings that differ from before the nodes started, as `key: before → now`. */
  hostChanges(): string[] {
    const now = hostSettings();
    return Object.keys(this.hostBefore).filter((key) => now[key] !== this.hostBefore[key]).map((key) => `${key}: ${this.hostBefore[key]} → ${now[key]}`);
  }

  /** The last errors of the test scheduler, and the kubelets' last error lines, for failure messages. */
  standInErrors(): string {
    return [...this.nodes.map((n) => n.node.kubeletErrors(5)), ...this.scheduler.errors.slice(-5)].join("\n");
  }

  /** The first server: the tests' own reads (the stack and the pods go through the Service). */
  get consul(): ConsulServer {
    return this.consuls[0];
  }

  /** A server that is up (one may be restarting). */
  liveConsul(): ConsulServer {
    return this.consuls.find((c) => c.running) as ConsulServer;
  }

  ns(p = ""): string {
    return `/api/v1/namespaces/${this.shape.namespace}${p}`;
  }

  stackConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { ...this.shape.config(this), ...overrides };
  }

  async start(): Promise<void> {
    const { datacenter } = this.shape;
    if (this.shape.tls) this.consulTls = consulTls(path.join(this.work, "consul-pki"), datacenter, [CONSUL_SERVICE_IP]);
    this.consuls = await ConsulServer.cluster(path.join(this.work, "consul"), 3, { datacenter, tls: this.consulTls });
    // The stand-in Service exposes the port the stack's clients use: HTTPS only, with TLS.
    this.consulService = new TcpService(() => this.consuls.filter((c) => c.running).map((c) => c.clientPort));
    await this.consulService.start();
    this.consulVersion = ((await this.consul.api("GET", "/v1/agent/self")).body as { Config: { Version: string } }).Config.Version;
    await this.cluster.start();
    this.api = new KubeApi(this.cluster.server, this.cluster.pki);
    this.hostBefore = hostSettings();
    this.images = buildNodeImages(path.join(this.work, "images"));
    this.apiRelay = new TcpService(() => [Number(new URL(this.cluster.server).port)]);
    const apiSocket = path.join(this.work, "api.sock");
    await this.apiRelay.start(apiSocket);
    // Every node that started is kept in `nodes` even when another fails, so that stop() removes
    // its processes and cgroups too.
    const starting = await Promise.allSettled(["e2e-node-a", "e2e-node-b"].map(async (name, i) => {
      const dir = path.join(this.work, name);
      mkdirSync(dir);
      // The node's network: its pods reach the Consul Service through this link (what the
      // Service's address leads to on that node), so that one node can be cut off alone.
      const link = new TcpService(() => [this.consulService.port]);
      const linkSocket = path.join(dir, "consul-link.sock");
      await link.start(linkSocket);
      const node = new RealNode({
        name, index: i + 1, dir, api: this.api, kubeconfig: this.cluster.nodeKubeconfig(name), apiSocket,
        relays: [{ ip: CONSUL_SERVICE_IP, port: CONSUL_SERVICE_PORT, socket: linkSocket }],
        images: this.images.all, intervals: this.intervals, eventsFile: this.watch.eventsFile,
      });
      this.nodes.push({ node, link });
      await node.start();
      return { node, link };
    }));
    const failed = starting.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    this.scheduler = new TestScheduler(this.api);
    this.scheduler.start();
    this.project = new ProjectCopy(this.work, "project");
    for (const [file, content] of Object.entries(this.shape.files?.(this) ?? {})) {
      mkdirSync(path.dirname(path.join(this.project.dir, file)), { recursive: true });
      writeFileSync(path.join(this.project.dir, file), content);
    }
    const { stack } = this.shape;
    this.project.writeStackConfig(stack, this.stackConfig());
    await this.project.pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
    // The management token as the stack's secret setting, as a user stores it.
    await this.project.pulumi(["config", "set", "--secret", "--stack", stack, "mogi:consulToken", this.consul.managementToken]);
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop();
    for (const { node, link } of this.nodes) {
      await node.stop();
      await link.stop();
    }
    await this.apiRelay?.stop();
    await this.consulService?.stop();
    await stopAll();
    await this.cluster.stop();
  }

  /** How the shared scenarios act on this cluster: the API server, the real nodes, the local Consul. */
  readonly target = {
    holderPod: async () => (await this.liveConsul().lockHolder(this.shape.lockKey))?.name,
    deletePod: async (pod) => void (await this.api.call("DELETE", this.ns(`/pods/${pod}`))),
    evictPod: async (pod) => (await this.api.request("POST", this.ns(`/pods/${pod}/eviction`), { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace: this.shape.namespace } })).status,
    // The node goes silent and its processes die; kube-controller-manager's node-lifecycle and
    // taint-eviction controllers do the rest (nothing is force-deleted here).
    loseNode: async (pod) => {
      const { node } = this.nodeOf(pod);
      await node.stopReporting();
      await node.killAll();
    },
    // The server whose node the holder's session is bound to: the one whose restart matters.
    restartConsulServers: async (): Promise<RestartedServer> => {
      const held = (await this.liveConsul().call("GET", `/v1/kv/${lockKey}`)) as { Session: string }[];
      const [session] = (await this.liveConsul().call("GET", `/v1/session/info/${held[0].Session}`)) as { Node: string }[];
      const server = this.consuls.find((c) => c.nodeName === session.Node);
      if (!server) throw new Error(`the holder's session is bound to ${session.Node}, not to a server`);
      const raft = (await this.liveConsul().call("GET", "/v1/operator/raft/configuration")) as { Servers: { Node: string; Leader: boolean }[] };
      const wasLeader = raft.Servers.some((s) => s.Node === server.nodeName && s.Leader);
      // Down as long as a StatefulSet pod's restart takes for its peers to notice: until another
      // server reports its serfHealth critical.
      await server.stop();
      const peer = this.consuls.find((c) => c !== server) as ConsulServer;
      // Either way the sessions bound to it are invalidated: its serfHealth turns critical, or the
      // leader's dead-server cleanup (autopilot) deregisters the node outright (no checks left).
      await waitFor(`${server.nodeName}'s serfHealth to turn critical (or the node to be deregistered)`, async () => {
        const checks = (await peer.call("GET", `/v1/health/node/${server.nodeName}`)) as { CheckID: string; Status: string }[];
        return checks.length === 0 || checks.some((c) => c.CheckID === "serfHealth" && c.Status === "critical");
      }, 60_000, 200);
      await server.start();
      return { node: server.nodeName, wasLeader };
    },
  } satisfies FailoverCluster;
}
