/**
 * A real node of the e2e cluster: the kubelet 1.37.2 with its own containerd 2.4.2, runc 1.5.3 and
 * the CNI bridge plugin (all built by `npm run engines`), inside the namespaces the harness makes
 * (support/nodeNamespace.ts). The kubelet registers its Node, renews its Lease, runs the pods the
 * scheduler binds to it with the real pod spec (security context, init container, volumes,
 * probes, grace period), and reports their status. Settings that differ from the defaults, and
 * why, are in ../shared/REAL-NODES.md: cgroup v1 (`failCgroupV1: false`, cgroupfs, a cgroup
 * root of its own), `restrict_oom_score_adj` (no CAP_SYS_RESOURCE here), the kernel settings.
 *
 * Faults, as a real node produces them: `stopReporting()` kills the kubelet (its containers run
 * on; nothing reports them), `killAll()` kills every process of the node at once (kubelet,
 * containerd, shims, containers: the machine is gone), `resumeReporting()` starts what is missing.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { engine, enginesBinDir } from "../../engines/paths";
import type { KubeApi } from "./kubeApi";
import type { MogiIntervals } from "./mogiIntervals";
import { NodeFiles, writeContainerdConfig, writeKubeletConfig } from "./nodeConfig";
import { NodeNamespace, Relay } from "./nodeNamespace";
import type { BuiltImage } from "./ociImage";
import { PodLogs } from "./podLogs";
import { Proc, waitFor } from "./processes";
import { podsWithProcesses } from "./runningContainer";
import { argvOf, hostPids } from "../../support/container";

export interface RealNodeOptions {
  name: string;
  /** Numbers the node's networks (support/nodeNamespace.ts). */
  index: number;
  /** A short directory of its own (Unix socket paths must stay under 108 bytes). */
  dir: string;
  api: KubeApi;
  /** The kubelet's kubeconfig, whose server is an address inside the namespace (a relay). */
  kubeconfig: (server: string) => string;
  /** The API server's relay target on the host (a Unix socket). */
  apiSocket: string;
  /** More relays (e.g. the Consul Service's address to the node's link). */
  relays: Relay[];
  images: BuiltImage[];
  intervals?: MogiIntervals;
  /** Where the test Mogis' own records go (support/mogiWatch.ts). */
  eventsFile?: string;
}

const IN_NAMESPACE_API = { ip: "127.0.0.1", port: 6443 };

export class RealNode {
  readonly namespace: NodeNamespace;
  readonly logs: PodLogs;
  private containerd?: Proc;
  private kubelet?: Proc;
  private reaper?: NodeJS.Timeout;
  /** When the API server last saw the node's Lease renewed, as read when it stopped reporting (ms epoch). */
  lastHeartbeatAt = 0;

  constructor(readonly options: RealNodeOptions) {
    this.namespace = new NodeNamespace(options.name, options.index, options.dir);
    this.logs = new PodLogs(path.join(options.dir, "pod-logs"), options.intervals, options.eventsFile);
  }

  get nodeName(): string {
    return this.options.name;
  }

  private get socket(): string {
    return path.join(this.options.dir, "containerd.sock");
  }

  /** The cgroup the kubelet puts its pods under, in every v1 hierarchy: one per node of each run (suites run side by side). */
  get cgroupRoot(): string {
    return `/mogi-${path.basename(path.dirname(this.options.dir))}-${this.options.name}`;
  }

  /** The kubelet wants its cgroup root present in every hierarchy; a v1 cpuset starts empty and gets its parent's. */
  private makeCgroupRoot(): void {
    for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
      if (hierarchy === "unified") continue;
      const dir = path.join("/sys/fs/cgroup", hierarchy, this.cgroupRoot);
      mkdirSync(dir, { recursive: true });
      if (hierarchy === "cpuset") {
        for (const file of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(path.join(dir, file), readFileSync(path.join("/sys/fs/cgroup/cpuset", file)));
      }
    }
  }

  async start(): Promise<void> {
    const { dir } = this.options;
    for (const sub of ["containerd", "cni/net.d", "kubelet", "pod-logs"]) mkdirSync(path.join(dir, sub), { recursive: true });
    await this.namespace.start(this.options.relays.map((r) => r.ip));
    await this.namespace.relay([{ ...IN_NAMESPACE_API, socket: this.options.apiSocket }, ...this.options.relays]);
    writeContainerdConfig(this.files);
    await this.startContainerd();
    for (const image of this.options.images) this.ctr(["-n", "k8s.io", "images", "import", "--local", image.tarball]);
    writeKubeletConfig(this.files);
    this.makeCgroupRoot();
    this.startKubelet();
    this.logs.start();
    this.reaper = setInterval(() => this.closeEndedContainers(), 200);
    await waitFor(`node ${this.nodeName} Ready`, async () => {
      if (!this.kubelet?.alive) throw new Error(`kubelet exited:\n${this.kubelet?.tail(20)}`);
      const node = await this.options.api.request("GET", `/api/v1/nodes/${this.nodeName}`);
      return node.status === 200 && node.body.status?.conditions?.some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
    }, 120_000, 500);
  }

  private get files(): NodeFiles {
    const { dir, kubeconfig } = this.options;
    const { podSubnet, nodeIp } = this.namespace;
    return { dir, socket: this.socket, podSubnet, nodeIp, cgroupRoot: this.cgroupRoot, kubeconfig: kubeconfig(`https://${IN_NAMESPACE_API.ip}:${IN_NAMESPACE_API.port}`) };
  }

  /** `ctr` against this node's containerd (its images and containers). */
  ctr(args: string[]): string {
    return execFileSync(engine("ctr"), ["--address", this.socket, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  /** Starts containerd; resolves once it answers. */
  private async startContainerd(): Promise<void> {
    const bin = enginesBinDir();
    // The shim and runc are found on PATH; the node's own first.
    const command = ["env", `PATH=${bin}:${process.env.PATH}`, engine("containerd"), "--config", path.join(this.options.dir, "containerd", "config.toml")];
    this.containerd = this.namespace.spawn(`${this.nodeName} containerd`, command, path.join(this.options.dir, "containerd.log"));
    await waitFor(`${this.nodeName}'s containerd`, () => this.ctr(["version"]).includes("Server"), 30_000, 200);
  }

  private startKubelet(): void {
    const { dir } = this.options;
    this.kubelet = this.namespace.spawn(`${this.nodeName} kubelet`, [
      engine("kubelet"), `--config=${path.join(dir, "kubelet", "config.yaml")}`, `--kubeconfig=${path.join(dir, "kubelet", "kubeconfig")}`,
      `--root-dir=${path.join(dir, "kubelet", "root")}`, `--hostname-override=${this.nodeName}`, `--node-ip=${this.namespace.nodeIp}`, "--v=1",
    ], path.join(dir, "kubelet.log"));
  }

  /**
   * A container can end without its wrapper's exit line (its PID 1 killed, or ended by a failed
   * fork): once no process of a pod whose Mogi runs is left on the host, its Mogi ended, at the
   * latest by the time that is seen (so an overlap is never hidden).
   */
  private closeEndedContainers(): void {
    const intervals = this.options.intervals;
    if (!intervals) return;
    const here = new Set(this.podNames());
    const open = intervals.running().filter((pod) => here.has(pod));
    const alive = podsWithProcesses(open);
    const t = Date.now();
    for (const pod of open) if (!alive.has(pod)) intervals.killed(pod, t);
  }

  /** The kubelet's last error lines (klog's `E` level), for failure messages. */
  kubeletErrors(lines: number): string {
    return (this.kubelet?.tail(400) ?? "").split("\n").filter((l) => l.startsWith("E")).slice(-lines).map((l) => `${this.nodeName}: ${l}`).join("\n");
  }

  /** Pods whose containers this node runs (as its pod log directories show them). */
  podNames(): string[] {
    return this.logs.pods();
  }

  /** The last lines of a pod's main container output. */
  tail(pod: string, lines = 40): string {
    return this.logs.tail(pod, lines);
  }

  /** The node stops talking to the API server; its containers run on. */
  async stopReporting(): Promise<void> {
    await this.kubelet?.stop(0, "SIGKILL");
    const lease = await this.options.api.request("GET", `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.nodeName}`);
    this.lastHeartbeatAt = Date.parse(lease.body?.spec?.renewTime ?? new Date().toISOString());
  }

  /** Every process of the node dies at once: containers, shims, containerd, kubelet. */
  async killAll(): Promise<void> {
    const t = Date.now();
    this.kubelet?.signal("SIGKILL");
    this.containerd?.signal("SIGKILL");
    for (const pid of [...this.shimPids(), ...this.cgroupPids()]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    for (const pod of this.podNames()) this.options.intervals?.killed(pod, t);
    await Promise.all([this.kubelet?.exited, this.containerd?.exited]);
  }

  /** What stopped comes back (containerd, then the kubelet), as after a reboot or a restart. */
  async resumeReporting(): Promise<void> {
    if (!this.containerd?.alive) await this.startContainerd();
    if (!this.kubelet?.alive) this.startKubelet();
  }

  /** The shims of this node's containerd (they outlive it, as shims do). */
  private shimPids(): number[] {
    return hostPids().filter((pid) => {
      const argv = argvOf(pid) ?? [];
      const cmdline = argv.join(" ");
      return cmdline.includes("containerd-shim-runc-v2") && cmdline.includes(this.socket);
    });
  }

  /** Every process in the node's pod cgroups (the pids hierarchy holds them all). */
  private cgroupPids(): number[] {
    const root = path.join("/sys/fs/cgroup/pids", this.cgroupRoot);
    const pids: number[] = [];
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(path.join(dir, entry.name));
      pids.push(...readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
    };
    walk(root);
    return pids;
  }

  /** Everything stops; the node's namespaces and cgroups go with it. */
  async stop(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    this.logs.stop();
    await this.killAll();
    await this.namespace.stop();
    for (const hierarchy of readdirSync("/sys/fs/cgroup")) removeCgroupTree(path.join("/sys/fs/cgroup", hierarchy, this.cgroupRoot));
  }
}

/** Removes an (empty of processes) cgroup tree, deepest first; retries while the kernel reaps. */
function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
}
