/**
 * SingletonWorkload: everything Kubernetes needs to run one process as the single active
 * instance of a cluster, under a Consul lock.
 *
 * Kubernetes alone does not give "at most one": `strategy: Recreate` only orders pods during a
 * rollout, and a deleted or evicted pod's replacement starts while the old one is still
 * terminating (FACTS.md, Kubernetes). The container therefore runs the service under
 * `consul lock` through the wrapper in `scripts/consul-lock-wrapper.sh`; the objects below make
 * that wrapper run the way the lock's guarantees assume.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { assertBaseName, assertName, selectorLabels, standardLabels } from "./naming";
import { assertKvPrefix, prefixOverlapProblem } from "./consulKv";
import { CONSUL_RETRY_SECONDS, consulAddrPort, LOCK_WRAPPER_FILE, LOCK_WRAPPER_SCRIPT, LockWrapperEnv, lockKey } from "./lockWrapper";

type Input<T> = pulumi.Input<T>;
type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;

/** Official Consul image the `consul` binary is copied from; pinned, never `latest`. */
export const DEFAULT_CONSUL_IMAGE = "hashicorp/consul:1.21.3";
/** Where the official image keeps the binary (hashicorp/consul, build-support/docker). */
const CONSUL_BINARY_IN_IMAGE = "/bin/consul";

/**
 * Grace period floor. On SIGTERM `consul lock` gives the child 5 s before SIGKILL and then
 * releases the lock; a pod still waiting for the lock notices SIGTERM only between 15 s blocking
 * queries (hashicorp/consul#4439). 30 s covers both with margin.
 */
export const MIN_TERMINATION_GRACE_SECONDS = 30;

export const DEFAULT_PORT = 8080;
export const DEFAULT_HEALTH_PATH = "/health";

/** Readiness period: a new holder gets traffic within this long of taking the lock. */
export const READINESS_PERIOD_SECONDS = 5;

export const DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "1", memory: "256Mi" },
};
const INIT_RESOURCES: ResourceRequirements = {
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
  /** The Consul ACL token's secret ID. Written to a Secret and mounted as a file, never an env literal. */
  token: Input<string>;
  /** KV prefix Mogi reads its configuration from, given to it as `MOGI_CONSUL_CONFIG_PREFIX`. Default: none. */
  configPrefix?: string;
  /** CA for `https` addresses. Required when `httpAddr` is https, refused otherwise. */
  ca?: ConsulCaSource;
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
  /** Mogi container's resources. Default `DEFAULT_RESOURCES`. */
  resources?: ResourceRequirements;
  /** PodDisruptionBudget: 1 lets a drain evict the pod (graceful hand-over), 0 blocks voluntary evictions. */
  maxUnavailable: 0 | 1;
  /** Seconds between SIGTERM and SIGKILL. Default and minimum `MIN_TERMINATION_GRACE_SECONDS`. */
  terminationGracePeriodSeconds?: number;
  /**
   * Fixed UID for every container. Default: unset, as OpenShift's restricted-v2 assigns one
   * from the namespace range and refuses others; set it on clusters that assign none.
   */
  runAsUser?: number;
  /** The Consul lock Mogi runs under. */
  consul: ConsulLockArgs;
  /** Register the pod in Consul through consul-k8s' connect injector. Default true. */
  connectInject?: boolean;
  /** `consul.hashicorp.com/service-tags`. Default: none. */
  serviceTags?: string[];
  /** `consul.hashicorp.com/service-meta-<key>` for each entry. Default: none. */
  serviceMeta?: Record<string, string>;
  /** Extra pod labels (selector labels cannot be overridden). Default: none. */
  podLabels?: Record<string, string>;
  /** Extra pod annotations (`consul.hashicorp.com/*` is reserved for the ones above). Default: none. */
  podAnnotations?: Record<string, string>;
}

/** Environment the component sets for the wrapper and Mogi; `env` may not override it. */
export const RESERVED_ENV: readonly string[] = [...Object.values(LockWrapperEnv), "CONSUL_HTTP_TOKEN", "MOGI_CONSUL_CONFIG_PREFIX", "MOGI_LOCK_KEY"];

/** Paths inside the pod. */
const MOUNT = {
  wrapper: "/opt/consul-lock",
  consulBin: "/opt/consul-bin",
  token: "/var/run/secrets/consul",
  ca: "/etc/consul-ca",
} as const;
const TOKEN_KEY = "token";
const CA_FILE = "ca.pem";
/** ConfigMap volumes default to 0644, which is not executable (FACTS.md); 0555 is read+execute for any UID. */
const EXECUTABLE_MODE = 0o555;
const CONSUL_ANNOTATION_PREFIX = "consul.hashicorp.com/";
/** Comma-separated outbound ports the sidecar does not intercept (consul-k8s, annotations_and_labels.go). */
export const TPROXY_EXCLUDE_OUTBOUND_PORTS = `${CONSUL_ANNOTATION_PREFIX}transparent-proxy-exclude-outbound-ports`;
const CONSUL_ADDR = /^(https?):\/\/[^/\s]+$/;

/** Checks everything that does not need a resource, so that nothing is declared on bad input. */
function validate(args: SingletonWorkloadArgs): void {
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
  if (args.runAsUser !== undefined && (!Number.isInteger(args.runAsUser) || args.runAsUser < 1)) {
    throw new Error(`runAsUser: ${args.runAsUser} must be a positive integer (0 is root, which the restricted profile refuses)`);
  }
  const clash = Object.keys(args.env ?? {}).filter((k) => RESERVED_ENV.includes(k));
  if (clash.length > 0) throw new Error(`env: ${clash.join(", ")} are set by the component for the lock wrapper; remove them`);
  const ownAnnotations = Object.keys(args.podAnnotations ?? {}).filter((k) => k.startsWith(CONSUL_ANNOTATION_PREFIX));
  if (ownAnnotations.length > 0) {
    throw new Error(`podAnnotations: ${ownAnnotations.join(", ")} are reserved; use connectInject, serviceTags and serviceMeta`);
  }
  const consul = args.consul;
  assertKvPrefix("consul.lockPrefix", consul.lockPrefix);
  if (consul.configPrefix !== undefined) {
    assertKvPrefix("consul.configPrefix", consul.configPrefix);
    const overlap = prefixOverlapProblem(consul.lockPrefix, consul.configPrefix);
    if (overlap) throw new Error(`consul.configPrefix: ${overlap}`);
  }
  const scheme = CONSUL_ADDR.exec(consul.httpAddr)?.[1];
  if (!scheme) throw new Error(`consul.httpAddr: ${JSON.stringify(consul.httpAddr)} must be http://host:port or https://host:port`);
  if (scheme === "https" && !consul.ca) throw new Error("consul.ca: required when consul.httpAddr is https (CONSUL_CACERT must point at the CA)");
  if (scheme === "http" && consul.ca) throw new Error("consul.ca: given, but consul.httpAddr is http; use an https address or drop the CA");
}

/** The restricted Pod Security profile, as OpenShift's restricted-v2 also requires (FACTS.md). */
function restrictedSecurityContext(readOnlyRootFilesystem: boolean): k8s.types.input.core.v1.SecurityContext {
  return {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
    readOnlyRootFilesystem,
  };
}

export class SingletonWorkload extends pulumi.ComponentResource {
  /** Namespace name (resolves after the Namespace exists when the stack owns it). */
  readonly namespace: pulumi.Output<string>;
  readonly deploymentName: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;
  /** Lock prefix and the key `consul lock` holds. */
  readonly lockPrefix: string;
  readonly lockKey: string;

  constructor(resourceName: string, args: SingletonWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    validate(args);
    super("mogi:components:SingletonWorkload", resourceName, {}, opts);
    const parent = { parent: this };
    const name = args.name;
    const port = args.port ?? DEFAULT_PORT;
    const consul = args.consul;
    const labelArgs = { name, instance: args.instance ?? name, component: "singleton", partOf: args.partOf ?? name };
    const labels = standardLabels(labelArgs);
    const selector = selectorLabels(labelArgs);

    const namespace =
      args.createNamespace ?? true
        ? new k8s.core.v1.Namespace(`${resourceName}-namespace`, { metadata: { name: args.namespace, labels } }, parent).metadata.name
        : pulumi.output(args.namespace);
    const meta = (objectName?: string) => ({ name: objectName, namespace, labels });

    // consul-k8s requires, with ACLs on, a Service selecting the pod and a ServiceAccount named
    // like the Consul service (FACTS.md, consul-k8s): both carry the base name.
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${resourceName}-service-account`, { metadata: meta(name) }, parent);
    const service = new k8s.core.v1.Service(
      `${resourceName}-service`,
      { metadata: meta(name), spec: { selector, ports: [{ name: "http", port, targetPort: "http", protocol: "TCP" }] } },
      parent,
    );

    // Auto-named (no metadata.name): a new script replaces the ConfigMap under a new name, which
    // changes the pod template and so rolls the pod (pulumi-kubernetes#1567, FACTS.md).
    const wrapper = new k8s.core.v1.ConfigMap(
      `${resourceName}-lock-wrapper`,
      { metadata: meta(), data: { [LOCK_WRAPPER_FILE]: LOCK_WRAPPER_SCRIPT } },
      parent,
    );
    // Auto-named for the same reason: a new token must restart `consul lock`, which reads it at start.
    const token = new k8s.core.v1.Secret(
      `${resourceName}-consul-token`,
      { metadata: meta(), type: "Opaque", stringData: { [TOKEN_KEY]: pulumi.secret(consul.token) } },
      parent,
    );

    const volumes: k8s.types.input.core.v1.Volume[] = [
      { name: "lock-wrapper", configMap: { name: wrapper.metadata.name, defaultMode: EXECUTABLE_MODE } },
      { name: "consul-token", secret: { secretName: token.metadata.name } },
    ];
    const mounts: k8s.types.input.core.v1.VolumeMount[] = [
      { name: "lock-wrapper", mountPath: MOUNT.wrapper, readOnly: true },
      { name: "consul-token", mountPath: MOUNT.token, readOnly: true },
    ];
    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: LockWrapperEnv.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: LockWrapperEnv.httpAddr, value: consul.httpAddr },
      { name: LockWrapperEnv.tokenFile, value: `${MOUNT.token}/${TOKEN_KEY}` },
      { name: LockWrapperEnv.lockPrefix, value: consul.lockPrefix },
      { name: LockWrapperEnv.retrySeconds, value: String(CONSUL_RETRY_SECONDS) },
    ];

    if (consul.ca) {
      const source = "pem" in consul.ca
        ? { kind: "ConfigMap" as const, key: CA_FILE, name: new k8s.core.v1.ConfigMap(`${resourceName}-consul-ca`, { metadata: meta(), data: { [CA_FILE]: consul.ca.pem } }, parent).metadata.name }
        : consul.ca.existing;
      const items = [{ key: source.key, path: CA_FILE }];
      volumes.push(source.kind === "ConfigMap"
        ? { name: "consul-ca", configMap: { name: source.name, items } }
        : { name: "consul-ca", secret: { secretName: source.name, items } });
      mounts.push({ name: "consul-ca", mountPath: MOUNT.ca, readOnly: true });
      env.push({ name: LockWrapperEnv.caCert, value: `${MOUNT.ca}/${CA_FILE}` });
    }

    const binary = consul.binary ?? { image: DEFAULT_CONSUL_IMAGE };
    const initContainers: k8s.types.input.core.v1.Container[] = [];
    if (binary !== "app-image") {
      volumes.push({ name: "consul-bin", emptyDir: { sizeLimit: "256Mi" } });
      mounts.push({ name: "consul-bin", mountPath: MOUNT.consulBin, readOnly: true });
      env.push({ name: LockWrapperEnv.binDir, value: MOUNT.consulBin });
      initContainers.push({
        name: "install-consul",
        image: binary.image,
        command: ["cp", CONSUL_BINARY_IN_IMAGE, `${MOUNT.consulBin}/consul`],
        volumeMounts: [{ name: "consul-bin", mountPath: MOUNT.consulBin }],
        securityContext: restrictedSecurityContext(true),
        resources: INIT_RESOURCES,
      });
    }
    if (consul.configPrefix !== undefined) env.push({ name: "MOGI_CONSUL_CONFIG_PREFIX", value: consul.configPrefix });
    // Where Mogi reads its fencing token: the lock key's ModifyIndex while its own session holds it
    // (README, "Fencing"). `consul lock` tells its child only CONSUL_LOCK_HELD, not the key.
    env.push({ name: "MOGI_LOCK_KEY", value: lockKey(consul.lockPrefix) });
    for (const [key, value] of Object.entries(args.env ?? {}).sort(([a], [b]) => a.localeCompare(b))) env.push({ name: key, value });

    const connectInject = args.connectInject ?? true;
    const consulAnnotations: Record<string, string> = { [`${CONSUL_ANNOTATION_PREFIX}connect-inject`]: String(connectInject) };
    if (connectInject) {
      consulAnnotations[`${CONSUL_ANNOTATION_PREFIX}connect-service`] = name;
      consulAnnotations[`${CONSUL_ANNOTATION_PREFIX}connect-service-port`] = String(port);
      // consul-k8s turns transparent proxy on by default: without this, `consul lock`'s traffic to
      // the servers goes through the Envoy sidecar, which may not listen yet when the lock is
      // requested and may be gone before it is released on SIGTERM (FACTS.md, "Real clusters").
      consulAnnotations[TPROXY_EXCLUDE_OUTBOUND_PORTS] = consulAddrPort(consul.httpAddr) as string; // validated above
      if (args.serviceTags?.length) consulAnnotations[`${CONSUL_ANNOTATION_PREFIX}service-tags`] = args.serviceTags.join(",");
      for (const [key, value] of Object.entries(args.serviceMeta ?? {})) consulAnnotations[`${CONSUL_ANNOTATION_PREFIX}service-meta-${key}`] = value;
    }

    const deployment = new k8s.apps.v1.Deployment(
      `${resourceName}-deployment`,
      {
        metadata: meta(name),
        spec: {
          // One replica and Recreate: a rollout never starts the new pod before the old one is gone.
          // Deletions and evictions still overlap; the Consul lock covers those.
          replicas: 1,
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          template: {
            // consul-k8s reads annotations on the pod only (its webhook sees pods/CREATE).
            metadata: { labels: { ...args.podLabels, ...labels }, annotations: { ...args.podAnnotations, ...consulAnnotations } },
            spec: {
              serviceAccountName: serviceAccount.metadata.name,
              terminationGracePeriodSeconds: args.terminationGracePeriodSeconds ?? MIN_TERMINATION_GRACE_SECONDS,
              securityContext: { runAsNonRoot: true, runAsUser: args.runAsUser, seccompProfile: { type: "RuntimeDefault" } },
              initContainers,
              containers: [
                {
                  name,
                  image: args.image,
                  // The wrapper execs `consul lock`, which runs Mogi's command as its child.
                  command: [`${MOUNT.wrapper}/${LOCK_WRAPPER_FILE}`],
                  args: args.command,
                  env,
                  ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
                  // Only the lock holder runs Mogi, so only it is ready: the Service and Consul
                  // route to it alone. No liveness probe: it would restart a pod waiting for the lock.
                  readinessProbe: {
                    httpGet: { path: args.healthPath ?? DEFAULT_HEALTH_PATH, port: "http" },
                    periodSeconds: READINESS_PERIOD_SECONDS,
                    failureThreshold: 3,
                  },
                  volumeMounts: mounts,
                  securityContext: restrictedSecurityContext(false),
                  resources: args.resources ?? DEFAULT_RESOURCES,
                },
              ],
              volumes,
            },
          },
        },
      },
      parent,
    );

    new k8s.policy.v1.PodDisruptionBudget(
      `${resourceName}-pdb`,
      {
        metadata: meta(name),
        spec: {
          selector: { matchLabels: selector },
          maxUnavailable: args.maxUnavailable,
          // A not-ready pod (one waiting out a dead holder's session, or crash-looping) may still be
          // evicted; with maxUnavailable 0 a drain would otherwise wait on it forever.
          unhealthyPodEvictionPolicy: "AlwaysAllow",
        },
      },
      parent,
    );

    this.namespace = namespace;
    this.deploymentName = deployment.metadata.name;
    this.serviceName = service.metadata.name;
    this.lockPrefix = consul.lockPrefix;
    this.lockKey = lockKey(consul.lockPrefix);
    this.registerOutputs({
      namespace: this.namespace,
      deploymentName: this.deploymentName,
      serviceName: this.serviceName,
      lockPrefix: this.lockPrefix,
      lockKey: this.lockKey,
    });
  }
}
