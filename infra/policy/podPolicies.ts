/**
 * The pod's isolation from its node and from the cluster: what platform teams refuse in a pod
 * (Pod Security "baseline"/"restricted", OpenShift's restricted-v2), checked at preview time for
 * every stack, including those whose namespace the platform labels (or does not). Mogi needs
 * none of it: a pod with any of these is a pod someone changed.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { containersOf, fail, label, onType, podSpec, Props, sameNamespace, TYPES } from "./shared";
import { SERVICE_ACCOUNT_TOKEN_ANNOTATION } from "../../components/singletonPod";

const HOST_NAMESPACES = ["hostNetwork", "hostPID", "hostIPC"] as const;

export const noHostNamespaces = onType(TYPES.deployment, "pod-no-host-namespaces", "The pod shares none of its node's namespaces (hostNetwork, hostPID, hostIPC).", "mandatory", (d, report) => {
  const shared = HOST_NAMESPACES.filter((key) => podSpec(d)[key] === true);
  if (shared.length) {
    report(fail(`the pod sets ${shared.map((key) => `${key}: true`).join(", ")}`, "it would share the node's network stack, processes or IPC: the kubelet's and every other pod's traffic, the node's process table, its shared memory (Pod Security 'baseline' refuses it)", "remove them; Mogi needs none"));
  }
});

export const noHostPathVolumes = onType(TYPES.deployment, "pod-no-hostpath-volumes", "The pod mounts no path of its node (hostPath volumes).", "mandatory", (d, report) => {
  for (const volume of (podSpec(d).volumes ?? []).filter((v: Props) => v.hostPath)) {
    report(fail(`volume ${volume.name} mounts the node's ${JSON.stringify(volume.hostPath.path)} (hostPath)`, "a node path gives the pod the node's files (with `/`, its credentials, the container runtime's socket and every other pod's volumes), and ties the singleton to one node", "use an emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim"));
  }
});

export const noAddedCapabilities = onType(TYPES.deployment, "container-no-added-capabilities", "No container adds a Linux capability.", "mandatory", (d, report) => {
  for (const c of containersOf(d)) {
    const added: unknown[] = c.securityContext?.capabilities?.add ?? [];
    if (added.length) {
      report(fail(`container ${c.name} adds capabilities ${added.map(String).join(", ")}`, "every container drops ALL and Mogi binds an unprivileged port: an added capability (SYS_ADMIN, NET_ADMIN, ...) is root's power over the node's kernel interfaces, which 'restricted' and restricted-v2 refuse", "remove securityContext.capabilities.add"));
    }
  }
});

export const noHostPorts = onType(TYPES.deployment, "container-no-host-port", "No container port is bound on the node (hostPort).", "mandatory", (d, report) => {
  for (const c of containersOf(d)) {
    for (const port of (c.ports ?? []).filter((p: Props) => p.hostPort !== undefined && p.hostPort !== 0)) {
      report(fail(`container ${c.name} binds port ${port.containerPort} on the node as hostPort ${port.hostPort}`, "a hostPort reaches Mogi from outside the pod network, around its NetworkPolicy and Service (Pod Security 'baseline' refuses it)", "remove hostPort; clients reach Mogi through its Service"));
    }
  }
});

export const noSharedProcessNamespace = onType(TYPES.deployment, "pod-no-shared-process-namespace", "The pod's containers do not share one process namespace.", "mandatory", (d, report) => {
  if (podSpec(d).shareProcessNamespace === true) {
    report(fail("the pod sets shareProcessNamespace: true", "the lock wrapper stops being PID 1 of its own PID namespace (the pod's pause process is), so its death no longer makes the kernel kill what it started (consul lock, Mogi and its children), which then outlive the lock they ran under until the runtime cleans up; and every container sees the others' processes, their environment and, through /proc/<pid>/root, their files", "remove shareProcessNamespace"));
  }
});

export const readOnlyRootFilesystem = onType(TYPES.deployment, "read-only-root-filesystem", "Every container's root filesystem is read-only (mandatory in production).", "advisory", (d, report) => {
  for (const c of containersOf(d).filter((c) => c.securityContext?.readOnlyRootFilesystem !== true)) {
    report(fail(`container ${c.name} has a writable root filesystem`, "whatever runs in it (or breaks into it) can replace the image's files, the consul binary included, and its writes escape the ephemeral-storage accounting of the volumes", "set mogi:readOnlyRootFilesystem: true (Mogi writes to /tmp, an emptyDir)"));
  }
});

const DIGEST = /@sha256:[0-9a-f]{64}$/;

export const imagePinnedByDigest = onType(TYPES.deployment, "image-pinned-by-digest", "Every image, the init container's too, is pinned by digest (mandatory in production).", "advisory", (d, report) => {
  const init = new Set(podSpec(d).initContainers ?? []);
  for (const c of containersOf(d)) {
    if (typeof c.image === "string" && !DIGEST.test(c.image)) {
      const runs = init.has(c) ? "the consul binary this image provides runs with the Consul token" : "it runs with the Consul token mounted";
      report(fail(`container ${c.name} uses ${JSON.stringify(c.image)}, not pinned by digest`, `whoever can push to the registry can move a tag to other content, which the next pod start runs, unreviewed (${runs})`, `pin it as <image>:<tag>@sha256:<digest> (${init.has(c) ? "mogi:consul.binaryImage" : "mogi:image"})`));
    }
  }
});

/** On the Deployment: why the pod needs its service-account token (a setting that asks for it), never empty. */
export { SERVICE_ACCOUNT_TOKEN_ANNOTATION };

export const noServiceAccountToken: StackValidationPolicy = {
  name: "no-service-account-token",
  description: "No Kubernetes API token is mounted into Mogi's pod, unless a setting says why it needs one.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const accounts = args.resources.filter((r) => r.type === TYPES.serviceAccount);
    for (const d of args.resources.filter((r) => r.type === TYPES.deployment)) {
      const reason = d.props.metadata?.annotations?.[SERVICE_ACCOUNT_TOKEN_ANNOTATION];
      if (typeof reason === "string" && reason.trim() !== "") continue;
      const spec = podSpec(d.props);
      const accountName = spec.serviceAccountName ?? "default";
      const account = accounts.find((a) => sameNamespace(a.props, d.props) && a.props.metadata?.name === accountName);
      // The pod's field wins; unset, the ServiceAccount's; unset too, Kubernetes mounts the token.
      const automount = spec.automountServiceAccountToken ?? account?.props.automountServiceAccountToken ?? true;
      const projected = (spec.volumes ?? []).filter((v: Props) => (v.projected?.sources ?? []).some((s: Props) => s.serviceAccountToken));
      if (projected.length > 0) {
        reportViolation(fail(`${label(d)} mounts a service-account token through projected volume ${projected.map((v: Props) => JSON.stringify(v.name)).join(", ")}`, "every process of the pod could read the token and act with the ServiceAccount's rights", `mount none, or, where a setting needs it, say why in the ${SERVICE_ACCOUNT_TOKEN_ANNOTATION} annotation`), d.urn);
      }
      if (automount !== false) {
        reportViolation(fail(`${label(d)} mounts its ServiceAccount's API token (automountServiceAccountToken is ${JSON.stringify(spec.automountServiceAccountToken ?? "unset")} on the pod)`, "Mogi calls no Kubernetes API, and every process of the pod could read the token and act with the ServiceAccount's rights", `set automountServiceAccountToken: false on the pod, or, where a setting needs the token, say why in the ${SERVICE_ACCOUNT_TOKEN_ANNOTATION} annotation`), d.urn);
      }
    }
  },
};

export const podResourcePolicies: ResourceValidationPolicy[] = [
  noHostNamespaces, noHostPathVolumes, noAddedCapabilities, noHostPorts, noSharedProcessNamespace, readOnlyRootFilesystem, imagePinnedByDigest,
];
export const podStackPolicies: StackValidationPolicy[] = [noServiceAccountToken];
