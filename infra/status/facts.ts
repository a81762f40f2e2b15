/**
 * What `npm run status` observes, read-only: the lock key and its session in Consul, the
 * Deployment's pods in Kubernetes (official client, @kubernetes/client-node).
 */
import { readFileSync } from "node:fs";
import { lockKey } from "../../components/lockWrapper";
import { withDefaultPort } from "../consulAddress";
import type { Settings } from "../config";
import { chooseKubeconfig, KubeconfigChoice, KubeconfigProblem } from "../config/kubeconfig";
import { ConsulEndpoint, consulGet, ConsulUnreachable } from "./consulHttp";

export interface LockFacts {
  key: string;
  /** False when the key is absent: `consul lock` deletes it on release when nobody waits. */
  present: boolean;
  session?: string;
  lockIndex?: number;
  modifyIndex?: number;
}

export interface SessionFacts {
  id: string;
  /** The wrapper names the session after its pod (`-name=$POD_NAME`). */
  name: string;
  node: string;
  ttl: string;
  lockDelaySeconds: number;
}

export interface PodFacts {
  name: string;
  phase: string;
  ready: boolean;
  /** When the Ready condition last changed (for the holder: since when it serves). */
  readySince?: string;
  node?: string;
  /** The node's Ready condition (undefined when it cannot be read, e.g. no RBAC on nodes). */
  nodeReady?: boolean;
  /** Since when the node has not been Ready. */
  nodeNotReadySince?: string;
  /** The main container's restarts (a lost lock does not restart it). */
  restarts?: number;
  createdAt?: string;
  terminating: boolean;
}

export interface Facts {
  stack: string;
  namespace: string;
  deploymentName: string;
  observedAt: number;
  lock: LockFacts;
  session?: SessionFacts;
  /** Undefined when the Deployment does not exist. */
  deployment?: { replicas?: number; readyReplicas?: number };
  pods: PodFacts[];
}

/**
 * Kubernetes could not be asked, refused our credentials, or cannot be found from the kubeconfig
 * (`refused`: asking again will not help).
 */
export class KubernetesUnreachable extends Error {
  constructor(message: string, readonly refused = false) {
    super(message);
  }
}

/** As Consul's (consulHttp.ts, CONSUL_TIMEOUT_MS): generous for a loaded machine, short for a silent server. */
export const KUBERNETES_TIMEOUT_MS = 10_000;

/**
 * The official client, loaded on first use: it is large, and usage errors should not wait for it.
 * Its first load compiles it and keeps the event loop busy for seconds on a loaded machine, so it
 * is loaded before any request starts (a request's timer would run out meanwhile).
 */
export const loadKubernetesClient = () => import("@kubernetes/client-node");

/** Where and as whom the status reads Consul: the stack's address, scheme and CA, CONSUL_HTTP_TOKEN. */
export function consulEndpoint(settings: Settings, env: NodeJS.ProcessEnv): ConsulEndpoint {
  const caFile = env.CONSUL_CA_FILE;
  let ca = settings.consul.providerCa;
  if (ca === undefined && caFile && settings.consul.scheme === "https") {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (error) {
      throw new ConsulUnreachable(`CONSUL_CA_FILE=${caFile}: cannot read it (${(error as NodeJS.ErrnoException).code}); point it at the PEM file of Consul's CA`, true);
    }
  }
  return { address: withDefaultPort(settings.consul.address, settings.consul.scheme), scheme: settings.consul.scheme, ca, token: env.CONSUL_HTTP_TOKEN || undefined };
}

type KubeConfig = import("@kubernetes/client-node").KubeConfig;

/**
 * The kubeconfig and context the stack's Kubernetes provider uses (../kubeconfig.ts), loaded
 * before any request; what is missing or wrong is one lasting KubernetesUnreachable naming the
 * setting, the variable or the file.
 */
export async function loadKubeconfig(settings: Settings, env: NodeJS.ProcessEnv, projectDir: string): Promise<KubeConfig> {
  let choice: KubeconfigChoice;
  try {
    choice = chooseKubeconfig(settings.kubernetes, env, projectDir);
  } catch (error) {
    if (error instanceof KubeconfigProblem) throw new KubernetesUnreachable(error.message, true);
    throw error;
  }
  const k8s = await loadKubernetesClient();
  const kc = new k8s.KubeConfig();
  try {
    if (choice.inCluster) kc.loadFromCluster();
    else if (choice.text !== undefined) kc.loadFromString(choice.text);
    for (const [i, file] of choice.files.entries()) {
      const loaded = i === 0 ? kc : new k8s.KubeConfig();
      loaded.loadFromFile(file);
      // As the client's own loadFromDefault: the first file's current-context stays.
      if (i > 0) kc.mergeConfig(loaded, true);
    }
    if (choice.context && !choice.inCluster) kc.setCurrentContext(choice.context);
  } catch (error) {
    throw new KubernetesUnreachable(`${choice.source}: the Kubernetes client cannot load it: ${firstLine(error)}`, true);
  }
  return kc;
}

const firstLine = (error: unknown) => String((error as Error).message ?? error).split("\n")[0];

export async function consulFacts(endpoint: ConsulEndpoint, lockPrefix: string): Promise<Pick<Facts, "lock" | "session">> {
  const key = lockKey(lockPrefix);
  const kv = await consulGet<{ Session?: string; LockIndex: number; ModifyIndex: number }[]>(endpoint, `/v1/kv/${key}`);
  const entry = kv.status === 200 ? kv.body?.[0] : undefined;
  const lock: LockFacts = { key, present: entry !== undefined, session: entry?.Session, lockIndex: entry?.LockIndex, modifyIndex: entry?.ModifyIndex };
  if (!lock.session) return { lock };
  const info = await consulGet<{ ID: string; Name: string; Node: string; TTL: string; LockDelay: number }[] | null>(endpoint, `/v1/session/info/${lock.session}`);
  const found = info.body?.[0];
  // A session can vanish between the two reads; the key then is no longer held either.
  if (!found) return { lock };
  return { lock, session: { id: found.ID, name: found.Name, node: found.Node, ttl: found.TTL, lockDelaySeconds: found.LockDelay / 1e9 } };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function kubernetesFacts(settings: Settings, kc: KubeConfig): Promise<Pick<Facts, "deployment" | "pods">> {
  const k8s = await loadKubernetesClient();
  // Every request gets a deadline: the official client sets none, so a silent API server would hang status.
  const withTimeout = {
    middleware: [{
      pre: (context: import("@kubernetes/client-node").RequestContext) => {
        context.setSignal(AbortSignal.timeout(KUBERNETES_TIMEOUT_MS));
        return new k8s.Observable(Promise.resolve(context));
      },
      post: (response: import("@kubernetes/client-node").ResponseContext) => new k8s.Observable(Promise.resolve(response)),
    }],
    middlewareMergeStrategy: "append" as const,
  };
  const server = kc.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
  let apps: import("@kubernetes/client-node").AppsV1Api;
  let core: import("@kubernetes/client-node").CoreV1Api;
  try {
    apps = kc.makeApiClient(k8s.AppsV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
  } catch (error) {
    throw new KubernetesUnreachable(`Kubernetes at ${server} cannot be asked: ${firstLine(error)}`, true);
  }
  const namespace = settings.namespace;
  const unreachable = (error: unknown) => {
    const code = (error as { code?: number }).code;
    const timedOut = ["AbortError", "TimeoutError"].includes((error as Error).name);
    const message = typeof code === "number" ? `HTTP ${code}` : timedOut ? `no answer within ${KUBERNETES_TIMEOUT_MS / 1000} s` : String((error as Error).message ?? error).split("\n")[0];
    return new KubernetesUnreachable(`Kubernetes at ${server} could not be read: ${message}`, code === 401 || code === 403);
  };
  let deployment: any;
  try {
    deployment = await apps.readNamespacedDeployment({ name: settings.name, namespace }, withTimeout);
  } catch (error) {
    if ((error as { code?: number }).code === 404) return { deployment: undefined, pods: [] };
    throw unreachable(error);
  }
  const labelSelector = Object.entries<string>(deployment.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
  let pods: any;
  try {
    pods = await core.listNamespacedPod({ namespace, labelSelector }, withTimeout);
  } catch (error) {
    throw unreachable(error);
  }
  const asText = (t: unknown) => (t instanceof Date ? t.toISOString() : t === undefined || t === null ? undefined : String(t));
  // Each pod's node: a node that stopped reporting explains a holder that went quiet. Best effort:
  // an operator may not be allowed to read nodes, and then status says nothing about them.
  const nodes = new Map<string, { ready: boolean; since?: string } | undefined>();
  for (const name of new Set<string>((pods.items as any[]).map((p) => p.spec?.nodeName).filter(Boolean))) {
    try {
      const node: any = await core.readNode({ name }, withTimeout);
      const ready = (node.status?.conditions ?? []).find((c: any) => c.type === "Ready");
      nodes.set(name, { ready: ready?.status === "True", since: asText(ready?.lastTransitionTime) });
    } catch {
      nodes.set(name, undefined);
    }
  }
  return {
    deployment: { replicas: deployment.spec?.replicas, readyReplicas: deployment.status?.readyReplicas },
    pods: (pods.items as any[]).map((p) => {
      const ready = (p.status?.conditions ?? []).find((c: any) => c.type === "Ready");
      return {
        name: p.metadata.name,
        phase: p.status?.phase ?? "Unknown",
        ready: ready?.status === "True",
        readySince: asText(ready?.lastTransitionTime),
        node: p.spec?.nodeName,
        nodeReady: nodes.get(p.spec?.nodeName)?.ready,
        nodeNotReadySince: nodes.get(p.spec?.nodeName)?.ready === false ? nodes.get(p.spec?.nodeName)?.since : undefined,
        restarts: p.status?.containerStatuses?.[0]?.restartCount,
        createdAt: asText(p.metadata?.creationTimestamp),
        terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata?.deletionTimestamp !== null,
      };
    }),
  };
}
