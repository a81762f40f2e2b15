/**
 * The production shape of the e2e tier: a COPY of the shipped stacks/Pulumi.prod-eu-1.yaml (read,
 * never rewritten by hand) with only what points at a cluster changed, as a user's copy for another
 * cluster would be. Everything that makes it production stays as shipped: `environment:
 * production` (pinned images, the production policy levels, `destroy` needs `--yes`),
 * `consul.scheme: https`, the pod's CA from the platform's Secret (`caFrom`), the provider's from
 * `providerCaFile`, `createNamespace: false`, its datacenter (the test's Consul servers run in it),
 * prefixes, KV, network policy, resources, PDB and grace period.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { lockKey } from "../../../components/lockWrapper";
import { CONSUL_IN_CLUSTER_HOST, type DeployEnvironment, type StackShape } from "./deployEnvironment";
import { NODE_TEST_MOGI } from "./nodeImages";
import { waitFor } from "./processes";

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The shipped production stack the copy is made from; the copy keeps its name. */
export const PRODUCTION_STACK = "prod-eu-1";
const SHIPPED_FILE = path.join(__dirname, "..", "..", "..", "stacks", `Pulumi.${PRODUCTION_STACK}.yaml`);

/**
 * The keys the copy changes, each to point at the test world instead of ocp-prod-eu-1:
 * - `mogi:kubernetes`: the test control plane's kubeconfig instead of the context `ocp-prod-eu-1`;
 * - `mogi:consul.address`: the stand-in `consul-server` Service on 127.0.0.1 (a name the server
 *   certificate carries, as consul-k8s' does: support/pki.ts) instead of the Route's host;
 * - `mogi:consul.inClusterHost`: the Service's address on every node (a relay to the node's own
 *   link, support/nodeNamespace.ts), instead of the default `consul-server.consul.svc` (no
 *   cluster DNS here; the server certificate names that address);
 * - `mogi:consul.binaryImage`: the nodes' Consul image by its digest, instead of the mirror's;
 * - `mogi:image`, `mogi:command`: the test Mogi's image by its digest (support/nodeImages.ts).
 * `mogi:consul.providerCaFile` keeps its shipped path: the throw-away CA is written there in the
 * project copy, as README.md#files-to-replace tells users to put their cluster's CA (`files` below).
 */
export const OVERRIDDEN_KEYS = ["mogi:command", "mogi:consul.address", "mogi:consul.binaryImage", "mogi:consul.inClusterHost", "mogi:image", "mogi:kubernetes"];

/** The shipped file's `config`, as its YAML holds it. */
export function shippedConfig(): Record<string, any> {
  return (parse(readFileSync(SHIPPED_FILE, "utf8")) as { config: Record<string, any> }).config;
}

/**
 * Keys (`mogi:consul.<key>` inside the Consul settings) whose values differ between two configs,
 * compared as the program receives them: scalars as text (the CLI rewrites `false` as "false" when
 * it stores a secret in the file; stacks.ts reads both the same), structures as JSON.
 */
export function changedKeys(a: Record<string, any>, b: Record<string, any>): string[] {
  const text = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
  const changed: string[] = [];
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === "mogi:consul") {
      for (const sub of new Set([...Object.keys(a[key] ?? {}), ...Object.keys(b[key] ?? {})])) if (text(a[key]?.[sub]) !== text(b[key]?.[sub])) changed.push(`${key}.${sub}`);
    } else if (text(a[key]) !== text(b[key])) changed.push(key);
  }
  return changed.sort();
}

export function productionShape(): StackShape {
  const shipped = shippedConfig();
  const consul = shipped["mogi:consul"];
  return {
    stack: PRODUCTION_STACK,
    namespace: shipped["mogi:namespace"],
    lockKey: lockKey(consul.lockPrefix),
    datacenter: consul.datacenter,
    tls: consul.scheme === "https",
    namespaceOwnedBy: shipped["mogi:createNamespace"] === false ? "platform" : "stack",
    config: (env: DeployEnvironment) => ({
      ...shipped,
      // The production levels refuse an image not pinned by digest: the digests of the images the nodes hold.
      "mogi:image": env.images.testImagePinned,
      "mogi:command": [NODE_TEST_MOGI],
      "mogi:kubernetes": { kubeconfig: env.cluster.kubeconfig },
      "mogi:consul": { ...consul, address: env.consulService.address, inClusterHost: CONSUL_IN_CLUSTER_HOST, ...(consul.binaryImage ? { binaryImage: env.images.consulImagePinned } : {}) },
    }),
    files: (env: DeployEnvironment) => ({ [consul.providerCaFile]: readFileSync((env.consulTls as { caFile: string }).caFile, "utf8") }),
  };
}

/** The pod's CA as the shipped stack expects the platform to provide it (`consul.caFrom`). */
export function platformCaSecret(): { name: string; key: string } {
  const { caFrom } = shippedConfig()["mogi:consul"];
  if (caFrom?.kind !== "Secret") throw new Error(`${SHIPPED_FILE}: consul.caFrom is no longer a Secret; update the production-shape suite`);
  return { name: caFrom.name, key: caFrom.key };
}

/** The label that makes the API server's PodSecurity admission judge every pod in the namespace. */
export const POD_SECURITY_ENFORCE = { "pod-security.kubernetes.io/enforce": "restricted" };

/**
 * What the platform team does before the stack's first `up` (components/README.md#who-owns-the-namespace), as
 * `kubectl create namespace`, `kubectl label … pod-security.kubernetes.io/enforce=restricted` and
 * `kubectl create secret generic consul-ca-cert --from-file=tls.crt=…` would: Mogi's namespace,
 * judged by Pod Security "restricted", with Consul's CA copied into it.
 */
export async function actAsPlatform(env: DeployEnvironment, caPem: string): Promise<void> {
  const { namespace, namespaceOwnedBy } = env.shape;
  if (namespaceOwnedBy !== "platform") throw new Error(`namespace ${namespace} is the stack's to create, not the platform's`);
  const secret = platformCaSecret();
  await env.api.call("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: POD_SECURITY_ENFORCE } });
  await env.api.call("POST", env.ns("/secrets"), { apiVersion: "v1", kind: "Secret", metadata: { name: secret.name }, type: "Opaque", data: { [secret.key]: Buffer.from(caPem).toString("base64") } });
  // Kubernetes' own object in every namespace (the serviceaccount controller's): part of what was
  // there before the stack, once it exists.
  await waitFor("the namespace's default ServiceAccount", async () => (await env.api.request("GET", env.ns("/serviceaccounts/default"))).status === 200, 60_000, 200);
}

/** The namespace's objects of the kinds the stack declares (and their children), as `Kind/name`. */
export async function namespaceObjects(env: DeployEnvironment): Promise<string[]> {
  const kinds: [kind: string, collection: string][] = [
    ["Pod", "/api/v1/pods"], ["Service", "/api/v1/services"], ["ServiceAccount", "/api/v1/serviceaccounts"], ["ConfigMap", "/api/v1/configmaps"],
    ["Secret", "/api/v1/secrets"], ["Deployment", "/apis/apps/v1/deployments"], ["ReplicaSet", "/apis/apps/v1/replicasets"],
    ["PodDisruptionBudget", "/apis/policy/v1/poddisruptionbudgets"], ["NetworkPolicy", "/apis/networking.k8s.io/v1/networkpolicies"],
  ];
  const names: string[] = [];
  for (const [kind, collection] of kinds) {
    const [, prefix, resource] = /^(.*)\/([a-z]+)$/.exec(collection) as RegExpExecArray;
    const list = await env.api.call("GET", `${prefix}/namespaces/${env.shape.namespace}/${resource}`);
    for (const item of list.items as { metadata: { name: string } }[]) names.push(`${kind}/${item.metadata.name}`);
  }
  return names.sort();
}
