/**
 * The pod's NetworkPolicy: what Mogi's pod may reach and who may reach it.
 *
 * NetworkPolicies are allow-lists that add up, and the first policy that selects a pod for a
 * direction isolates it in that direction (Kubernetes docs, "Network Policies"). So this one
 * policy must list everything the pod needs: Consul (the lock, and with connect injection the
 * sidecar's servers), DNS (to resolve Consul's Service name), and whatever else the stack says
 * Mogi calls; or leave egress open (`egress: "all"`) and govern ingress only.
 */
import * as k8s from "@pulumi/kubernetes";
import { isIP } from "node:net";
import { labelKeyProblem, labelValueProblem, nameProblem } from "./naming";

type NetworkPolicySpec = k8s.types.input.networking.v1.NetworkPolicySpec;
type NetworkPolicyPeer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type NetworkPolicyPort = k8s.types.input.networking.v1.NetworkPolicyPort;

/**
 * Pods the policy allows, NetworkPolicy-style: without a namespace, pods in Mogi's namespace.
 * `namespace` selects by the `kubernetes.io/metadata.name` label the API server sets on every
 * namespace (Kubernetes ≥ 1.22); `namespaceLabels` adds labels to match (both must match).
 */
export interface PodPeer {
  namespace?: string;
  namespaceLabels?: Record<string, string>;
  /** Default: every pod of the selected namespaces. */
  podLabels?: Record<string, string>;
}
/** Addresses outside the cluster's pod network, e.g. Consul on VMs. */
export interface CidrPeer {
  cidr: string;
  except?: string[];
}
export type Peer = PodPeer | CidrPeer;
export type Protocol = "TCP" | "UDP" | "SCTP";
export interface PortRule {
  port: number;
  /** Default TCP. */
  protocol?: Protocol;
}
/** One more egress allowance: these ports on these peers. */
export interface EgressRule {
  to: Peer[];
  ports: PortRule[];
}

/** Where the cluster's DNS pods are, and the port they listen on (the pod's, not the Service's). */
export interface DnsPeer {
  namespace: string;
  podLabels: Record<string, string>;
  port: number;
}

/**
 * DNS presets. Policies are matched against the destination pod's port after the Service's
 * translation, so the port is the DNS pods' own.
 * - `kube-dns`: CoreDNS as kubeadm and kind install it (kube-system, `k8s-app: kube-dns`, port 53).
 * - `openshift-dns`: the DNS operator's CoreDNS daemon set (openshift-dns,
 *   `dns.operator.openshift.io/daemonset-dns: default`), listening on 5353 behind the
 *   `dns-default` Service's 53: allowing 53 alone would cut name resolution.
 */
export const DNS_PRESETS = {
  "kube-dns": { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" }, port: 53 },
  "openshift-dns": { namespace: "openshift-dns", podLabels: { "dns.operator.openshift.io/daemonset-dns": "default" }, port: 5353 },
} as const satisfies Record<string, DnsPeer>;
export type DnsPreset = keyof typeof DNS_PRESETS;

/**
 * The consul-k8s Helm chart's server pods: `app: <consul.name>` ("consul" unless nameOverride)
 * and `component: server` (hashicorp/consul-k8s, charts/consul/templates/server-statefulset.yaml,
 * pod template labels), in the release's namespace.
 */
export const CONSUL_CHART_SERVERS: PodPeer = { namespace: "consul", podLabels: { app: "consul", component: "server" } };
/**
 * The chart's servers serve gRPC on 8502, plain or TLS (server-config-configmap.yaml: `grpc`
 * or `grpc_tls` 8502). The consul-k8s sidecar (consul-dataplane) and its init container talk to
 * the servers on it, and this policy governs them too: they share the pod.
 */
export const CONSUL_CHART_GRPC_PORT = 8502;

export interface NetworkPolicyArgs {
  /** Consul's servers: the chart's pods (default `CONSUL_CHART_SERVERS`) or a CIDR outside the cluster. */
  consul?: PodPeer | CidrPeer;
  /** The cluster's DNS. Default `"kube-dns"`. */
  dns?: DnsPreset | DnsPeer;
  /** `"all"`: egress left open (the policy governs ingress only). Otherwise more egress rules. Default none. */
  egress?: "all" | EgressRule[];
  /** Who may reach Mogi's port. Default nobody (kubelet probes still reach it, see docs). */
  ingressFrom?: PodPeer[];
}

/** Leave the policy out: the cluster's platform team owns every NetworkPolicy. */
export interface PlatformOwnedNetworkPolicy {
  /** Why, for the reviewer: shown as an annotation on the Deployment. Must not be empty. */
  platformOwned: string;
}

/** Annotation on the Deployment saying who owns its NetworkPolicy, read by the policy pack. */
export const PLATFORM_OWNED_ANNOTATION = "mogi/network-policy-platform-owned";

export const isPlatformOwned = (p: NetworkPolicyArgs | PlatformOwnedNetworkPolicy): p is PlatformOwnedNetworkPolicy => "platformOwned" in p;
const isCidr = (peer: Peer): peer is CidrPeer => "cidr" in peer;

/** Why `cidr` is not an IPv4/IPv6 CIDR, or undefined. */
export function cidrProblem(cidr: string): string | undefined {
  const [address, prefix, ...rest] = cidr.split("/");
  const family = isIP(address ?? "");
  const bits = Number(prefix);
  if (rest.length === 0 && family !== 0 && /^\d+$/.test(prefix ?? "") && bits <= (family === 4 ? 32 : 128)) return undefined;
  return `${JSON.stringify(cidr)} is not a CIDR (e.g. 10.0.0.0/16 or fd00::/64)`;
}

function labelsProblems(where: string, labels: Record<string, string> | undefined): string[] {
  return Object.entries(labels ?? {}).flatMap(([k, v]) => [labelKeyProblem(k), labelValueProblem(v)].filter((p): p is string => !!p).map((p) => `${where}.${k}: ${p}`));
}

/** Problems with one peer, each prefixed with where it is. */
export function peerProblems(where: string, peer: Peer): string[] {
  if (isCidr(peer) && ["namespace", "namespaceLabels", "podLabels"].some((k) => k in peer)) {
    return [`${where}: a cidr peer cannot also select namespaces or pods; make them two peers`];
  }
  if (isCidr(peer)) return [cidrProblem(peer.cidr), ...(peer.except ?? []).map(cidrProblem)].filter((p): p is string => !!p).map((p) => `${where}: ${p}`);
  const problems = [...labelsProblems(`${where}.namespaceLabels`, peer.namespaceLabels), ...labelsProblems(`${where}.podLabels`, peer.podLabels)];
  if (peer.namespace !== undefined) {
    const problem = nameProblem(peer.namespace, "dns1123-label");
    if (problem) problems.push(`${where}.namespace: ${problem}`);
  }
  if (peer.namespace === undefined && !peer.namespaceLabels && !peer.podLabels) {
    problems.push(`${where}: names no namespace, namespace labels, pod labels or cidr; an empty peer would allow every pod of Mogi's namespace`);
  }
  return problems;
}

function portProblems(where: string, ports: PortRule[]): string[] {
  if (ports.length === 0) return [`${where}: list at least one port; a rule without ports would allow every port`];
  return ports.filter((p) => !Number.isInteger(p.port) || p.port < 1 || p.port > 65535).map((p) => `${where}: ${p.port} is not a port number (1-65535)`);
}

/** Every problem with the policy's arguments, each naming `networkPolicy.<field>`. */
export function networkPolicyProblems(args: NetworkPolicyArgs | PlatformOwnedNetworkPolicy): string[] {
  if (isPlatformOwned(args)) {
    return args.platformOwned.trim() === "" ? ["networkPolicy.platformOwned: give the reason the platform owns the pod's NetworkPolicy (it must not be empty)"] : [];
  }
  const problems = [...(args.consul ? peerProblems("networkPolicy.consul", args.consul) : [])];
  if (typeof args.dns === "object") {
    problems.push(...peerProblems("networkPolicy.dns", args.dns), ...portProblems("networkPolicy.dns.port", [{ port: args.dns.port }]));
  }
  if (Array.isArray(args.egress)) {
    args.egress.forEach((rule, i) => {
      if (rule.to.length === 0) problems.push(`networkPolicy.egress[${i}].to: list at least one peer; a rule without peers would allow every destination`);
      rule.to.forEach((peer, j) => problems.push(...peerProblems(`networkPolicy.egress[${i}].to[${j}]`, peer)));
      problems.push(...portProblems(`networkPolicy.egress[${i}].ports`, rule.ports));
    });
  }
  (args.ingressFrom ?? []).forEach((peer, i) => problems.push(...peerProblems(`networkPolicy.ingressFrom[${i}]`, peer)));
  return problems;
}

function toPeer(peer: Peer): NetworkPolicyPeer {
  if (isCidr(peer)) return { ipBlock: { cidr: peer.cidr, except: peer.except } };
  const namespaceLabels = { ...peer.namespaceLabels, ...(peer.namespace !== undefined ? { "kubernetes.io/metadata.name": peer.namespace } : {}) };
  const namespaced = peer.namespace !== undefined || peer.namespaceLabels !== undefined;
  return {
    ...(namespaced ? { namespaceSelector: { matchLabels: namespaceLabels } } : {}),
    // No podLabels: every pod of the namespaces ({} matches all), never "this namespace only".
    podSelector: { matchLabels: peer.podLabels ?? {} },
  };
}
const toPorts = (ports: PortRule[]): NetworkPolicyPort[] => ports.map((p) => ({ port: p.port, protocol: p.protocol ?? "TCP" }));

export interface PodNetwork {
  /** The pod's selector labels. */
  selector: Record<string, string>;
  /** Mogi's port. */
  port: number;
  /** The port the pod's `consul` connects to (consulAddrPort of its address). */
  consulPort: number;
  /** consul-k8s injects its sidecar, which talks to the servers' gRPC port. */
  connectInject: boolean;
}

/** The NetworkPolicy's spec for the pod, from validated arguments. */
export function networkPolicySpec(args: NetworkPolicyArgs, pod: PodNetwork): NetworkPolicySpec {
  // Mogi's port from the declared peers; no peers, no rule: nothing may connect (`ingress: []`).
  const peers = args.ingressFrom ?? [];
  const ingress = peers.length > 0 ? [{ from: peers.map(toPeer), ports: toPorts([{ port: pod.port }]) }] : [];
  if (args.egress === "all") return { podSelector: { matchLabels: pod.selector }, policyTypes: ["Ingress"], ingress };
  const consul = args.consul ?? CONSUL_CHART_SERVERS;
  const dns: DnsPeer = typeof args.dns === "object" ? args.dns : DNS_PRESETS[args.dns ?? "kube-dns"];
  const consulPorts = [pod.consulPort, ...(pod.connectInject ? [CONSUL_CHART_GRPC_PORT] : [])];
  const egress = [
    { to: [toPeer(consul)], ports: toPorts(consulPorts.map((port) => ({ port }))) },
    // Resolvers fall back to TCP for large answers: both.
    { to: [toPeer(dns)], ports: toPorts([{ port: dns.port, protocol: "UDP" }, { port: dns.port, protocol: "TCP" }]) },
    ...(args.egress ?? []).map((rule) => ({ to: rule.to.map(toPeer), ports: toPorts(rule.ports) })),
  ];
  return { podSelector: { matchLabels: pod.selector }, policyTypes: ["Ingress", "Egress"], ingress, egress };
}
