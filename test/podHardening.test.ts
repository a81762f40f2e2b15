/**
 * What a hardened cluster expects of Mogi's pod: a NetworkPolicy that lets it reach Consul and
 * DNS (and only what the stack adds) and lets only the declared peers reach Mogi's port; bounded
 * ephemeral storage; a read-only root with a writable /tmp.
 */
import { SingletonWorkload, SingletonWorkloadArgs } from "../components/singletonWorkload";
import { NetworkPolicyArgs } from "../components/networkPolicy";
import { findResource, inputsOf, record } from "./support/recording";

/* eslint-disable @typescript-eslint/no-explicit-any */
const T = { deployment: "kubernetes:apps/v1:Deployment", networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy" };
const SELECTOR = { "app.kubernetes.io/name": "mogi", "app.kubernetes.io/instance": "mogi" };
const CA = { pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" };

function args(overrides: Partial<SingletonWorkloadArgs> = {}): SingletonWorkloadArgs {
  return {
    name: "mogi",
    namespace: "mogi",
    image: "registry.example.com/mogi:1.4.2",
    command: ["/usr/bin/mogi"],
    maxUnavailable: 1,
    consul: { httpAddr: "https://consul-server.consul.svc:8501", ca: CA, lockPrefix: "service/mogi/lock", token: "t" },
    networkPolicy: {},
    ...overrides,
  };
}

async function declared(overrides: Partial<SingletonWorkloadArgs> = {}) {
  const recording = await record(() => {
    new SingletonWorkload("mogi", args(overrides));
  });
  const policy = recording.resources.find((r) => r.type === T.networkPolicy);
  const deployment = inputsOf(findResource(recording, T.deployment));
  return { policy: policy && inputsOf(policy), deployment, pod: deployment.spec.template.spec };
}
const policyOf = async (networkPolicy: SingletonWorkloadArgs["networkPolicy"], overrides: Partial<SingletonWorkloadArgs> = {}) =>
  (await declared({ networkPolicy, ...overrides })).policy;

/** A pod as NetworkPolicy sees it: its namespace's labels, its own labels. */
interface Endpoint { namespace: string; namespaceLabels?: Record<string, string>; podLabels?: Record<string, string>; ip?: string }
const matches = (selector: any, labels: Record<string, string> = {}) => Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
const ipv4 = (ip: string) => ip.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
const inCidr = (ip: string, cidr: string) => {
  const [base, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
};
/** Whether a NetworkPolicy peer (in the policy's namespace `own`) selects the endpoint, as the API documents it. */
function peerSelects(peer: any, endpoint: Endpoint, own: string): boolean {
  if (peer.ipBlock) return endpoint.ip !== undefined && inCidr(endpoint.ip, peer.ipBlock.cidr); // IPv4 is enough here
  const nsLabels = { "kubernetes.io/metadata.name": endpoint.namespace, ...endpoint.namespaceLabels };
  const inNamespaces = peer.namespaceSelector ? matches(peer.namespaceSelector, nsLabels) : endpoint.namespace === own;
  return inNamespaces && matches(peer.podSelector, endpoint.podLabels);
}
function allows(policy: any, direction: "egress" | "ingress", endpoint: Endpoint, port: number, protocol = "TCP"): boolean {
  const type = direction === "egress" ? "Egress" : "Ingress";
  if (!policy.spec.policyTypes.includes(type)) return true; // not isolated in that direction by this policy
  return (policy.spec[direction] ?? []).some((rule: any) =>
    (rule[direction === "egress" ? "to" : "from"] ?? []).some((peer: any) => peerSelects(peer, endpoint, policy.metadata.namespace)) &&
    rule.ports.some((p: any) => p.port === port && p.protocol === protocol));
}

/** A server pod as consul-k8s' chart labels it (charts/consul/templates/server-statefulset.yaml), release "consul" in namespace consul. */
const CHART_SERVER: Endpoint = { namespace: "consul", podLabels: { app: "consul", chart: "consul-helm", release: "consul", component: "server", hasDNS: "true" } };

describe("the NetworkPolicy", () => {
  test("selects the pod by its selector labels, in its namespace, and isolates both directions", async () => {
    const policy = await policyOf({});
    expect(policy.metadata).toMatchObject({ name: "mogi", namespace: "mogi" });
    expect(policy.spec.podSelector).toEqual({ matchLabels: SELECTOR });
    expect(policy.spec.policyTypes).toEqual(["Ingress", "Egress"]);
  });

  test("egress reaches the consul-k8s chart's server pods on the pod's Consul port (and the sidecar's gRPC), and DNS over UDP and TCP", async () => {
    const policy = await policyOf({});
    expect(allows(policy, "egress", CHART_SERVER, 8501)).toBe(true);
    // consul-dataplane and its init container share the pod: the servers' gRPC port (8502, plain or TLS).
    expect(allows(policy, "egress", CHART_SERVER, 8502)).toBe(true);
    expect(allows(policy, "egress", CHART_SERVER, 8500)).toBe(false); // not the port this pod uses
    expect(allows(policy, "egress", { ...CHART_SERVER, podLabels: { ...CHART_SERVER.podLabels, component: "client" } }, 8501)).toBe(false);
    expect(allows(policy, "egress", { ...CHART_SERVER, namespace: "elsewhere" }, 8501)).toBe(false);
    const kubeDns: Endpoint = { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } };
    for (const protocol of ["UDP", "TCP"]) expect(allows(policy, "egress", kubeDns, 53, protocol)).toBe(true);
    // Nothing else: the first policy selecting a pod for egress isolates it.
    expect(allows(policy, "egress", { namespace: "mogi", podLabels: {} }, 443)).toBe(false);
    expect(policy.spec.egress).toHaveLength(2);
  });

  test("the Consul port comes from the pod's address; no gRPC port without connect injection", async () => {
    const http = await policyOf({}, { connectInject: false, consul: { ...args().consul, httpAddr: "http://consul-server.consul.svc:8500", ca: undefined } });
    expect(http.spec.egress[0].ports).toEqual([{ port: 8500, protocol: "TCP" }]);
  });

  test("OpenShift's DNS: the operator's pods in openshift-dns on 5353, the pod port behind the Service's 53", async () => {
    const policy = await policyOf({ dns: "openshift-dns" });
    const openshiftDns: Endpoint = { namespace: "openshift-dns", podLabels: { "dns.operator.openshift.io/daemonset-dns": "default" } };
    for (const protocol of ["UDP", "TCP"]) expect(allows(policy, "egress", openshiftDns, 5353, protocol)).toBe(true);
    expect(allows(policy, "egress", openshiftDns, 53, "UDP")).toBe(false);
  });

  test("Consul outside the cluster by CIDR, and the egress rules the stack adds", async () => {
    const networkPolicy: NetworkPolicyArgs = {
      consul: { cidr: "10.20.0.0/24" },
      egress: [{ to: [{ cidr: "192.0.2.0/24" }, { namespace: "postgres", podLabels: { app: "postgres" } }], ports: [{ port: 443 }, { port: 5432 }] }],
    };
    const policy = await policyOf(networkPolicy);
    expect(allows(policy, "egress", { namespace: "-", ip: "10.20.0.7" }, 8501)).toBe(true);
    expect(allows(policy, "egress", CHART_SERVER, 8501)).toBe(false);
    expect(allows(policy, "egress", { namespace: "-", ip: "192.0.2.10" }, 443)).toBe(true);
    expect(allows(policy, "egress", { namespace: "postgres", podLabels: { app: "postgres" } }, 5432)).toBe(true);
    expect(allows(policy, "egress", { namespace: "-", ip: "198.51.100.1" }, 443)).toBe(false);
  });

  test('egress "all" leaves egress open: the policy governs ingress only', async () => {
    const policy = await policyOf({ egress: "all" });
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec.egress).toBeUndefined();
    expect(allows(policy, "egress", { namespace: "anywhere", ip: "198.51.100.1" }, 25)).toBe(true);
  });

  test("ingress: only Mogi's port, only from the declared peers; none declared, nobody", async () => {
    const client: Endpoint = { namespace: "shop", namespaceLabels: { "mogi.example.com/client": "true" }, podLabels: { app: "checkout" } };
    const policy = await policyOf({ ingressFrom: [{ namespaceLabels: { "mogi.example.com/client": "true" } }, { podLabels: { role: "admin" } }] }, { port: 9090 });
    expect(allows(policy, "ingress", client, 9090)).toBe(true);
    expect(allows(policy, "ingress", client, 8080)).toBe(false); // another port
    expect(allows(policy, "ingress", { ...client, namespaceLabels: {} }, 9090)).toBe(false); // an unlabelled namespace
    expect(allows(policy, "ingress", { namespace: "mogi", podLabels: { role: "admin" } }, 9090)).toBe(true); // podLabels alone: Mogi's namespace
    expect(allows(policy, "ingress", { namespace: "other", podLabels: { role: "admin" } }, 9090)).toBe(false);
    const closed = await policyOf({});
    expect(closed.spec.ingress).toEqual([]);
    expect(allows(closed, "ingress", client, 8080)).toBe(false);
  });

  test("platform-owned: no NetworkPolicy, and the reason on the Deployment", async () => {
    const { policy, deployment } = await declared({ networkPolicy: { platformOwned: "the platform team owns every NetworkPolicy (TICKET-12)" } });
    expect(policy).toBeUndefined();
    expect(deployment.metadata.annotations).toMatchObject({ "mogi/network-policy-platform-owned": "the platform team owns every NetworkPolicy (TICKET-12)" });
  });

  test.each([
    ["an empty reason", { platformOwned: "  " }, "networkPolicy.platformOwned: give the reason the platform owns the pod's NetworkPolicy"],
    ["a bad CIDR", { consul: { cidr: "10.0.0.0/33" } }, 'networkPolicy.consul: "10.0.0.0/33" is not a CIDR'],
    ["a CIDR peer that also selects pods", { egress: [{ to: [{ cidr: "10.0.0.0/8", namespace: "x" } as never], ports: [{ port: 1 }] }] }, "networkPolicy.egress[0].to[0]: a cidr peer cannot also select namespaces or pods"],
    ["an empty peer", { ingressFrom: [{}] }, "networkPolicy.ingressFrom[0]: names no namespace, namespace labels, pod labels or cidr"],
    ["a rule without ports", { egress: [{ to: [{ cidr: "10.0.0.0/8" }], ports: [] }] }, "networkPolicy.egress[0].ports: list at least one port"],
    ["a rule without peers", { egress: [{ to: [], ports: [{ port: 443 }] }] }, "networkPolicy.egress[0].to: list at least one peer"],
    ["a bad port", { dns: { namespace: "dns", podLabels: { app: "dns" }, port: 70000 } }, "networkPolicy.dns.port: 70000 is not a port number"],
    ["a bad label", { ingressFrom: [{ podLabels: { app: "a b" } }] }, 'networkPolicy.ingressFrom[0].podLabels.app: "a b" is not a valid label value'],
  ] as [string, SingletonWorkloadArgs["networkPolicy"], string][])("refuses %s before declaring anything", async (_label, networkPolicy, message) => {
    let error: unknown;
    const recording = await record(() => {
      try {
        new SingletonWorkload("mogi", args({ networkPolicy }));
      } catch (e) {
        error = e;
      }
    });
    expect(String((error as Error | undefined)?.message)).toContain(message);
    expect(recording.resources).toEqual([]);
  });
});

describe("ephemeral storage", () => {
  test("requests and limits on both containers, sized from the volumes each writes; a sizeLimit on every emptyDir", async () => {
    const { pod } = await declared();
    const [init] = pod.initContainers;
    const [main] = pod.containers;
    // init: the consul binary (≈ 200 MiB assumed), up to its 256 MiB volume plus a log file.
    expect(init.resources.requests["ephemeral-storage"]).toBe("200Mi");
    expect(init.resources.limits["ephemeral-storage"]).toBe("266Mi");
    // main: binary + state + one log file; limit: every emptyDir full (256 + 1 + 64) + 5 rotated logs of 10 MiB.
    expect(main.resources.requests["ephemeral-storage"]).toBe("211Mi");
    expect(main.resources.limits["ephemeral-storage"]).toBe("371Mi");
    expect(main.resources.limits).toMatchObject({ cpu: "1", memory: "256Mi" }); // cpu and memory kept
    const sizeLimits = Object.fromEntries(pod.volumes.filter((v: any) => v.emptyDir).map((v: any) => [v.name, v.emptyDir.sizeLimit]));
    expect(sizeLimits).toEqual({ "consul-bin": "256Mi", "lock-state": "1Mi", tmp: "64Mi" });
  });

  test("without the copied binary the main container needs less; a writable root adds its layer", async () => {
    const appImage = (await declared({ consul: { ...args().consul, binary: "app-image" } })).pod.containers[0];
    expect(appImage.resources.requests["ephemeral-storage"]).toBe("11Mi");
    expect(appImage.resources.limits["ephemeral-storage"]).toBe("115Mi");
    const writable = (await declared({ readOnlyRootFilesystem: false })).pod.containers[0];
    expect(writable.resources.limits["ephemeral-storage"]).toBe("435Mi");
  });

  test("a caller's own ephemeral-storage figures win", async () => {
    const resources = { requests: { cpu: "1", memory: "1Gi", "ephemeral-storage": "1Gi" }, limits: { cpu: "1", memory: "1Gi", "ephemeral-storage": "2Gi" } };
    const main = (await declared({ resources })).pod.containers[0];
    expect(main.resources).toEqual(resources);
  });
});

describe("read-only root", () => {
  test("Mogi's root is read-only by default, with a bounded writable /tmp that TMPDIR points at", async () => {
    const { pod } = await declared();
    const main = pod.containers[0];
    expect(main.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(main.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    expect(pod.volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "64Mi" } });
    expect(main.env).toContainEqual({ name: "TMPDIR", value: "/tmp" });
    // The guard's state stays on its own volume, whatever TMPDIR says.
    expect(main.env).toContainEqual({ name: "CONSUL_LOCK_STATE_DIR", value: "/run/consul-lock" });
  });

  test("false leaves it writable (and /tmp still bounded); TMPDIR cannot be overridden", async () => {
    const { pod } = await declared({ readOnlyRootFilesystem: false });
    expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(false);
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
    await expect(declared({ env: { TMPDIR: "/var/tmp" } })).rejects.toThrow("env: TMPDIR are set by the component");
  });
});
