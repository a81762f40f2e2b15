/**
 * SingletonWorkload: everything Kubernetes needs to run one process as the single active
 * instance of a cluster, under a Consul lock.
 *
 * Kubernetes alone does not give "at most one": `strategy: Recreate` only orders pods during a
 * rollout, and a deleted or evicted pod's replacement starts while the old one is still
 * terminating (FACTS.md, Kubernetes). The container therefore runs the service under
 * the wrapper in `scripts/consul-lock-wrapper.sh`, its PID 1, which runs it only while the pod's
 * Consul session holds the fence key and stops it before anyone else can hold it
 * (scripts/README.md); the objects below make it run the way the lock's guarantees assume.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { SESSION_NODE_PREFIX_ANNOTATION } from "./consulAcl";
import { selectorLabels, standardLabels } from "./naming";
import { consulAddrPort, LOCK_WRAPPER_FILE, LOCK_WRAPPER_SCRIPT, lockKey } from "./lockWrapper";
import { isPlatformOwned, networkPolicySpec, PLATFORM_OWNED_ANNOTATION } from "./networkPolicy";
import { CA_FILE, POD_SECURITY_RESTRICTED, SERVICE_ACCOUNT_TOKEN_ANNOTATION, serviceAccountTokenReason, singletonPodTemplate, TOKEN_KEY } from "./singletonPod";
import { DEFAULT_PORT, SingletonWorkloadArgs, validateWorkloadArgs } from "./singletonWorkloadArgs";

export type { ConsulCaSource, ConsulLockArgs, SingletonWorkloadArgs } from "./singletonWorkloadArgs";

export class SingletonWorkload extends pulumi.ComponentResource {
  /** Namespace name (resolves after the Namespace exists when the stack owns it). */
  readonly namespace: pulumi.Output<string>;
  readonly deploymentName: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;
  /** Lock prefix and the key `consul lock` holds. */
  readonly lockPrefix: string;
  readonly lockKey: string;

  constructor(resourceName: string, args: SingletonWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    validateWorkloadArgs(args);
    // Renaming: pass `aliases: [{ name: "<old name>" }]` in `opts`; every child's name starts with
    // `resourceName`, so the engine aliases the children too (as for ConsulAccess).
    super("mogi:components:SingletonWorkload", resourceName, {}, opts);
    const parent = { parent: this };
    const name = args.name;
    const port = args.port ?? DEFAULT_PORT;
    const consul = args.consul;
    const labelArgs = { name, instance: args.instance ?? name, component: "singleton", partOf: args.partOf ?? name };
    const labels = standardLabels(labelArgs);
    const selector = selectorLabels(labelArgs);

    // A namespace the stack owns gets Pod Security's `restricted` level enforced by the API server's
    // PodSecurity admission, as a hardened cluster labels its namespaces: the pod already meets it
    // (singletonPod.ts), so anything added later that does not is refused at admission, not run.
    const namespace =
      args.createNamespace ?? true
        ? new k8s.core.v1.Namespace(`${resourceName}-namespace`, { metadata: { name: args.namespace, labels: { ...labels, ...POD_SECURITY_RESTRICTED } } }, parent).metadata.name
        : pulumi.output(args.namespace);
    const meta = (objectName?: string) => ({ name: objectName, namespace, labels });

    // consul-k8s requires, with ACLs on, a Service selecting the pod and a ServiceAccount named
    // like the Consul service (FACTS.md, consul-k8s): both carry the base name.
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${resourceName}-service-account`, { metadata: meta(name) }, parent);
    // `pulumi up` does not wait on the Service: pulumi-kubernetes' Service awaiter lets its
    // Endpoints "settle" for 10 s after every change (provider/pkg/await/service.go), which made it
    // the last resource of a fresh `up` by several seconds, while the Deployment's own await already
    // waits for the one pod to be Ready, which is what makes it the Service's endpoint.
    const service = new k8s.core.v1.Service(
      `${resourceName}-service`,
      {
        metadata: { ...meta(name), annotations: { "pulumi.com/skipAwait": "true" } },
        spec: { selector, ports: [{ name: "http", port, targetPort: "http", protocol: "TCP" }] },
      },
      parent,
    );

    // Auto-named (no metadata.name): a new script replaces the ConfigMap under a new name, which
    // changes the pod template and so rolls the pod (pulumi-kubernetes#1567, FACTS.md).
    const wrapper = new k8s.core.v1.ConfigMap(
      `${resourceName}-lock-wrapper`,
      { metadata: meta(), data: { [LOCK_WRAPPER_FILE]: LOCK_WRAPPER_SCRIPT } },
      parent,
    );
    // Auto-named for the same reason: a new token must restart `consul lock`, which reads it at
    // start. None when the pod logs in: then no Consul credential exists outside Consul itself.
    const token = consul.token === undefined ? undefined : new k8s.core.v1.Secret(
      `${resourceName}-consul-token`,
      { metadata: meta(), type: "Opaque", stringData: { [TOKEN_KEY]: pulumi.secret(consul.token) } },
      parent,
    );

    // PEM text becomes a ConfigMap of this stack (a CA certificate is not secret).
    const ca = consul.ca && ("pem" in consul.ca
      ? { kind: "ConfigMap" as const, key: CA_FILE, name: new k8s.core.v1.ConfigMap(`${resourceName}-consul-ca`, { metadata: meta(), data: { [CA_FILE]: consul.ca.pem } }, parent).metadata.name }
      : consul.ca.existing);
    const template = singletonPodTemplate(args, labels, {
      serviceAccountName: serviceAccount.metadata.name,
      wrapperConfigMap: wrapper.metadata.name,
      tokenSecret: token?.metadata.name,
      ca,
    });

    // Said on the Deployment, for reviewers and the policy pack: no NetworkPolicy where the
    // platform owns them (singleton-has-network-policy); why the pod has a service-account token
    // (no-service-account-token); the Consul nodes the token's sessions may be on
    // (consul-acl-own-prefixes-only).
    const networkPolicy = args.networkPolicy;
    const tokenReason = serviceAccountTokenReason(args);
    const annotations = {
      ...(tokenReason !== undefined ? { [SERVICE_ACCOUNT_TOKEN_ANNOTATION]: tokenReason } : {}),
      ...(isPlatformOwned(networkPolicy) ? { [PLATFORM_OWNED_ANNOTATION]: networkPolicy.platformOwned } : {}),
      ...(consul.sessionNodePrefix !== undefined ? { [SESSION_NODE_PREFIX_ANNOTATION]: consul.sessionNodePrefix } : {}),
    };
    const deployment = new k8s.apps.v1.Deployment(
      `${resourceName}-deployment`,
      {
        metadata: { ...meta(name), ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
        spec: {
          // One replica and Recreate: a rollout never starts the new pod before the old one is gone.
          // Deletions and evictions still overlap; the Consul lock covers those.
          replicas: 1,
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          // consul-k8s reads annotations on the pod only (its webhook sees pods/CREATE).
          template,
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

    if (!isPlatformOwned(networkPolicy)) {
      const consulPort = Number(consulAddrPort(consul.httpAddr)); // validated above
      new k8s.networking.v1.NetworkPolicy(
        `${resourceName}-network-policy`,
        { metadata: meta(name), spec: networkPolicySpec(networkPolicy, { selector, port, consulPort, connectInject: args.connectInject ?? true }) },
        parent,
      );
    }

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
