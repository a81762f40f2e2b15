/**
 * What a SingletonWorkload is given: its arguments with their documented defaults, and the
 * validation that runs before any resource is declared (bad input declares nothing).
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { assertBaseName, assertName } from "./naming";
import { authMethodNameProblem, sessionNodePrefixProblem } from "./consulAcl";
import { assertKvPrefix, prefixOverlapProblem } from "./consulKv";
import { LockWrapperEnv, MogiFencingEnv } from "./lockWrapper";
import { NetworkPolicyArgs, networkPolicyProblems, PlatformOwnedNetworkPolicy } from "./networkPolicy";

type Input<T> = pulumi.Input<T>;
type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;

/** Official Consul image the `consul` binary is copied from; pinned, never `latest`. */
export const DEFAULT_CONSUL_IMAGE = "hashicorp/consul:1.21.3";
/** Where the official image keeps the binary (hashicorp/consul, build-support/docker). */
export const CONSUL_BINARY_IN_IMAGE = "/bin/consul";

/**
 * Grace period floor. On SIGTERM `consul lock` gives the child 5 s before SIGKILL and then
 * releases the lock; a pod still waiting for the lock notices SIGTERM only between 15 s blocking
 * queries (hashicorp/consul#4439). 30 s covers both with margin.
 */
export const MIN_TERMINATION_GRACE_SECONDS = 30;

export const DEFAULT_PORT = 8080;
export const DEFAULT_HEALTH_PATH = "/health";

/**
 * How long the pod stays bound to a node that stopped reporting (NoExecute tolerations for
 * `node.kubernetes.io/unreachable` and `not-ready`). Kubernetes' default is 300 s (the
 * DefaultTolerationSeconds admission plugin), which keeps Mogi away for 5 minutes after a node
 * loss. A short time is safe here because exclusion comes from the lock, not from Kubernetes: the
 * replacement waits for the fence key, which the lost holder's session gives up with the lock-delay
 * (components/scripts/README.md).
 */
export const DEFAULT_NODE_LOSS_TOLERATION_SECONDS = 10;
export const MAX_NODE_LOSS_TOLERATION_SECONDS = 300;

/**
 * Readiness period: a new holder gets traffic (and `pulumi up`'s Deployment await ends) within
 * this long of Mogi answering, and a holder that stopped Mogi loses its endpoint within 3 periods
 * (failureThreshold). The first probe runs as the container starts, before Mogi can answer (the
 * wrapper takes the lock first), so a fresh pod is Ready at the second probe: 2 s here, 5 s at
 * the earlier period. One HTTP GET every 2 s to one pod is nothing to a kubelet.
 */
export const READINESS_PERIOD_SECONDS = 2;

export const DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "1", memory: "256Mi" },
};
export const INIT_RESOURCES: ResourceRequirements = {
  requests: { cpu: "10m", memory: "32Mi" },
  limits: { cpu: "200m", memory: "64Mi" },
};

/** Where the CA that signs Consul's HTTPS certificate comes from, when Consul speaks TLS. */
export type ConsulCaSource =
  /** PEM text: the component declares a ConfigMap holding it (a CA certificate is not secret). */
  | { pem: Input<string> }
  /** An existing ConfigMap or Secret in the workload's namespace. */
  | { existing: { kind: "ConfigMap" | "Secret"; name: string; key: string } };

export interface ConsulLockArgs {
  /** Consul's HTTP API as the pod reaches it, e.g. `http://consul-server.consul.svc:8500`. */
  httpAddr: string;
  /** KV prefix of the lock; `consul lock` holds `<prefix>/.lock`. Must be unique per cluster. */
  lockPrefix: string;
  /**
   * The Consul ACL token's secret ID. Written to a Secret and mounted as a file, never an env
   * literal. Give this or `login`, not both.
   */
  token?: Input<string>;
  /**
   * Log in instead of holding a static token: the wrapper exchanges the pod's projected
   * service-account token for a Consul token with `consul login` against this auth method (type
   * kubernetes), and logs it out when the container ends. The stack binds its policy to
   * the pod's ServiceAccount through a role (ConsulAccess `login`). Give this or `token`.
   */
  login?: { authMethod: string };
  /** KV prefix Mogi reads its configuration from, given to it as `MOGI_CONSUL_CONFIG_PREFIX`. Default: none. */
  configPrefix?: string;
  /** CA for `https` addresses. Required when `httpAddr` is https, refused otherwise. */
  ca?: ConsulCaSource;
  /**
   * The node-name prefix the token's session and agent rules are limited to (ConsulAccess'
   * `sessionNodePrefix`), stated on the Deployment for reviewers and the policy pack. Default: none.
   */
  sessionNodePrefix?: string;
  /**
   * Where `consul` comes from. Default `{ image: DEFAULT_CONSUL_IMAGE }`: an init container copies
   * the binary into an emptyDir the wrapper puts on PATH. `"app-image"` when the app image has it.
   */
  binary?: { image: string } | "app-image";
}

export interface SingletonWorkloadArgs {
  /**
   * Base name: names the Deployment, PDB, container, and (because consul-k8s requires both to
   * equal the Consul service name when ACLs are on) the Service, ServiceAccount and Consul service.
   * A DNS-1035 label.
   */
  name: string;
  /** Namespace of every object. */
  namespace: string;
  /** Declare the Namespace in this stack. Default true; false when the cluster's owners provide it. */
  createNamespace?: boolean;
  /** `app.kubernetes.io/instance`. Default: `name`. */
  instance?: string;
  /** `app.kubernetes.io/part-of`. Default: `name`. */
  partOf?: string;
  /** Mogi's image, pinned to a tag or digest. */
  image: Input<string>;
  /** Mogi's command and arguments, run by `consul lock` as its child (no shell). */
  command: string[];
  /** Extra plain environment for Mogi; names used by the wrapper are refused. Default: none. */
  env?: Record<string, string>;
  /** Mogi's HTTP port. Default `DEFAULT_PORT` (8080). */
  port?: number;
  /** Readiness path; it also becomes Consul's health check. Default `DEFAULT_HEALTH_PATH` (`/health`). */
  healthPath?: string;
  /**
   * Mogi container's resources. Default `DEFAULT_RESOURCES`. The component adds ephemeral-storage
   * requests and limits sized from the pod's volumes (podStorage.ts) unless these set them.
   */
  resources?: ResourceRequirements;
  /** PodDisruptionBudget: 1 lets a drain evict the pod (graceful hand-over), 0 blocks voluntary evictions. */
  maxUnavailable: 0 | 1;
  /** Seconds between SIGTERM and SIGKILL. Default and minimum `MIN_TERMINATION_GRACE_SECONDS`. */
  terminationGracePeriodSeconds?: number;
  /**
   * Seconds the pod tolerates its node being unreachable or not ready before taint eviction
   * replaces it. Default `DEFAULT_NODE_LOSS_TOLERATION_SECONDS` (10); 0 to `MAX_NODE_LOSS_TOLERATION_SECONDS` (300).
   */
  nodeLossTolerationSeconds?: number;
  /**
   * Fixed UID for every container. Default: unset, as OpenShift's restricted-v2 assigns one
   * from the namespace range and refuses others; set it on clusters that assign none.
   */
  runAsUser?: number;
  /** The Consul lock Mogi runs under. */
  consul: ConsulLockArgs;
  /** Register the pod in Consul through consul-k8s' connect injector. Default true. */
  connectInject?: boolean;
  /**
   * The cluster's consul-k8s redirects traffic with its CNI plugin (`connectInject.cni.enabled`).
   * Default false: the pod turns transparent proxy off, because without the CNI consul-k8s
   * injects a root init container with NET_ADMIN (privileged on OpenShift), which Pod Security
   * `restricted` and OpenShift's restricted-v2 refuse (components/README.md).
   */
  consulCni?: boolean;
  /** `consul.hashicorp.com/service-tags`. Default: none. */
  serviceTags?: string[];
  /** `consul.hashicorp.com/service-meta-<key>` for each entry. Default: none. */
  serviceMeta?: Record<string, string>;
  /** Extra pod labels (selector labels cannot be overridden). Default: none. */
  podLabels?: Record<string, string>;
  /** Extra pod annotations (`consul.hashicorp.com/*` is reserved for the ones above). Default: none. */
  podAnnotations?: Record<string, string>;
  /**
   * Mogi's root filesystem read-only; /tmp stays writable (an emptyDir of 64 MiB, `TMPDIR`).
   * Default true; false for an image that writes elsewhere.
   */
  readOnlyRootFilesystem?: boolean;
  /** The pod's NetworkPolicy (networkPolicy.ts), or `{ platformOwned: <reason> }` to declare none. */
  networkPolicy: NetworkPolicyArgs | PlatformOwnedNetworkPolicy;
}

/** Environment the component sets for the wrapper and Mogi; `env` may not override it. */
export const RESERVED_ENV: readonly string[] = [...Object.values(LockWrapperEnv), "CONSUL_HTTP_TOKEN", "MOGI_CONSUL_CONFIG_PREFIX", "MOGI_FENCE_KEY", ...Object.values(MogiFencingEnv), "TMPDIR"];

export const CONSUL_ANNOTATION_PREFIX = "consul.hashicorp.com/";
const CONSUL_ADDR = /^(https?):\/\/[^/\s]+$/;

/** Checks everything that does not need a resource, so that nothing is declared on bad input. */
export function validateWorkloadArgs(args: SingletonWorkloadArgs): void {
  assertBaseName("name", args.name);
  assertName("namespace", args.namespace, "dns1123-label");
  if (args.instance !== undefined) assertName("instance", args.instance, "dns1123-label");
  if (args.command.length === 0) throw new Error("command: Mogi's command must have at least one element");
  const port = args.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port: ${port} is not a port number (1-65535)`);
  const healthPath = args.healthPath ?? DEFAULT_HEALTH_PATH;
  if (!healthPath.startsWith("/")) throw new Error(`healthPath: ${JSON.stringify(healthPath)} must start with '/'`);
  if (args.maxUnavailable !== 0 && args.maxUnavailable !== 1) {
    throw new Error(`maxUnavailable: ${String(args.maxUnavailable)} is not allowed; use 1 (drains evict the pod) or 0 (voluntary evictions blocked)`);
  }
  const grace = args.terminationGracePeriodSeconds ?? MIN_TERMINATION_GRACE_SECONDS;
  if (!Number.isInteger(grace) || grace < MIN_TERMINATION_GRACE_SECONDS) {
    throw new Error(`terminationGracePeriodSeconds: ${grace} is below ${MIN_TERMINATION_GRACE_SECONDS}; the lock hand-over needs the child's 5 s plus a waiter's 15 s blocking query`);
  }
  const toleration = args.nodeLossTolerationSeconds ?? DEFAULT_NODE_LOSS_TOLERATION_SECONDS;
  if (!Number.isInteger(toleration) || toleration < 0 || toleration > MAX_NODE_LOSS_TOLERATION_SECONDS) {
    throw new Error(`nodeLossTolerationSeconds: ${toleration} must be a whole number of seconds from 0 to ${MAX_NODE_LOSS_TOLERATION_SECONDS}`);
  }
  if (args.runAsUser !== undefined && (!Number.isInteger(args.runAsUser) || args.runAsUser < 1)) {
    throw new Error(`runAsUser: ${args.runAsUser} must be a positive integer (0 is root, which the restricted profile refuses)`);
  }
  const clash = Object.keys(args.env ?? {}).filter((k) => RESERVED_ENV.includes(k));
  if (clash.length > 0) throw new Error(`env: ${clash.join(", ")} are set by the component for the lock wrapper; remove them`);
  const ownAnnotations = Object.keys(args.podAnnotations ?? {}).filter((k) => k.startsWith(CONSUL_ANNOTATION_PREFIX));
  if (ownAnnotations.length > 0) {
    throw new Error(`podAnnotations: ${ownAnnotations.join(", ")} are reserved; use connectInject, consulCni, serviceTags and serviceMeta`);
  }
  const consul = args.consul;
  assertKvPrefix("consul.lockPrefix", consul.lockPrefix);
  if (consul.configPrefix !== undefined) {
    assertKvPrefix("consul.configPrefix", consul.configPrefix);
    const overlap = prefixOverlapProblem(consul.lockPrefix, consul.configPrefix);
    if (overlap) throw new Error(`consul.configPrefix: ${overlap}`);
  }
  if ((consul.token === undefined) === (consul.login === undefined)) throw new Error("consul: give either token (a static ACL token) or login (an auth method), exactly one");
  const methodProblem = consul.login && authMethodNameProblem(consul.login.authMethod);
  if (methodProblem) throw new Error(`consul.login.authMethod: ${JSON.stringify(consul.login?.authMethod)} ${methodProblem}`);
  const nodeProblem = consul.sessionNodePrefix === undefined ? undefined : sessionNodePrefixProblem(consul.sessionNodePrefix);
  if (nodeProblem) throw new Error(`consul.sessionNodePrefix: ${JSON.stringify(consul.sessionNodePrefix)} ${nodeProblem}`);
  const scheme = CONSUL_ADDR.exec(consul.httpAddr)?.[1];
  if (!scheme) throw new Error(`consul.httpAddr: ${JSON.stringify(consul.httpAddr)} must be http://host:port or https://host:port`);
  if (scheme === "https" && !consul.ca) throw new Error("consul.ca: required when consul.httpAddr is https (CONSUL_CACERT must point at the CA)");
  if (scheme === "http" && consul.ca) throw new Error("consul.ca: given, but consul.httpAddr is http; use an https address or drop the CA");
  const networkProblems = networkPolicyProblems(args.networkPolicy);
  if (networkProblems.length > 0) throw new Error(networkProblems.join("; "));
}
