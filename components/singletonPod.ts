/**
 * The pod a SingletonWorkload's Deployment runs: Mogi's container under the lock wrapper, the
 * files the wrapper needs mounted where it expects them, the environment it reads, the consul-k8s
 * annotations, probes and security context. Every choice here is one the lock's guarantees
 * assume (FACTS.md); the component declares the objects this pod refers to.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { CONSUL_RETRY_SECONDS, consulAddrPort, fenceKey, LOCK_WRAPPER_FILE, LockWrapperEnv } from "./lockWrapper";
import { FENCE_SECONDS, LOCK_CHECK_SECONDS, LOCK_DEADLINE_SECONDS, MOGI_GRACE_SECONDS } from "./lockTiming";
import { EMPTY_DIR_SIZE_LIMITS, INIT_CONTAINER_STORAGE, mainContainerStorage, withEphemeralStorage } from "./podStorage";
import {
  CONSUL_ANNOTATION_PREFIX, CONSUL_BINARY_IN_IMAGE, DEFAULT_CONSUL_IMAGE, DEFAULT_HEALTH_PATH, DEFAULT_NODE_LOSS_TOLERATION_SECONDS, DEFAULT_PORT,
  DEFAULT_RESOURCES, INIT_RESOURCES, MIN_TERMINATION_GRACE_SECONDS, READINESS_PERIOD_SECONDS, SingletonWorkloadArgs,
} from "./singletonWorkloadArgs";

type Input<T> = pulumi.Input<T>;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Container = k8s.types.input.core.v1.Container;

/** Paths inside the pod. */
const MOUNT = {
  wrapper: "/opt/consul-lock",
  consulBin: "/opt/consul-bin",
  token: "/var/run/secrets/consul",
  // Where Kubernetes mounts a service-account token, and the one path consul-k8s' webhook looks
  // for one (control-plane/connect-inject/webhook/mesh_webhook.go `findServiceAccountVolumeMount`).
  serviceAccountToken: "/var/run/secrets/kubernetes.io/serviceaccount",
  ca: "/etc/consul-ca",
  lockState: "/run/consul-lock",
  tmp: "/tmp",
} as const;
/** Taints the node-lifecycle controller puts on a node that stopped reporting (taint-based eviction). */
const NODE_LOSS_TAINTS = ["node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"];
/**
 * Lifetime the pod asks for its projected service-account token: the shortest the API server
 * issues (TokenRequest's minimum, 10 min). The kubelet replaces the file at 80% of it, so the
 * token read at a login or a sidecar's start is always valid, and a copy taken out of the pod
 * is useless within 10 minutes. Not 3607: the API server may stretch that one to a year
 * (`--service-account-extend-token-expiration`).
 */
export const SERVICE_ACCOUNT_TOKEN_SECONDS = 600;
/** On the Deployment: why the pod mounts a service-account token (the policy pack's no-service-account-token). */
export const SERVICE_ACCOUNT_TOKEN_ANNOTATION = "mogi/service-account-token";
/** Key of the token in its Secret; of the CA in the ConfigMap the component declares for PEM text. */
export const TOKEN_KEY = "token";
export const CA_FILE = "ca.pem";
/** ConfigMap volumes default to 0644, which is not executable (FACTS.md); 0555 is read+execute for any UID. */
const EXECUTABLE_MODE = 0o555;
/** Comma-separated outbound ports the sidecar does not intercept (consul-k8s, annotations_and_labels.go). */
export const TPROXY_EXCLUDE_OUTBOUND_PORTS = `${CONSUL_ANNOTATION_PREFIX}transparent-proxy-exclude-outbound-ports`;
/** Turns consul-k8s' transparent proxy on or off for the pod, over its namespace label and global default (common.go). */
export const TRANSPARENT_PROXY = `${CONSUL_ANNOTATION_PREFIX}transparent-proxy`;

/** The objects the pod refers to by name, declared by the component. */
export interface PodObjects {
  serviceAccountName: Input<string>;
  /** ConfigMap holding the wrapper script. */
  wrapperConfigMap: Input<string>;
  /** Secret holding the Consul token under TOKEN_KEY; absent when the pod logs in instead. */
  tokenSecret?: Input<string>;
  /** Where Consul's CA is, for https. */
  ca?: { kind: "ConfigMap" | "Secret"; name: Input<string>; key: string };
}

/** The namespace label under which the API server's PodSecurity admission enforces the profile below. */
export const POD_SECURITY_RESTRICTED = { "pod-security.kubernetes.io/enforce": "restricted" } as const;

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

/** consul-k8s registration, on the pod (its webhook sees pods/CREATE only). */
function consulAnnotations(args: SingletonWorkloadArgs): Record<string, string> {
  const connectInject = args.connectInject ?? true;
  const annotations: Record<string, string> = { [`${CONSUL_ANNOTATION_PREFIX}connect-inject`]: String(connectInject) };
  if (!connectInject) return annotations;
  annotations[`${CONSUL_ANNOTATION_PREFIX}connect-service`] = args.name;
  annotations[`${CONSUL_ANNOTATION_PREFIX}connect-service-port`] = String(args.port ?? DEFAULT_PORT);
  // consul-k8s turns transparent proxy on by default: without this, `consul lock`'s traffic to
  // the servers goes through the Envoy sidecar, which may not listen yet when the lock is
  // requested and may be gone before it is released on SIGTERM (FACTS.md, "Real clusters").
  annotations[TPROXY_EXCLUDE_OUTBOUND_PORTS] = consulAddrPort(args.consul.httpAddr) as string; // validated by the component
  // Without the Consul CNI, consul-k8s sets up transparent proxy with an init container running
  // as root with NET_ADMIN (privileged on OpenShift), which `restricted` and restricted-v2 refuse;
  // with it off, every injected container is admitted (components/README.md, "The pod").
  if (!(args.consulCni ?? false)) annotations[TRANSPARENT_PROXY] = "false";
  if (args.serviceTags?.length) annotations[`${CONSUL_ANNOTATION_PREFIX}service-tags`] = args.serviceTags.join(",");
  for (const [key, value] of Object.entries(args.serviceMeta ?? {})) annotations[`${CONSUL_ANNOTATION_PREFIX}service-meta-${key}`] = value;
  return annotations;
}

/**
 * Why the pod needs its service-account token, or undefined when it does not (then it has none).
 * - consul-k8s' webhook, with its ACLs on, refuses to inject a pod none of whose containers mounts
 *   one at MOUNT.serviceAccountToken: its init container and sidecar log in with it
 *   (container_init.go:74-90, consul_dataplane_sidecar.go:37; the webhook's failurePolicy is Fail,
 *   so the pod would not be created at all). The stack cannot see whether ACLs are on, and the
 *   lock needs them, so connect injection always gets it.
 * - The wrapper's `consul login` presents it.
 */
export function serviceAccountTokenReason(args: SingletonWorkloadArgs): string | undefined {
  const reasons: string[] = [];
  if (args.consul.login) reasons.push(`the lock wrapper logs in to Consul with it (auth method ${args.consul.login.authMethod})`);
  if (args.connectInject ?? true) reasons.push("consul-k8s' connect injection logs in with it when Consul's ACLs are on");
  return reasons.length > 0 ? `${reasons.join("; ")}; only the token, for ${SERVICE_ACCOUNT_TOKEN_SECONDS} s, and the ServiceAccount has no Kubernetes role` : undefined;
}

/** The Deployment's pod template, with the component's labels. */
export function singletonPodTemplate(args: SingletonWorkloadArgs, labels: Record<string, string>, objects: PodObjects): k8s.types.input.core.v1.PodTemplateSpec {
  const consul = args.consul;
  const port = args.port ?? DEFAULT_PORT;
  const volumes: Volume[] = [
    { name: "lock-wrapper", configMap: { name: objects.wrapperConfigMap, defaultMode: EXECUTABLE_MODE } },
    { name: "lock-state", emptyDir: { sizeLimit: EMPTY_DIR_SIZE_LIMITS.lockState } },
    // Scratch space that stays writable, and bounded, when the root filesystem is read-only.
    { name: "tmp", emptyDir: { sizeLimit: EMPTY_DIR_SIZE_LIMITS.tmp } },
  ];
  const mounts: VolumeMount[] = [
    { name: "lock-wrapper", mountPath: MOUNT.wrapper, readOnly: true },
    { name: "lock-state", mountPath: MOUNT.lockState },
    { name: "tmp", mountPath: MOUNT.tmp },
  ];
  const env: EnvVar[] = [
    { name: LockWrapperEnv.podName, valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    { name: LockWrapperEnv.httpAddr, value: consul.httpAddr },
    { name: LockWrapperEnv.lockPrefix, value: consul.lockPrefix },
    { name: LockWrapperEnv.retrySeconds, value: String(CONSUL_RETRY_SECONDS) },
    { name: LockWrapperEnv.stateDir, value: MOUNT.lockState },
    // /tmp is the default of most tools already; set so that an image's own TMPDIR elsewhere
    // (read-only under readOnlyRootFilesystem, unbounded otherwise) does not win.
    { name: "TMPDIR", value: MOUNT.tmp },
    // The wrapper's periods: Mogi is gone before anyone else can hold the fence key (lockTiming.ts).
    { name: LockWrapperEnv.checkSeconds, value: String(LOCK_CHECK_SECONDS) },
    { name: LockWrapperEnv.deadlineSeconds, value: String(LOCK_DEADLINE_SECONDS) },
    { name: LockWrapperEnv.mogiGraceSeconds, value: String(MOGI_GRACE_SECONDS) },
    { name: LockWrapperEnv.fenceSeconds, value: String(FENCE_SECONDS) },
  ];

  if (objects.tokenSecret !== undefined) {
    volumes.push({ name: "consul-token", secret: { secretName: objects.tokenSecret } });
    mounts.push({ name: "consul-token", mountPath: MOUNT.token, readOnly: true });
    env.push({ name: LockWrapperEnv.tokenFile, value: `${MOUNT.token}/${TOKEN_KEY}` });
  }
  if (serviceAccountTokenReason(args) !== undefined) {
    // Only the token (no CA, no namespace file), only as long-lived as TokenRequest allows, and
    // for no API access: the ServiceAccount has no role bindings. Its audience is the API
    // server's, which is what Consul's TokenReview checks (it names no audience, kubeauth/k8s.go).
    volumes.push({ name: "service-account-token", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: SERVICE_ACCOUNT_TOKEN_SECONDS } }] } });
    mounts.push({ name: "service-account-token", mountPath: MOUNT.serviceAccountToken, readOnly: true });
  }
  if (consul.login) {
    env.push({ name: LockWrapperEnv.loginMethod, value: consul.login.authMethod });
    env.push({ name: LockWrapperEnv.loginBearerTokenFile, value: `${MOUNT.serviceAccountToken}/token` });
  }

  if (objects.ca) {
    const items = [{ key: objects.ca.key, path: CA_FILE }];
    volumes.push(objects.ca.kind === "ConfigMap"
      ? { name: "consul-ca", configMap: { name: objects.ca.name, items } }
      : { name: "consul-ca", secret: { secretName: objects.ca.name, items } });
    mounts.push({ name: "consul-ca", mountPath: MOUNT.ca, readOnly: true });
    env.push({ name: LockWrapperEnv.caCert, value: `${MOUNT.ca}/${CA_FILE}` });
  }

  const binary = consul.binary ?? { image: DEFAULT_CONSUL_IMAGE };
  const readOnlyRootFilesystem = args.readOnlyRootFilesystem ?? true;
  const storage = mainContainerStorage(binary !== "app-image", readOnlyRootFilesystem);
  const initContainers: Container[] = [];
  if (binary !== "app-image") {
    volumes.push({ name: "consul-bin", emptyDir: { sizeLimit: EMPTY_DIR_SIZE_LIMITS.consulBin } });
    mounts.push({ name: "consul-bin", mountPath: MOUNT.consulBin, readOnly: true });
    env.push({ name: LockWrapperEnv.binDir, value: MOUNT.consulBin });
    initContainers.push({
      name: "install-consul",
      image: binary.image,
      command: ["cp", CONSUL_BINARY_IN_IMAGE, `${MOUNT.consulBin}/consul`],
      volumeMounts: [{ name: "consul-bin", mountPath: MOUNT.consulBin }],
      securityContext: restrictedSecurityContext(true),
      resources: withEphemeralStorage(INIT_RESOURCES, INIT_CONTAINER_STORAGE.request, INIT_CONTAINER_STORAGE.limit),
    });
  }
  if (consul.configPrefix !== undefined) env.push({ name: "MOGI_CONSUL_CONFIG_PREFIX", value: consul.configPrefix });
  // The key whose ModifyIndex is Mogi's fencing token: the wrapper gives Mogi the value it
  // confirmed (MOGI_FENCING_TOKEN); a downstream may read the key to compare (components/README.md).
  env.push({ name: "MOGI_FENCE_KEY", value: fenceKey(consul.lockPrefix) });
  for (const [key, value] of Object.entries(args.env ?? {}).sort(([a], [b]) => a.localeCompare(b))) env.push({ name: key, value });

  return {
    metadata: { labels: { ...args.podLabels, ...labels }, annotations: { ...args.podAnnotations, ...consulAnnotations(args) } },
    spec: {
      serviceAccountName: objects.serviceAccountName,
      // Mogi and the wrapper call no Kubernetes API: no API token, CA or namespace file of the
      // service account in the pod; what needs its token gets the short-lived projected one above.
      automountServiceAccountToken: false,
      // The wrapper must be the container's PID 1, whose end ends every process of the container
      // (components/scripts/README.md); a shared PID namespace would make pause PID 1.
      shareProcessNamespace: false,
      terminationGracePeriodSeconds: args.terminationGracePeriodSeconds ?? MIN_TERMINATION_GRACE_SECONDS,
      // Replaced soon after its node is lost instead of after Kubernetes' default 300 s: the
      // replacement cannot run Mogi before the lost holder's wrapper has stopped it (the fence key).
      tolerations: NODE_LOSS_TAINTS.map((key) => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: args.nodeLossTolerationSeconds ?? DEFAULT_NODE_LOSS_TOLERATION_SECONDS })),
      securityContext: { runAsNonRoot: true, runAsUser: args.runAsUser, seccompProfile: { type: "RuntimeDefault" } },
      initContainers,
      containers: [
        {
          name: args.name,
          image: args.image,
          // The wrapper is PID 1: it runs `consul lock` for the session, and Mogi's command as its own child.
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
          securityContext: restrictedSecurityContext(readOnlyRootFilesystem),
          resources: withEphemeralStorage(args.resources ?? DEFAULT_RESOURCES, storage.request, storage.limit),
        },
      ],
      volumes,
    },
  };
}
