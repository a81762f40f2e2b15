/**
 * CrossGuard policies that encode the singleton guarantee. Plain objects, so that the pack
 * (`index.ts`) and the offline check (`evaluate.ts`) run exactly the same code. The pod's
 * isolation from its node (`podPolicies.ts`), the Consul token's reach (`consulAclPolicies.ts`)
 * and the NetworkPolicy's openness (`networkPolicies.ts`) have their own files; this one lists
 * them all (`allPolicies`). What each refuses and why: README.md beside it.
 *
 * Scope: every Deployment in a stack that uses this pack is a singleton run under the lock.
 * Each message says what is wrong, why, and how to fix it.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { nameProblem, NameRule, nameRuleForKind } from "../../components/naming";
import { consulAddrPort, LOCK_WRAPPER_FILE as WRAPPER_FILE } from "../../components/lockWrapper";
import { kvPrefixesOverlap } from "../../components/consulKv";
import { PLATFORM_OWNED_ANNOTATION } from "../../components/networkPolicy";
import { containersOf, envValue, fail, label, mainContainer, onType, podSpec, Props, sameNamespace, selects, TYPES } from "./shared";
import { podResourcePolicies, podStackPolicies } from "./podPolicies";
import { consulAclOwnPrefixesOnly, ownLoginSelector } from "./consulAclPolicies";
import { networkPolicyNotOpen } from "./networkPolicies";

export { TYPES } from "./shared";

const CONSUL_PREFIX = "consul.hashicorp.com/";
/** Pod annotations consul-k8s reads (control-plane/connect-inject/constants/annotations_and_labels.go). */
const REAL_POD_ANNOTATIONS = new Set([
  "connect-inject", "connect-service", "connect-service-port", "connect-service-upstreams", "service-tags",
  "transparent-proxy", "transparent-proxy-overwrite-probes", "transparent-proxy-exclude-inbound-ports",
  "transparent-proxy-exclude-outbound-ports", "transparent-proxy-exclude-outbound-cidrs", "transparent-proxy-exclude-uids",
  "use-proxy-health-check", "kubernetes-service",
  "consul-namespace", "enable-metrics", "enable-metrics-merging", "merged-metrics-port", "prometheus-scrape-port",
  "prometheus-scrape-path", "connect-inject-status", "envoy-extra-args",
]);
const REAL_POD_ANNOTATION_PREFIXES = ["service-meta-", "sidecar-proxy-", "consul-sidecar-"];

export const oneReplica = onType(TYPES.deployment, "singleton-one-replica", "A singleton Deployment runs exactly one replica.", "mandatory", (d, report) => {
  if (d.spec?.replicas !== 1) {
    report(fail(`spec.replicas is ${JSON.stringify(d.spec?.replicas)}`, "a singleton must have exactly one pod (the lock is for hand-over, not for a standing second replica)", "set spec.replicas: 1"));
  }
});

export const recreateStrategy = onType(TYPES.deployment, "singleton-recreate-strategy", "A singleton Deployment rolls out with Recreate.", "mandatory", (d, report) => {
  const type = d.spec?.strategy?.type;
  if (type !== "Recreate") {
    report(fail(`spec.strategy.type is ${JSON.stringify(type ?? "RollingUpdate (default)")}`, "a rolling update starts the new pod before the old one stops", 'set spec.strategy: { type: "Recreate" }'));
  }
});

export const runsUnderLock = onType(TYPES.deployment, "singleton-runs-under-consul-lock", "The main container runs its command through the consul lock wrapper.", "mandatory", (d, report) => {
  const main = mainContainer(d);
  const command: unknown[] = main?.command ?? [];
  if (command.length !== 1 || typeof command[0] !== "string" || !command[0].endsWith(`/${WRAPPER_FILE}`)) {
    report(fail(`the main container's command is ${JSON.stringify(command)}`, "Mogi would run without holding the Consul lock, so two pods could run it at once", `make the command the mounted ${WRAPPER_FILE} and pass Mogi's command as args`));
  } else if (!Array.isArray(main?.args) || main.args.length === 0) {
    report(fail("the main container has no args", "the wrapper needs Mogi's command as its arguments", "pass Mogi's command as the container's args"));
  }
});

export const wrapperExecutable = onType(TYPES.deployment, "singleton-lock-wrapper-executable", "The lock wrapper is mounted from a ConfigMap with an executable mode.", "mandatory", (d, report) => {
  const command = mainContainer(d)?.command?.[0];
  if (typeof command !== "string" || !command.endsWith(`/${WRAPPER_FILE}`)) return; // singleton-runs-under-consul-lock reports it
  const dir = command.slice(0, -WRAPPER_FILE.length - 1);
  const mount = (mainContainer(d)?.volumeMounts ?? []).find((m: Props) => m.mountPath === dir);
  const volume = (podSpec(d).volumes ?? []).find((v: Props) => v.name === mount?.name);
  if (!volume?.configMap) {
    report(fail(`no ConfigMap volume is mounted at ${dir}`, "the wrapper script comes from the lock ConfigMap", `mount the lock ConfigMap at ${dir}`));
    return;
  }
  const item = (volume.configMap.items ?? []).find((i: Props) => i.path === WRAPPER_FILE);
  const mode: number = item?.mode ?? volume.configMap.defaultMode ?? 0o644;
  if ((mode & 0o111) !== 0o111) {
    report(fail(`volume ${volume.name} has mode 0${mode.toString(8)}`, "ConfigMap files default to 0644, which is not executable, and the pod runs under an arbitrary UID", "set configMap.defaultMode: 365 (0555)"));
  }
});

export const realConsulAnnotations = onType(TYPES.deployment, "consul-annotations-real-and-on-pod", "Only annotations consul-k8s reads, and only on the pod template.", "mandatory", (d, report) => {
  for (const key of Object.keys(d.metadata?.annotations ?? {}).filter((k) => k.startsWith(CONSUL_PREFIX))) {
    report(fail(`${key} is on the Deployment's metadata`, "consul-k8s reads annotations on pods only", "move it to spec.template.metadata.annotations"));
  }
  for (const key of Object.keys(d.spec?.template?.metadata?.annotations ?? {}).filter((k) => k.startsWith(CONSUL_PREFIX))) {
    const name = key.slice(CONSUL_PREFIX.length);
    if (!REAL_POD_ANNOTATIONS.has(name) && !REAL_POD_ANNOTATION_PREFIXES.some((p) => name.startsWith(p))) {
      report(fail(`pod annotation ${key} is not one consul-k8s reads`, "it is silently ignored (there is no separate HTTP check annotation: readiness is the health check)", "remove it, or use a real one such as connect-service-port or service-meta-<key>"));
    }
  }
});

export const serviceAccountIsService = onType(TYPES.deployment, "consul-service-account-matches-service", "The pod's ServiceAccount is named like its Consul service.", "mandatory", (d, report) => {
  const annotations = d.spec?.template?.metadata?.annotations ?? {};
  if (annotations[`${CONSUL_PREFIX}connect-inject`] !== "true") return;
  const service = annotations[`${CONSUL_PREFIX}connect-service`];
  const account = podSpec(d).serviceAccountName;
  if (!service || account !== service) {
    report(fail(`serviceAccountName ${JSON.stringify(account)} differs from connect-service ${JSON.stringify(service)}`, "with ACLs on, consul-k8s' connect-init fails unless they are equal", "name the ServiceAccount like the Consul service"));
  }
});

export const lockBypassesSidecar = onType(TYPES.deployment, "consul-lock-bypasses-sidecar", "With connect injection, the lock's traffic to Consul is not sent through the Envoy sidecar.", "mandatory", (d, report) => {
  const annotations = d.spec?.template?.metadata?.annotations ?? {};
  if (annotations[`${CONSUL_PREFIX}connect-inject`] !== "true" || annotations[`${CONSUL_PREFIX}transparent-proxy`] === "false") return;
  const addr = (mainContainer(d)?.env ?? []).find((e: Props) => e.name === "CONSUL_HTTP_ADDR")?.value;
  const port = typeof addr === "string" ? consulAddrPort(addr) : undefined;
  if (port === undefined) return; // singleton-runs-under-consul-lock covers a pod without the wrapper's settings
  const excluded = String(annotations[`${CONSUL_PREFIX}transparent-proxy-exclude-outbound-ports`] ?? "").split(",").map((p) => p.trim());
  if (!excluded.includes(port)) {
    report(fail(`Consul's port ${port} (CONSUL_HTTP_ADDR) is not in ${CONSUL_PREFIX}transparent-proxy-exclude-outbound-ports`, "transparent proxy (on by default) sends consul lock's traffic through the sidecar, which may not be up when the lock is requested nor still up when it is released, so hand-overs wait for the session's TTL", `add the annotation with "${port}" to the pod template`));
  }
});

const SECRET_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIALS?)$/i;

export const noLiteralSecrets = onType(TYPES.deployment, "no-literal-secret-in-env", "No secret as a literal environment value.", "mandatory", (d, report) => {
  for (const container of containersOf(d)) {
    for (const env of container.env ?? []) {
      if (typeof env.value === "string" && SECRET_NAME.test(env.name)) {
        report(fail(`container ${container.name} sets ${env.name} as a literal`, "literals are stored in the Deployment, visible to anyone who can read it", `mount it from a Secret (as CONSUL_HTTP_TOKEN_FILE does) or use valueFrom.secretKeyRef`));
      }
    }
  }
});

export const restrictedSecurityContext = onType(TYPES.deployment, "restricted-security-context", "Every container meets Pod Security 'restricted' (OpenShift restricted-v2).", "mandatory", (d, report) => {
  const pod = podSpec(d).securityContext ?? {};
  for (const c of containersOf(d)) {
    const sc = c.securityContext ?? {};
    const missing: string[] = [];
    if (sc.runAsNonRoot !== true && pod.runAsNonRoot !== true) missing.push("runAsNonRoot: true");
    if (sc.allowPrivilegeEscalation !== false) missing.push("allowPrivilegeEscalation: false");
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) missing.push("capabilities.drop: [ALL]");
    if ((sc.seccompProfile ?? pod.seccompProfile)?.type !== "RuntimeDefault") missing.push("seccompProfile.type: RuntimeDefault");
    if (sc.privileged === true) missing.push("privileged: false");
    if (sc.runAsUser === 0 || pod.runAsUser === 0) missing.push("a non-zero runAsUser (or none)");
    if (missing.length) {
      report(fail(`container ${c.name} lacks ${missing.join(", ")}`, "the namespace's restricted profile (and OpenShift's restricted-v2 SCC) refuses such pods", "set them on the container's securityContext"));
    }
  }
});

export const validNames: ResourceValidationPolicy = {
  name: "kubernetes-valid-names",
  description: "Object, namespace and container names follow the API server's DNS rules.",
  enforcementLevel: "mandatory",
  validateResource: (args, reportViolation) => {
    if (!args.type.startsWith("kubernetes:")) return;
    const kind = args.type.split(":").pop() as string;
    const metadata = args.props?.metadata ?? {};
    const checks: [string, unknown, NameRule][] = [
      ["metadata.name", metadata.name, nameRuleForKind(kind)],
      ["metadata.namespace", metadata.namespace, "dns1123-label"],
      ...containersOf(args.props ?? {}).map((c, i): [string, unknown, NameRule] => [`container[${i}].name`, c.name, "dns1123-label"]),
    ];
    for (const [where, value, rule] of checks) {
      const problem = typeof value === "string" ? nameProblem(value, rule) : undefined; // unset: auto-named or unknown
      if (problem) reportViolation(fail(`${kind} ${where}`, `${problem}, and the API server would refuse it`, "derive names from a valid lowercase base name"));
    }
  },
};

/** Rule kinds that must never be granted write: they control ACLs, the cluster, or encryption keys. */
const FORBIDDEN_WRITE = ["acl", "operator", "keyring"];

export const aclLeastPrivilege = onType(TYPES.aclPolicy, "consul-acl-least-privilege", "An ACL policy never grants write on all of KV, ACLs, operator or keyring.", "mandatory", (p, report) => {
  const rules = typeof p.rules === "string" ? p.rules : "";
  let parsed: Props | undefined;
  try {
    parsed = JSON.parse(rules);
  } catch {
    parsed = undefined;
  }
  const broad: string[] = [];
  if (parsed) {
    if (parsed.key_prefix?.[""]?.policy === "write") broad.push('key_prefix ""');
    for (const kind of FORBIDDEN_WRITE) if (parsed[kind] === "write") broad.push(kind);
  } else {
    // HCL: a conservative textual check.
    if (/key_prefix\s+""\s*\{[^}]*policy\s*=\s*"write"/.test(rules)) broad.push('key_prefix ""');
    for (const kind of FORBIDDEN_WRITE) if (new RegExp(`\\b${kind}\\s*=\\s*"write"`).test(rules)) broad.push(kind);
  }
  if (broad.length) {
    report(fail(`policy ${JSON.stringify(p.name)} grants write on ${broad.join(", ")}`, "a leaked token could then rewrite any key (including other services' locks) or Consul's own ACLs", "grant write on the lock prefix only (components/consulAcl.ts)"));
  }
});

const IMAGE_PINNED = /(@sha256:[0-9a-f]{64}|:[^/:@]+)$/;

export const imagePinned = onType(TYPES.deployment, "image-pinned", "Images are pinned to a tag or digest, never latest (mandatory in production).", "advisory", (d, report) => {
  for (const c of containersOf(d)) {
    if (typeof c.image === "string" && (!IMAGE_PINNED.test(c.image) || c.image.endsWith(":latest"))) {
      report(fail(`container ${c.name} uses ${JSON.stringify(c.image)}`, "an unpinned image changes under a running singleton without a rollout", "pin a version tag or an @sha256 digest"));
    }
  }
});

export const resourceLimits = onType(TYPES.deployment, "resource-limits", "Every container has CPU and memory limits (mandatory in production).", "advisory", (d, report) => {
  for (const c of containersOf(d)) {
    const limits = c.resources?.limits ?? {};
    if (limits.cpu === undefined || limits.memory === undefined) {
      report(fail(`container ${c.name} has no ${limits.cpu === undefined ? "cpu" : "memory"} limit`, "an unbounded singleton can starve its node, and an OOM kill is a hard loss (≈50 s failover)", "set resources.limits.cpu and .memory"));
    }
  }
});

const EPHEMERAL_STORAGE = "ephemeral-storage";

export const ephemeralStorageLimits = onType(TYPES.deployment, "ephemeral-storage-limits", "Every container requests and limits ephemeral-storage (mandatory in production).", "advisory", (d, report) => {
  for (const c of containersOf(d)) {
    const missing = (["requests", "limits"] as const).filter((kind) => c.resources?.[kind]?.[EPHEMERAL_STORAGE] === undefined);
    if (missing.length) {
      report(fail(`container ${c.name} has no ephemeral-storage ${missing.join(" or ")}`, "a namespace with an ephemeral-storage ResourceQuota refuses the pod, and without a limit its logs and writes can fill the node's disk", `set resources.${missing[0]}["ephemeral-storage"] from what the container writes (components/podStorage.ts)`));
    }
  }
});

export const emptyDirSizeLimit = onType(TYPES.deployment, "emptydir-size-limit", "Every emptyDir has a sizeLimit (mandatory in production).", "advisory", (d, report) => {
  for (const v of (podSpec(d).volumes ?? []).filter((v: Props) => v.emptyDir)) {
    if (v.emptyDir.sizeLimit === undefined) {
      report(fail(`emptyDir ${v.name} has no sizeLimit`, "an unbounded emptyDir grows until the node's disk (or, with medium Memory, its memory) runs out and the kubelet evicts whatever it picks", "set emptyDir.sizeLimit from what the volume holds"));
    }
  }
});

/* Stack policies: relations between resources. */

export const pdbAndService: StackValidationPolicy = {
  name: "singleton-has-pdb-and-service",
  description: "Every singleton Deployment has exactly one PodDisruptionBudget and a Service selecting it.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const of = (type: string) => args.resources.filter((r) => r.type === type);
    for (const d of of(TYPES.deployment)) {
      const podLabels = d.props.spec?.template?.metadata?.labels;
      const pdbs = of(TYPES.pdb).filter((p) => sameNamespace(p.props, d.props) && selects(p.props.spec?.selector?.matchLabels, podLabels));
      if (pdbs.length !== 1) {
        reportViolation(fail(`${label(d)} is selected by ${pdbs.length} PodDisruptionBudgets`, "without one a drain evicts the pod with no say; with several the API server refuses every eviction", "declare exactly one policy/v1 PDB selecting the pod's labels"), d.urn);
      }
      if (!of(TYPES.service).some((s) => sameNamespace(s.props, d.props) && selects(s.props.spec?.selector, podLabels))) {
        reportViolation(fail(`no Service selects ${label(d)}`, "consul-k8s registers a pod only through a Service that selects it", "declare a Service named like the Consul service selecting the pod's labels"), d.urn);
      }
    }
  },
};

export const networkPolicyDeclared: StackValidationPolicy = {
  name: "singleton-has-network-policy",
  description: "Every singleton Deployment is selected by a NetworkPolicy of the stack, or says the platform owns it (mandatory in production).",
  enforcementLevel: "advisory",
  validateStack: (args, reportViolation) => {
    const policies = args.resources.filter((r) => r.type === TYPES.networkPolicy);
    for (const d of args.resources.filter((r) => r.type === TYPES.deployment)) {
      const reason = d.props.metadata?.annotations?.[PLATFORM_OWNED_ANNOTATION];
      if (typeof reason === "string" && reason.trim() !== "") continue;
      const podLabels = d.props.spec?.template?.metadata?.labels;
      const selecting = policies.filter((p) => sameNamespace(p.props, d.props) && selects(p.props.spec?.podSelector?.matchLabels, podLabels));
      if (selecting.length === 0) {
        reportViolation(fail(`no NetworkPolicy selects ${label(d)}`, "under a default-deny namespace the pod cannot reach Consul and waits for the lock forever; without any, anything can reach Mogi's port", `declare one (mogi:networkPolicy), or set mogi:networkPolicy: {platformOwned: "<reason>"} (the ${PLATFORM_OWNED_ANNOTATION} annotation)`), d.urn);
      }
    }
  },
};

export const tokenFromDeclaredAclToken: StackValidationPolicy = {
  name: "consul-token-from-declared-acl-token",
  description: "The pod's Consul token is a secret Secret of this stack from the ACL token it declares, or a login the stack's own binding rule gives its role.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const tokens = args.resources.filter((r) => r.type === TYPES.aclToken);
    const secrets = args.resources.filter((r) => r.type === TYPES.secret);
    const rules = args.resources.filter((r) => r.type === TYPES.aclBindingRule);
    for (const d of args.resources.filter((r) => r.type === TYPES.deployment)) {
      const main = mainContainer(d.props) ?? {};
      const method = envValue(main, "CONSUL_LOGIN_METHOD");
      if (method !== undefined) {
        if (!rules.some((r) => r.props.authMethod === method && r.props.selector === ownLoginSelector(d.props))) {
          reportViolation(fail(`${label(d)} logs in to Consul with auth method ${JSON.stringify(method)}, but the stack declares no binding rule of that method for its ServiceAccount`, "the login token's rights would be whatever other rules of that method give, unreviewed here", "declare the login with ConsulAccess (mogi:consul.authMethod)"), d.urn);
        }
        continue;
      }
      const tokenFile = (main.env ?? []).find((e: Props) => e.name === "CONSUL_HTTP_TOKEN_FILE")?.value;
      const mount = (main.volumeMounts ?? []).find((m: Props) => typeof tokenFile === "string" && tokenFile.startsWith(`${m.mountPath}/`));
      const volume = (podSpec(d.props).volumes ?? []).find((v: Props) => v.name === mount?.name);
      const secretName = volume?.secret?.secretName;
      const secret = secrets.find((s) => sameNamespace(s.props, d.props) && (s.props.metadata?.name === secretName || (s.props.metadata?.name === undefined && typeof secretName === "string" && secretName.startsWith(`${s.name}-`))));
      if (!tokenFile || !secret) {
        reportViolation(fail(`${label(d)} does not read its Consul token from a Secret of this stack`, "a token from elsewhere is not the least-privilege token this stack declares and rotates", "mount the token Secret the workload declares and point CONSUL_HTTP_TOKEN_FILE at it"), d.urn);
      } else if (tokens.length === 0) {
        reportViolation(fail(`${label(d)} reads a Consul token, but the stack declares no consul.AclToken`, "the token's rights would be unknown to review", "declare the token with ConsulAccess"), d.urn);
      }
    }
  },
};

export const keyPrefixClearOfLock: StackValidationPolicy = {
  name: "consul-keyprefix-clear-of-lock",
  description: "No consul.KeyPrefix covers a lock prefix (it would delete the lock key).",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const lockPrefixes = args.resources
      .filter((r) => r.type === TYPES.deployment)
      .flatMap((d) => containersOf(d.props).flatMap((c) => (c.env ?? []).filter((e: Props) => e.name === "CONSUL_LOCK_PREFIX").map((e: Props) => String(e.value))));
    for (const kp of args.resources.filter((r) => r.type === TYPES.keyPrefix)) {
      const prefix = String(kp.props.pathPrefix ?? "").replace(/\/+$/, "");
      const covered = lockPrefixes.filter((lock) => prefix === "" || kvPrefixesOverlap(prefix, lock));
      if (covered.length) {
        reportViolation(fail(`KeyPrefix ${kp.name} (${JSON.stringify(kp.props.pathPrefix)}) covers the lock prefix ${covered.join(", ")}`, "KeyPrefix owns its whole prefix and deletes keys it does not manage, including <prefix>/.lock", "write configuration with consul.Keys under a prefix disjoint from the lock"), kp.urn);
      }
    }
  },
};

export const resourcePolicies: ResourceValidationPolicy[] = [
  oneReplica, recreateStrategy, runsUnderLock, wrapperExecutable, realConsulAnnotations, serviceAccountIsService, lockBypassesSidecar,
  noLiteralSecrets, restrictedSecurityContext, validNames, aclLeastPrivilege, imagePinned, resourceLimits, ephemeralStorageLimits, emptyDirSizeLimit,
  ...podResourcePolicies, networkPolicyNotOpen,
];
export const stackPolicies: StackValidationPolicy[] = [
  pdbAndService, networkPolicyDeclared, tokenFromDeclaredAclToken, keyPrefixClearOfLock, ...podStackPolicies, consulAclOwnPrefixesOnly,
];
export const allPolicies = [...resourcePolicies, ...stackPolicies];
