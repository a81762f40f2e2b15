/**
 * TEST KUBELET: test infrastructure, not a kubelet. No kubelet can run on these machines, so this
 * stands in for a node of the e2e cluster; everything it talks to (API server, controller-
 * manager, Consul) and everything it runs (the wrapper, `consul lock`, the test Mogi) is real.
 *
 * What it does, as the kubelet would:
 * - registers its Node (Ready) and keeps the node's status and its Lease in kube-node-lease fresh
 *   (every 10 s, as the kubelet renews its lease);
 * - runs each pod bound to its node (support/testScheduler.ts binds them) as local processes
 *   (support/localPod.ts: volumes from the API's ConfigMaps and Secrets, init containers, then
 *   the main container);
 * - probes readiness (httpGet, the pod's own period and failure threshold) and writes the pod's
 *   status (phase, conditions with Ready, pod IP, container statuses) through the status subresource;
 * - restarts an exited main container with the kubelet's back-off (10 s doubling to 300 s, back to
 *   10 s once it ran for 10 minutes);
 * - on deletion: SIGTERM to the main process, SIGKILL to its process group after the grace period,
 *   then removes the pod object (grace 0, uid precondition).
 * Where it differs: each pod's "network" is 127.0.0.1 with a port of its own (MOGI_TEST_LISTEN),
 * and mount paths are mapped into the pod's directory (localPod.ts). A node's own network is
 * its caller's business (a link of its own to Consul, passed in `extraEnv`).
 *
 * Faults, as a real node produces them: `stopReporting()` (the node stops talking to the API
 * server: heartbeats, lease, pod status, pod deletions all stop, while its processes run on),
 * `killAll()` (its processes die at once, as with the machine), `resumeReporting()` (it comes back).
 */
import { mkdirSync } from "node:fs";
import { request as httpRequest } from "node:http";
import * as path from "node:path";
import { KubeApi } from "./kubeApi";
import { LocalPod } from "./localPod";
import type { MogiIntervals } from "./mogiIntervals";
import { freePort, Proc, sleep } from "./processes";

/* eslint-disable @typescript-eslint/no-explicit-any */
const POLL_MS = 200;
const HEARTBEAT_MS = 10_000;
const BACKOFF_FIRST_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;
const BACKOFF_RESET_MS = 600_000;

interface ManagedPod {
  uid: string;
  name: string;
  namespace: string;
  local: LocalPod;
  listen: string;
  startedAt: string;
  restartCount: number;
  ready: boolean;
  probeFailures: number;
  nextProbeAt: number;
  restartAt?: number;
  backoffMs: number;
  lastStartMs: number;
  terminating?: { killAt: number };
  /** Lost with its node: processes killed, nothing reported or restarted any more. */
  lost?: boolean;
  lastStatus?: string;
}

export interface TestKubeletOptions {
  nodeName: string;
  dir: string;
  /** Image name → directory standing for its filesystem. */
  images: Record<string, string>;
  /** Extra environment for every pod's main container. */
  extraEnv?: Record<string, string>;
  /** Where the pods' output tells when their Mogi started and ended. */
  intervals?: MogiIntervals;
}

export class TestKubelet {
  private readonly pods = new Map<string, ManagedPod>();
  private stopped = false;
  private reporting = true;
  /** When the node last renewed its Lease (ms epoch): a lost node's last sign of life. */
  lastHeartbeatAt = 0;
  private loops: Promise<void>[] = [];
  /** Errors of the loop, surfaced by the tests (a kubelet that silently stops would hide failures). */
  readonly errors: string[] = [];

  constructor(private readonly api: KubeApi, private readonly options: TestKubeletOptions) {}

  async start(): Promise<void> {
    const now = new Date().toISOString();
    await this.api.call("POST", "/api/v1/nodes", {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: this.options.nodeName, labels: { "kubernetes.io/hostname": this.options.nodeName, "kubernetes.io/os": "linux" } },
      status: this.nodeStatus(now),
    });
    await this.heartbeat();
    this.loops = [this.every(POLL_MS, () => this.syncPods()), this.every(HEARTBEAT_MS, () => this.heartbeat())];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await Promise.all([...this.pods.values()].map((p) => p.local.main?.stop(2_000)));
  }

  /** The running main process of a pod, by name. */
  process(podName: string): Proc | undefined {
    return [...this.pods.values()].find((p) => p.name === podName && !p.lost)?.local.main;
  }

  get nodeName(): string {
    return this.options.nodeName;
  }

  /** Names of the pods this node runs (whatever the API server believes). */
  podNames(): string[] {
    return [...this.pods.values()].map((p) => p.name);
  }

  /** The node stops talking to the API server; its processes run on. */
  stopReporting(): void {
    this.reporting = false;
  }

  /** The node talks to the API server again (it finishes what it was told meanwhile, such as deletions). */
  resumeReporting(): void {
    this.reporting = true;
  }

  /** Every process of every pod on this node dies at once (the machine is gone); nothing restarts them. */
  killAll(): void {
    for (const pod of this.pods.values()) {
      pod.lost = true;
      pod.local.kill();
    }
  }

  private every(ms: number, task: () => Promise<void>): Promise<void> {
    return (async () => {
      while (!this.stopped) {
        try {
          if (this.reporting) await task();
        } catch (error) {
          this.errors.push(`${new Date().toISOString()} ${(error as Error).message}`);
        }
        await sleep(ms);
      }
    })();
  }

  private nodeStatus(now: string): any {
    return {
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "test kubelet is posting ready status", lastHeartbeatTime: now, lastTransitionTime: now }],
      addresses: [{ type: "InternalIP", address: "127.0.0.1" }, { type: "Hostname", address: this.options.nodeName }],
      capacity: { cpu: "2", memory: "8Gi", pods: "110" },
      allocatable: { cpu: "2", memory: "8Gi", pods: "110" },
      nodeInfo: { kubeletVersion: "test-kubelet", operatingSystem: "linux", architecture: "amd64", containerRuntimeVersion: "local-processes://1", kernelVersion: "", osImage: "", kubeProxyVersion: "", machineID: "", systemUUID: "", bootID: "" },
    };
  }

  private async heartbeat(): Promise<void> {
    const now = new Date();
    await this.api.mergePatch(`/api/v1/nodes/${this.options.nodeName}/status`, { status: this.nodeStatus(now.toISOString()) });
    const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.options.nodeName}`;
    const spec = { holderIdentity: this.options.nodeName, leaseDurationSeconds: 40, renewTime: now.toISOString().replace("Z", "000Z") };
    const existing = await this.api.request("GET", lease);
    if (existing.status === 404) {
      await this.api.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", { metadata: { name: this.options.nodeName }, spec });
    } else {
      await this.api.mergePatch(lease, { spec });
    }
    this.lastHeartbeatAt = now.getTime();
  }

  private async syncPods(): Promise<void> {
    const list = await this.api.call("GET", "/api/v1/pods");
    const seen = new Set<string>();
    for (const pod of list.items as any[]) {
      const uid = pod.metadata.uid as string;
      seen.add(uid);
      if (pod.spec.nodeName !== this.options.nodeName) continue;
      const managed = this.pods.get(uid);
      if (managed?.lost) {
        // Its processes died with the node; back, the node confirms the deletion it was asked for.
        if (pod.metadata.deletionTimestamp) await this.terminate(pod, managed);
        continue;
      }
      if (pod.metadata.deletionTimestamp) await this.terminate(pod, managed);
      else if (!managed) await this.startPod(pod);
      else await this.tend(pod, managed);
    }
    for (const [uid, managed] of this.pods) {
      if (!seen.has(uid)) {
        managed.local.main?.signalGroup("SIGKILL"); // force-deleted: nothing may keep running
        this.pods.delete(uid);
      }
    }
  }

  /** Volumes' ConfigMaps and Secrets, read from the API; undefined while one is missing. */
  private async volumeData(pod: any): Promise<{ configMaps: Map<string, Record<string, string>>; secrets: Map<string, Record<string, string>> } | undefined> {
    const configMaps = new Map<string, Record<string, string>>();
    const secrets = new Map<string, Record<string, string>>();
    const ns = pod.metadata.namespace;
    for (const volume of pod.spec.volumes ?? []) {
      if (volume.configMap) {
        const found = await this.api.request("GET", `/api/v1/namespaces/${ns}/configmaps/${volume.configMap.name}`);
        if (found.status !== 200) return undefined;
        configMaps.set(volume.configMap.name, found.body.data ?? {});
      } else if (volume.secret) {
        const found = await this.api.request("GET", `/api/v1/namespaces/${ns}/secrets/${volume.secret.secretName}`);
        if (found.status !== 200) return undefined;
        secrets.set(volume.secret.secretName, Object.fromEntries(Object.entries<string>(found.body.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")])));
      }
    }
    return { configMaps, secrets };
  }

  private async startPod(pod: any): Promise<void> {
    const data = await this.volumeData(pod);
    if (!data) return; // ContainerCreating until its ConfigMaps and Secrets exist
    const { name, namespace, uid } = pod.metadata;
    const root = path.join(this.options.dir, "pods", `${namespace}_${name}`);
    mkdirSync(root, { recursive: true });
    const listen = `127.0.0.1:${await freePort()}`;
    const local = new LocalPod(pod.spec, {
      podName: name,
      namespace,
      root,
      images: this.options.images,
      sources: { configMap: (n) => data.configMaps.get(n), secret: (n) => data.secrets.get(n) },
      extraEnv: { ...this.options.extraEnv, MOGI_TEST_LISTEN: listen },
      logFile: path.join(this.options.dir, "pods", `${namespace}_${name}.log`),
      intervals: this.options.intervals,
    });
    const managed: ManagedPod = { uid, name, namespace, local, listen, startedAt: new Date().toISOString(), restartCount: 0, ready: false, probeFailures: 0, nextProbeAt: 0, backoffMs: BACKOFF_FIRST_MS, lastStartMs: Date.now() };
    this.pods.set(uid, managed);
    local.start();
    await this.writeStatus(pod, managed);
  }

  /** Restarts with back-off, probes readiness, reports status. */
  private async tend(pod: any, managed: ManagedPod): Promise<void> {
    const main = managed.local.main;
    const now = Date.now();
    if (main && !main.alive) {
      if (managed.restartAt === undefined) {
        if (now - managed.lastStartMs >= BACKOFF_RESET_MS) managed.backoffMs = BACKOFF_FIRST_MS; // ran 10 min: forgiven
        managed.restartAt = now + managed.backoffMs;
        managed.backoffMs = Math.min(managed.backoffMs * 2, BACKOFF_MAX_MS);
        managed.ready = false;
      } else if (now >= managed.restartAt) {
        managed.restartAt = undefined;
        managed.restartCount += 1;
        managed.lastStartMs = now;
        managed.local.startMain();
      }
    } else if (main?.alive && now >= managed.nextProbeAt) {
      const probe = pod.spec.containers[0].readinessProbe;
      managed.nextProbeAt = now + (probe?.periodSeconds ?? 10) * 1000;
      if (probe?.httpGet) {
        const ok = await this.probe(managed.listen, probe.httpGet.path ?? "/");
        managed.probeFailures = ok ? 0 : managed.probeFailures + 1;
        if (ok) managed.ready = true;
        else if (managed.probeFailures >= (probe.failureThreshold ?? 3)) managed.ready = false;
      } else {
        managed.ready = true;
      }
    }
    await this.writeStatus(pod, managed);
  }

  private probe(listen: string, pathname: string): Promise<boolean> {
    return new Promise((resolve) => {
      const [host, port] = listen.split(":");
      const req = httpRequest({ host, port: Number(port), path: pathname, timeout: 1000 }, (res) => {
        res.resume();
        resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => req.destroy());
      req.end();
    });
  }

  private async terminate(pod: any, managed: ManagedPod | undefined): Promise<void> {
    const { name, namespace, uid } = pod.metadata;
    const main = managed?.local.main;
    if (managed && !managed.lost && main?.alive) {
      if (!managed.terminating) {
        const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
        managed.terminating = { killAt: Date.now() + grace * 1000 };
        managed.ready = false;
        main.signal("SIGTERM");
        await this.writeStatus(pod, managed);
      } else if (Date.now() >= managed.terminating.killAt) {
        main.signalGroup("SIGKILL");
      }
      return;
    }
    main?.signalGroup("SIGKILL"); // whatever the main process left behind dies with the pod
    await this.api.request("DELETE", `/api/v1/namespaces/${namespace}/pods/${name}`, { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0, preconditions: { uid } });
    this.pods.delete(uid);
  }

  private async writeStatus(pod: any, managed: ManagedPod): Promise<void> {
    const main = managed.local.main;
    const running = main?.alive ?? false;
    const ready = running && managed.ready && !managed.terminating;
    const container = pod.spec.containers[0];
    const condition = (type: string, status: boolean) => ({ type, status: status ? "True" : "False" });
    const status = {
      phase: "Running",
      hostIP: "127.0.0.1",
      hostIPs: [{ ip: "127.0.0.1" }],
      podIP: "127.0.0.1",
      podIPs: [{ ip: "127.0.0.1" }],
      startTime: managed.startedAt,
      conditions: [condition("PodReadyToStartContainers", true), condition("Initialized", true), condition("Ready", ready), condition("ContainersReady", ready), condition("PodScheduled", true)],
      initContainerStatuses: (pod.spec.initContainers ?? []).map((c: any) => ({ name: c.name, image: c.image, imageID: "", ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: "Completed" } } })),
      containerStatuses: [{
        name: container.name,
        image: container.image,
        imageID: "",
        containerID: main ? `local://${main.pid}` : undefined,
        ready,
        started: running,
        restartCount: managed.restartCount,
        state: running ? { running: { startedAt: managed.startedAt } } : managed.restartAt !== undefined ? { waiting: { reason: "CrashLoopBackOff" } } : { terminated: { exitCode: main?.exitCode ?? 0, reason: "Completed" } },
      }],
    };
    const text = JSON.stringify(status);
    if (text === managed.lastStatus) return;
    const now = new Date().toISOString();
    for (const c of status.conditions as any[]) c.lastTransitionTime = now;
    await this.api.mergePatch(`/api/v1/namespaces/${managed.namespace}/pods/${managed.name}/status`, { status });
    managed.lastStatus = text;
  }
}
