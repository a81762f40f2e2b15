/**
 * A real Kubernetes control plane on 127.0.0.1 (binaries from `npm run engines`): etcd,
 * kube-apiserver and kube-controller-manager with the controllers the scenarios use (Deployments,
 * ReplicaSets, the disruption controller behind PDB status and the eviction API, namespaces,
 * garbage collection, service accounts, node lifecycle and taint eviction). The nodes are real
 * kubelets (support/realNode.ts), authorized as nodes (Node authorizer, NodeRestriction).
 * Flags follow controller-runtime's envtest; certificates come from openssl (a throw-away CA).
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { engine } from "../../engines/paths";
import { KubeApi } from "./kubeApi";
import { issueLeaf, makeCa, openssl, TestCa } from "../../support/pki";
import { freePort, Proc, waitFor } from "./processes";

/**
 * The controllers kube-controller-manager runs (1.37 names): Deployments and ReplicaSets, PDB
 * status (disruption), namespace deletion, garbage collection, service accounts, and the Service's
 * endpoints (pulumi-kubernetes waits for a Service to have endpoints, up to 10 minutes).
 */
export const CONTROLLERS = [
  "deployment-controller", "replicaset-controller", "disruption-controller", "namespace-controller",
  "garbage-collector-controller", "serviceaccount-controller", "serviceaccount-token-controller",
  "endpoints-controller", "endpointslice-controller",
  // A node that stops reporting: marked NotReady/Unknown and tainted after the node-monitor grace
  // period (default periods kept), then its pods evicted once their tolerations run out.
  "node-lifecycle-controller", "taint-eviction-controller",
];

/** A CA, the API server's serving certificate, client certificates, and the service-account key pair. */
function makePki(dir: string): TestCa {
  const ca = makeCa(dir, "ca", "mogi-e2e-ca");
  issueLeaf(ca, "apiserver", "/CN=localhost", ["subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"]);
  // system:masters: the test's own identity, and the controller-manager's (one identity for every
  // controller with --use-service-account-credentials=false).
  issueLeaf(ca, "admin", "/O=system:masters/CN=mogi-e2e-admin", ["extendedKeyUsage=clientAuth"]);
  issueLeaf(ca, "controller-manager", "/O=system:masters/CN=system:kube-controller-manager", ["extendedKeyUsage=clientAuth"]);
  openssl(["genrsa", "-out", "sa.key", "2048"], dir);
  openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return ca;
}

function kubeconfig(file: string, server: string, pki: string, user: string): void {
  writeFileSync(file, kubeconfigText(server, pki, user));
}

function kubeconfigText(server: string, pki: string, user: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: e2e\n  cluster:\n    server: ${server}\n    certificate-authority: ${path.join(pki, "ca.crt")}`,
    "users:",
    `- name: ${user}\n  user:\n    client-certificate: ${path.join(pki, `${user}.crt`)}\n    client-key: ${path.join(pki, `${user}.key`)}`,
    "contexts:",
    `- name: e2e\n  context:\n    cluster: e2e\n    user: ${user}`,
    "current-context: e2e",
    "",
  ].join("\n");
}

export class LocalCluster {
  /** kubeconfig of a system:masters user, for the stack and the tests. */
  readonly kubeconfig: string;
  /** CA, certificates and keys (admin.crt/key for the tests' own API calls). */
  readonly pki: string;
  server = "";
  private readonly procs: Proc[] = [];
  private ca?: TestCa;

  constructor(private readonly dir: string) {
    this.kubeconfig = path.join(dir, "admin.kubeconfig");
    this.pki = path.join(dir, "pki");
  }

  async start(): Promise<void> {
    const pki = this.pki;
    this.ca = makePki(pki);
    const [etcdPort, peerPort, apiPort, kcmPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const log = (name: string) => ({ logFile: path.join(this.dir, `${name}.log`) });

    const etcd = new Proc("etcd", engine("etcd"), [
      "--name=default", `--data-dir=${path.join(this.dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`, `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`, "--unsafe-no-fsync=true", "--log-level=warn",
    ], log("etcd"));
    this.procs.push(etcd);
    await waitFor("etcd /health", async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok || (etcd.alive ? false : Promise.reject(new Error(etcd.tail()))), 30_000);

    this.server = `https://127.0.0.1:${apiPort}`;
    const apiserver = new Proc("kube-apiserver", engine("kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
      // 1.37 refuses a loopback advertise address unless the kubernetes Service's endpoints are not reconciled.
      "--endpoint-reconciler-type=none",
      `--tls-cert-file=${pki}/apiserver.crt`, `--tls-private-key-file=${pki}/apiserver.key`, `--client-ca-file=${pki}/ca.crt`,
      `--service-account-issuer=${this.server}`, `--service-account-key-file=${pki}/sa.pub`, `--service-account-signing-key-file=${pki}/sa.key`,
      // Kubelets are authorized as nodes and may touch only their own Node and pods (REAL-NODES.md, 5).
      "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
      `--cert-dir=${path.join(this.dir, "apiserver-certs")}`,
    ], log("kube-apiserver"));
    this.procs.push(apiserver);
    kubeconfig(this.kubeconfig, this.server, pki, "admin");
    const api = new KubeApi(this.server, pki);
    await waitFor("kube-apiserver /readyz", async () => {
      if (!apiserver.alive) throw new Error(`kube-apiserver exited:\n${apiserver.tail()}`);
      return (await api.request("GET", "/readyz")).status === 200;
    }, 120_000, 200);

    const kcmConfig = path.join(this.dir, "controller-manager.kubeconfig");
    kubeconfig(kcmConfig, this.server, pki, "controller-manager");
    const kcm = new Proc("kube-controller-manager", engine("kube-controller-manager"), [
      `--kubeconfig=${kcmConfig}`, `--service-account-private-key-file=${pki}/sa.key`, `--root-ca-file=${pki}/ca.crt`,
      "--leader-elect=false", "--bind-address=127.0.0.1", `--secure-port=${kcmPort}`,
      `--controllers=${CONTROLLERS.join(",")}`, "--use-service-account-credentials=false",
    ], log("kube-controller-manager"));
    this.procs.push(kcm);
    // Ready once its serviceaccount controller has created the default namespace's account.
    await waitFor("kube-controller-manager to create the default ServiceAccount", async () => {
      if (!kcm.alive) throw new Error(`kube-controller-manager exited:\n${kcm.tail()}`);
      return (await api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200;
    }, 60_000, 200);
  }

  /**
   * A kubelet's kubeconfig for node `node` (a client certificate of system:node:<node> in
   * system:nodes, as the Node authorizer expects), given the API server's address as the node sees it.
   */
  nodeKubeconfig(node: string): (server: string) => string {
    if (!this.ca) throw new Error("the cluster is not started");
    issueLeaf(this.ca, `kubelet-${node}`, `/O=system:nodes/CN=system:node:${node}`, ["extendedKeyUsage=clientAuth"]);
    return (server) => kubeconfigText(server, this.pki, `kubelet-${node}`);
  }

  /** Controller-manager, then API server, then etcd (the reverse stops floods of reconnect warnings). */
  async stop(): Promise<void> {
    for (const proc of [...this.procs].reverse()) await proc.stop(10_000);
  }

  tails(lines = 15): string {
    return this.procs.map((p) => `--- ${p.name} (tail) ---\n${p.tail(lines)}`).join("\n");
  }
}
