/**
 * A MODEL of consul-k8s' mesh webhook, written from reading its source (hashicorp/consul-k8s
 * v1.7.3, commit 933f14d0, MPL-2.0: the chart that ships Consul 1.21.3; v1.7.1's webhook is the
 * same), not by running it. For a single-port pod it gives the containers the webhook adds and
 * the securityContext of each; every row cites the file and line it comes from
 * (control-plane/connect-inject/...). Anything the rows do not name (images, env, probes) is left
 * out. Re-read the cited lines when the chart version the stacks assume changes.
 */

/** How the cluster's consul-k8s is installed (Helm values). */
export interface ConsulK8sCluster {
  /** `connectInject.cni.enabled` (chart default false, values.yaml:2584), passed as `-enable-cni`. */
  cni: boolean;
  /** `global.openshift.enabled` (chart default false, values.yaml:803), passed as `-enable-openshift`. */
  openshift: boolean;
  /** `connectInject.transparentProxy.defaultEnabled` (chart default true, values.yaml:2411). */
  transparentProxyDefault: boolean;
  /**
   * `global.acls.manageSystemACLs`: the chart passes the injector `-acl-auth-method`
   * (templates/connect-inject-deployment.yaml:198-200), and its init container and sidecar log in
   * with the pod's service-account token.
   */
  acls: boolean;
}

/** Where the webhook looks for the pod's service-account token (webhook/mesh_webhook.go:686). */
export const SERVICE_ACCOUNT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: { type: string };
}

export interface InjectedContainer {
  name: string;
  init: boolean;
  securityContext: SecurityContext;
  /** Where in consul-k8s v1.7.3 this comes from. */
  source: string;
}

/**
 * On OpenShift the webhook takes UIDs from the namespace's `openshift.io/sa.scc.uid-range`: the
 * last one for connect-init, the one before for consul-dataplane (common/openshift.go:29-40,
 * 61-72). This range is openshift.go's own example (lines 5-7), so it stays inside restricted-v2's.
 */
const OPENSHIFT_RANGE = { first: 1000710000, size: 10000 };
const OPENSHIFT_INIT_UID = OPENSHIFT_RANGE.first + OPENSHIFT_RANGE.size - 1;
const OPENSHIFT_DATAPLANE_UID = OPENSHIFT_RANGE.first + OPENSHIFT_RANGE.size - 2;
/** webhook/container_init.go:22-24. */
const ROOT = 0;
const DATAPLANE_UID = 5995;
const INIT_UID = 5996;

const INIT = "consul-connect-inject-init"; // container_init.go:21
const DATAPLANE = "consul-dataplane"; // mesh_webhook.go:38

/** Go's strconv.ParseBool, which the webhook uses on every boolean annotation. */
function parseBool(raw: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(raw)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(raw)) return false;
  throw new Error(`consul-k8s refuses the pod: ${JSON.stringify(raw)} is not a Go boolean`);
}

/**
 * The containers the webhook adds to a pod with these annotations, in order (one init container,
 * one sidecar: mesh_webhook.go:310-331 for a pod naming one service). Throws where the webhook
 * refuses the pod itself. `podRunAsUser` is the pod-level securityContext.runAsUser.
 */
export function injectedContainers(annotations: Record<string, string>, cluster: ConsulK8sCluster, podRunAsUser?: number, mountPaths: string[] = []): InjectedContainer[] {
  // mesh_webhook.go:580-608 (shouldInject): the annotation decides (the chart's connectInject.default false requires it).
  const inject = annotations["consul.hashicorp.com/connect-inject"];
  if (inject === undefined || !parseBool(inject)) return [];
  // container_init.go:74-88 and mesh_webhook.go:312-316, 683-696: with an auth method, a pod none
  // of whose containers mounts a token at the standard path is refused (an Errored admission
  // response, and the chart's webhook failurePolicy is Fail: the pod is not created).
  if (cluster.acls && !mountPaths.includes(SERVICE_ACCOUNT_TOKEN_PATH)) {
    throw new Error("consul-k8s refuses the pod: error configuring injection init container: unable to find service account token volumeMount");
  }
  // common/common.go:75-86 (TransparentProxyEnabled): pod annotation, then namespace label, then the global default.
  const tproxyAnnotation = annotations["consul.hashicorp.com/transparent-proxy"];
  const tproxy = tproxyAnnotation === undefined ? cluster.transparentProxyDefault : parseBool(tproxyAnnotation);

  let init: InjectedContainer;
  if (!tproxy) {
    init = {
      name: INIT, init: true, source: "webhook/container_init.go:295-308 (no transparent proxy)",
      securityContext: { allowPrivilegeEscalation: false, capabilities: { add: [], drop: ["ALL"] }, readOnlyRootFilesystem: true, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    };
  } else if (cluster.cni) {
    const uid = cluster.openshift ? OPENSHIFT_INIT_UID : INIT_UID; // container_init.go:236-254
    init = {
      name: INIT, init: true, source: "webhook/container_init.go:234-269 (transparent proxy, the CNI redirects)",
      securityContext: {
        seccompProfile: { type: "RuntimeDefault" }, runAsUser: uid, runAsGroup: uid, runAsNonRoot: true, privileged: false,
        capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      },
    };
  } else {
    init = {
      name: INIT, init: true, source: "webhook/container_init.go:270-294 (transparent proxy, iptables from the init container; privileged on OpenShift: 228-232)",
      securityContext: { runAsUser: ROOT, runAsGroup: ROOT, runAsNonRoot: false, privileged: cluster.openshift, capabilities: { add: ["NET_ADMIN"] } },
    };
  }

  // consul_dataplane_sidecar.go:227-234: off OpenShift, a pod-level UID equal to consul-dataplane's is refused.
  if (!cluster.openshift && podRunAsUser === DATAPLANE_UID) throw new Error(`consul-k8s refuses the pod: runAsUser ${DATAPLANE_UID} is consul-dataplane's`);
  const uid = cluster.openshift ? OPENSHIFT_DATAPLANE_UID : DATAPLANE_UID; // consul_dataplane_sidecar.go:219-261
  const sidecar: InjectedContainer = {
    name: DATAPLANE, init: false, source: "webhook/consul_dataplane_sidecar.go:263-278 (whatever the settings)",
    securityContext: {
      runAsUser: uid, runAsGroup: uid, runAsNonRoot: true, allowPrivilegeEscalation: false, seccompProfile: { type: "RuntimeDefault" },
      capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] }, readOnlyRootFilesystem: true,
    },
  };
  return [init, sidecar];
}

/**
 * What Pod Security `restricted` (and the baseline it includes) refuses in one container's
 * securityContext, given the pod's: privileged, capabilities added beyond NET_BIND_SERVICE or ALL
 * not dropped, privilege escalation not turned off, runAsNonRoot not true or false on the
 * container, UID 0, seccomp other than RuntimeDefault/Localhost. OpenShift's restricted-v2 refuses
 * the same (and UIDs outside the namespace range, which the model's OpenShift UIDs are not).
 */
export function restrictedViolations(container: SecurityContext = {}, pod: SecurityContext = {}): string[] {
  const problems: string[] = [];
  if (container.privileged === true) problems.push("privileged");
  const added = (container.capabilities?.add ?? []).filter((c) => c !== "NET_BIND_SERVICE");
  if (added.length > 0) problems.push(`adds ${added.join(", ")}`);
  if (!(container.capabilities?.drop ?? []).includes("ALL")) problems.push("does not drop ALL capabilities");
  if (container.allowPrivilegeEscalation !== false) problems.push("allowPrivilegeEscalation is not false");
  if ((container.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push("runAsNonRoot is not true");
  if (container.runAsUser === 0 || pod.runAsUser === 0) problems.push("runs as UID 0");
  const seccomp = (container.seccompProfile ?? pod.seccompProfile)?.type;
  if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push(`seccompProfile is ${seccomp ?? "unset"}`);
  return problems;
}
