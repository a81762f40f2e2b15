import { readFileSync } from "node:fs";
import * as path from "node:path";
import { SingletonWorkload, SingletonWorkloadArgs } from "../components/singletonWorkload";
import { DEFAULT_CONSUL_IMAGE } from "../components/singletonWorkloadArgs";
import { EXCLUSION_MARGIN_SECONDS, FENCE_MARGIN_SECONDS, GUARD_TICK_SECONDS, LOCK_DELAY_SECONDS, STARVATION_BOUND_SECONDS } from "../components/lockTiming";
import * as pulumi from "@pulumi/pulumi";
import { childAliases } from "./support/aliases";
import { findResource, inputsOf, isSecret, kubernetesObjects, record } from "./support/recording";

// The ConfigMap content is read through this getter so that one test can change the script.
let mockWrapperScript: string | undefined;
jest.mock("../components/lockWrapper", () => {
  const actual = jest.requireActual("../components/lockWrapper");
  return {
    ...actual,
    get LOCK_WRAPPER_SCRIPT() {
      return mockWrapperScript ?? actual.LOCK_WRAPPER_SCRIPT;
    },
  };
});

const SCRIPT_ON_DISK = readFileSync(path.join(__dirname, "..", "components", "scripts", "consul-lock-wrapper.sh"), "utf8");
const T = {
  component: "mogi:components:SingletonWorkload",
  namespace: "kubernetes:core/v1:Namespace",
  serviceAccount: "kubernetes:core/v1:ServiceAccount",
  service: "kubernetes:core/v1:Service",
  configMap: "kubernetes:core/v1:ConfigMap",
  secret: "kubernetes:core/v1:Secret",
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
};

function args(overrides: Partial<SingletonWorkloadArgs> = {}): SingletonWorkloadArgs {
  return {
    name: "mogi",
    namespace: "mogi-system",
    image: "registry.example.com/mogi:1.4.2",
    command: ["/usr/bin/mogi", "--listen", ":8080"],
    maxUnavailable: 1,
    consul: {
      httpAddr: "http://consul-server.consul.svc:8500",
      lockPrefix: "service/mogi/lock",
      configPrefix: "service/mogi/config",
      token: "00000000-1111-2222-3333-444444444444",
    },
    networkPolicy: {},
    ...overrides,
  };
}

async function declared(overrides: Partial<SingletonWorkloadArgs> = {}) {
  const recording = await record(() => {
    new SingletonWorkload("mogi", args(overrides));
  });
  const deployment = inputsOf(findResource(recording, T.deployment));
  const pod = deployment.spec.template;
  const main = pod.spec.containers[0];
  const envOf = (name: string) => main.env.find((e: { name: string }) => e.name === name);
  return { recording, deployment, pod, main, envOf };
}

describe("SingletonWorkload", () => {
  test("declares exactly the singleton's objects, all parented to the component", async () => {
    const { recording } = await declared();
    const component = findResource(recording, T.component);
    expect(component.parent).toBeNull();
    const children = recording.resources.filter((r) => r !== component);
    expect(children.map((r) => r.type).sort()).toEqual(
      [T.configMap, T.deployment, T.namespace, T.networkPolicy, T.pdb, T.secret, T.service, T.serviceAccount].sort(),
    );
    for (const child of children) expect(child.parent).toEqual({ type: T.component, name: "mogi" });
  });

  test("every object, and the pod, carries the standard labels", async () => {
    const { recording, pod } = await declared();
    const standard = {
      "app.kubernetes.io/name": "mogi",
      "app.kubernetes.io/instance": "mogi",
      "app.kubernetes.io/component": "singleton",
      "app.kubernetes.io/part-of": "mogi",
      "app.kubernetes.io/managed-by": "pulumi",
    };
    for (const object of kubernetesObjects(recording)) {
      expect(inputsOf(object).metadata.labels).toEqual(object.type === T.namespace ? { ...standard, "pod-security.kubernetes.io/enforce": "restricted" } : standard);
    }
    expect(pod.metadata.labels).toEqual(standard);
  });

  test("one replica, Recreate, and one selector shared by Deployment, Service and PDB that matches the pod", async () => {
    const { recording, deployment, pod } = await declared();
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: "Recreate" });
    const selector = deployment.spec.selector.matchLabels;
    expect(selector).toEqual({ "app.kubernetes.io/name": "mogi", "app.kubernetes.io/instance": "mogi" });
    expect(pod.metadata.labels).toMatchObject(selector);
    expect(inputsOf(findResource(recording, T.service)).spec.selector).toEqual(selector);
    expect(inputsOf(findResource(recording, T.pdb)).spec.selector.matchLabels).toEqual(selector);
  });

  test("a namespace the stack owns enforces Pod Security's restricted profile (the pod meets it)", async () => {
    const { recording } = await declared();
    expect(inputsOf(findResource(recording, T.namespace)).metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/name": "mogi" });
  });

  test("Service and ServiceAccount are named like the Consul service, and the pod uses that account", async () => {
    const { recording, pod } = await declared();
    const service = inputsOf(findResource(recording, T.service));
    expect(service.metadata).toMatchObject({ name: "mogi", namespace: "mogi-system" });
    expect(service.spec.ports).toEqual([{ name: "http", port: 8080, targetPort: "http", protocol: "TCP" }]);
    expect(inputsOf(findResource(recording, T.serviceAccount)).metadata.name).toBe("mogi");
    expect(pod.spec.serviceAccountName).toBe("mogi");
    expect(pod.metadata.annotations["consul.hashicorp.com/connect-service"]).toBe("mogi");
  });

  test("only real consul-k8s annotations, and only on the pod template", async () => {
    const { deployment, pod } = await declared({ serviceTags: ["singleton", "v1"], serviceMeta: { owner: "platform" } });
    expect(Object.keys(deployment.metadata.annotations ?? {}).filter((k) => k.startsWith("consul.hashicorp.com/"))).toEqual([]);
    expect(pod.metadata.annotations).toEqual({
      "consul.hashicorp.com/connect-inject": "true",
      "consul.hashicorp.com/connect-service": "mogi",
      "consul.hashicorp.com/connect-service-port": "8080",
      "consul.hashicorp.com/service-tags": "singleton,v1",
      "consul.hashicorp.com/service-meta-owner": "platform",
      "consul.hashicorp.com/transparent-proxy-exclude-outbound-ports": "8500",
      "consul.hashicorp.com/transparent-proxy": "false",
    });
  });

  test("transparent proxy is off unless the cluster runs the Consul CNI (consulCni): its init container would need root and NET_ADMIN", async () => {
    const tproxy = async (consulCni?: boolean) => (await declared({ consulCni })).pod.metadata.annotations["consul.hashicorp.com/transparent-proxy"];
    expect(await tproxy()).toBe("false");
    expect(await tproxy(false)).toBe("false");
    expect(await tproxy(true)).toBeUndefined(); // the cluster's default (on, in the chart), redirected by the CNI
  });

  test("with connect injection, the port of Consul's address bypasses the transparent proxy", async () => {
    const https = { ...args().consul, httpAddr: "https://consul-server.consul.svc:8501", ca: { pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" } };
    const exclusion = async (consul: SingletonWorkloadArgs["consul"]) =>
      (await declared({ consul })).pod.metadata.annotations["consul.hashicorp.com/transparent-proxy-exclude-outbound-ports"];
    expect(await exclusion(https)).toBe("8501");
    expect(await exclusion({ ...args().consul, httpAddr: "http://consul.internal" })).toBe("80");
    expect(await exclusion({ ...https, httpAddr: "https://consul.internal" })).toBe("443");
  });

  test("connectInject false says so explicitly and adds no service annotations", async () => {
    const { pod } = await declared({ connectInject: false, serviceTags: ["x"] });
    expect(pod.metadata.annotations).toEqual({ "consul.hashicorp.com/connect-inject": "false" });
  });

  test("the main container runs the wrapper from the executable ConfigMap, with Mogi's command as args", async () => {
    const { recording, pod, main } = await declared();
    const configMap = findResource(recording, T.configMap);
    const cm = inputsOf(configMap);
    expect(cm.data).toEqual({ "consul-lock-wrapper.sh": SCRIPT_ON_DISK });
    expect(main.command).toEqual(["/opt/consul-lock/consul-lock-wrapper.sh"]);
    expect(main.args).toEqual(["/usr/bin/mogi", "--listen", ":8080"]);
    const volume = pod.spec.volumes.find((v: { name: string }) => v.name === "lock-wrapper");
    expect(volume.configMap.defaultMode).toBe(0o555);
    expect(main.volumeMounts).toContainEqual({ name: "lock-wrapper", mountPath: "/opt/consul-lock", readOnly: true });
    // Auto-named, and referenced by its generated name: a new script means a new ConfigMap name.
    expect(cm.metadata.name).toBeUndefined();
    expect(volume.configMap.name).toMatch(/^mogi-lock-wrapper-[0-9a-f]{8}$/);
  });

  test("a change to the wrapper script changes the pod template, so the pod rolls", async () => {
    const before = (await declared()).pod;
    mockWrapperScript = `${SCRIPT_ON_DISK}\n# changed\n`;
    try {
      const after = (await declared()).pod;
      const volumeName = (pod: { spec: { volumes: { name: string; configMap?: { name: string } }[] } }) =>
        pod.spec.volumes.find((v) => v.name === "lock-wrapper")?.configMap?.name;
      expect(volumeName(after)).not.toEqual(volumeName(before));
    } finally {
      mockWrapperScript = undefined;
    }
  });

  test("the Deployment sets every setting the wrapper requires", async () => {
    const { envOf } = await declared();
    for (const variable of ["CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_LOCK_PREFIX", "POD_NAME"]) {
      expect(SCRIPT_ON_DISK).toContain(variable);
      expect(envOf(variable)).toBeDefined();
    }
    expect(envOf("POD_NAME").valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(envOf("CONSUL_HTTP_ADDR").value).toBe("http://consul-server.consul.svc:8500");
    expect(envOf("CONSUL_LOCK_PREFIX").value).toBe("service/mogi/lock");
    expect(envOf("MOGI_CONSUL_CONFIG_PREFIX").value).toBe("service/mogi/config");
    // The key whose ModifyIndex the wrapper gives Mogi as its fencing token.
    expect(envOf("MOGI_FENCE_KEY").value).toBe("service/mogi/lock/.fence");
    // While Consul is unreachable the wrapper waits and retries this often, instead of exiting into
    // the kubelet's restart back-off.
    expect(SCRIPT_ON_DISK).toContain("CONSUL_RETRY_SECONDS");
    expect(envOf("CONSUL_RETRY_SECONDS").value).toBe("3");
  });

  test("the wrapper gets periods that stop Mogi's tree before anyone else can hold the fence key", async () => {
    const { envOf } = await declared();
    const seconds = (name: string) => {
      expect(SCRIPT_ON_DISK).toContain(name);
      return Number(envOf(name).value);
    };
    const deadline = seconds("CONSUL_LOCK_DEADLINE_SECONDS");
    const grace = seconds("MOGI_GRACE_SECONDS");
    const check = seconds("CONSUL_LOCK_CHECK_SECONDS");
    const fence = seconds("CONSUL_LOCK_FENCE_SECONDS");
    // From the last read that confirmed the fence key (sent at q), Mogi's tree is gone by
    // q + deadline + 1 s tick + grace + the starvation the protocol allows (components/scripts/README.md).
    const gone = deadline + GUARD_TICK_SECONDS + grace + STARVATION_BOUND_SECONDS;
    // Invalidated session: nobody holds the key before q + the 15 s lock-delay.
    expect(gone).toBeLessThan(LOCK_DELAY_SECONDS);
    expect(EXCLUSION_MARGIN_SECONDS).toBe(LOCK_DELAY_SECONDS - gone);
    // Deleted key: the next holder waits the fence time from when it saw the key gone (after q).
    expect(gone).toBeLessThan(fence);
    expect(FENCE_MARGIN_SECONDS).toBe(fence - gone);
    // More than one read fits in the deadline: one slow read does not stop a healthy Mogi.
    expect(deadline / check).toBeGreaterThanOrEqual(2);
    // The kubelet waits for the whole stop: Mogi's grace, the release (a call, bounded by the
    // deadline) and consul lock's end (2 s), before it kills the container.
    expect(Number(envOf("MOGI_GRACE_SECONDS").value) + deadline + 2).toBeLessThan((await declared()).pod.spec.terminationGracePeriodSeconds);
  });

  test("the wrapper is the container's PID 1 and the pod mounts no Kubernetes API token", async () => {
    const { pod } = await declared();
    expect(pod.spec.shareProcessNamespace).toBe(false);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
  });

  // consul-k8s' webhook, with ACLs on, refuses a pod with no container mounting a token at the
  // standard path (mesh_webhook.go findServiceAccountVolumeMount; test/consulInjection.test.ts).
  test("a service-account token only where something logs in with it: short-lived, token only, at the path consul-k8s looks for, and the reason on the Deployment", async () => {
    const tokenVolume = { name: "service-account-token", projected: { sources: [{ serviceAccountToken: { path: "token", expirationSeconds: 600 } }] } };
    const tokenMount = { name: "service-account-token", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true };
    const reason = (d: { metadata: { annotations?: Record<string, string> } }) => d.metadata.annotations?.["mogi/service-account-token"];
    const injected = await declared();
    expect(injected.pod.spec.volumes).toContainEqual(tokenVolume);
    expect(injected.main.volumeMounts).toContainEqual(tokenMount);
    expect(reason(injected.deployment)).toMatch(/^consul-k8s' connect injection logs in with it/);
    const plain = await declared({ connectInject: false });
    expect(plain.pod.spec.volumes.map((v: { name: string }) => v.name)).not.toContain("service-account-token");
    expect(reason(plain.deployment)).toBeUndefined();
    const login = await declared({ connectInject: false, consul: { ...args().consul, token: undefined, login: { authMethod: "mogi-k8s" } } });
    expect(login.pod.spec.volumes).toContainEqual(tokenVolume);
    expect(reason(login.deployment)).toMatch(/^the lock wrapper logs in to Consul with it \(auth method mogi-k8s\)/);
  });

  test("login instead of a static token: no token Secret, no token file; the wrapper is told the auth method and the bearer token", async () => {
    const { recording, pod, envOf } = await declared({ consul: { ...args().consul, token: undefined, login: { authMethod: "mogi-k8s" } } });
    expect(recording.resources.filter((r) => r.type === T.secret)).toEqual([]);
    expect(pod.spec.volumes.map((v: { name: string }) => v.name)).not.toContain("consul-token");
    expect(envOf("CONSUL_HTTP_TOKEN_FILE")).toBeUndefined();
    expect(envOf("CONSUL_LOGIN_METHOD").value).toBe("mogi-k8s");
    expect(envOf("CONSUL_LOGIN_BEARER_TOKEN_FILE").value).toBe("/var/run/secrets/kubernetes.io/serviceaccount/token");
    await expect(declared({ consul: { ...args().consul, login: { authMethod: "mogi-k8s" } } })).rejects.toThrow("consul: give either token (a static ACL token) or login (an auth method), exactly one");
    await expect(declared({ consul: { ...args().consul, token: undefined } })).rejects.toThrow("exactly one");
    await expect(declared({ consul: { ...args().consul, token: undefined, login: { authMethod: "mogi k8s" } } })).rejects.toThrow('consul.login.authMethod: "mogi k8s" must be the name of a Consul auth method');
  });

  test("the wrapper's state files go to a small emptyDir of their own", async () => {
    const { pod, main, envOf } = await declared();
    expect(pod.spec.volumes).toContainEqual({ name: "lock-state", emptyDir: { sizeLimit: "1Mi" } });
    expect(main.volumeMounts).toContainEqual({ name: "lock-state", mountPath: "/run/consul-lock" });
    expect(envOf("CONSUL_LOCK_STATE_DIR").value).toBe("/run/consul-lock");
  });

  test("the pod is replaced 10 s after its node stops reporting (not Kubernetes' 300 s), or as configured", async () => {
    const tolerations = (seconds: number) => ["node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"].map((key) => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: seconds }));
    expect((await declared()).pod.spec.tolerations).toEqual(tolerations(10));
    expect((await declared({ nodeLossTolerationSeconds: 60 })).pod.spec.tolerations).toEqual(tolerations(60));
    await expect(declared({ nodeLossTolerationSeconds: 301 })).rejects.toThrow("nodeLossTolerationSeconds: 301 must be a whole number of seconds from 0 to 300");
  });

  test("the token lives in a secret Secret mounted as a file, never in the pod spec", async () => {
    const { recording, pod, main, envOf } = await declared();
    const secret = findResource(recording, T.secret);
    expect(isSecret(secret.inputs.stringData)).toBe(true);
    expect(inputsOf(secret).stringData).toEqual({ token: "00000000-1111-2222-3333-444444444444" });
    const volume = pod.spec.volumes.find((v: { name: string }) => v.name === "consul-token");
    expect(volume.secret.secretName).toMatch(/^mogi-consul-token-[0-9a-f]{8}$/);
    expect(main.volumeMounts).toContainEqual({ name: "consul-token", mountPath: "/var/run/secrets/consul", readOnly: true });
    expect(envOf("CONSUL_HTTP_TOKEN_FILE").value).toBe("/var/run/secrets/consul/token");
    expect(envOf("CONSUL_HTTP_TOKEN")).toBeUndefined();
    expect(JSON.stringify(inputsOf(findResource(recording, T.deployment)))).not.toContain("00000000-1111");
  });

  test("an init container copies consul from the pinned official image onto the wrapper's PATH", async () => {
    const { pod, main, envOf } = await declared();
    expect(DEFAULT_CONSUL_IMAGE).toMatch(/^hashicorp\/consul:\d+\.\d+\.\d+$/);
    const [init] = pod.spec.initContainers;
    expect(init.image).toBe(DEFAULT_CONSUL_IMAGE);
    expect(init.command).toEqual(["cp", "/bin/consul", "/opt/consul-bin/consul"]);
    expect(init.volumeMounts).toEqual([{ name: "consul-bin", mountPath: "/opt/consul-bin" }]);
    expect(pod.spec.volumes).toContainEqual({ name: "consul-bin", emptyDir: { sizeLimit: "256Mi" } });
    expect(main.volumeMounts).toContainEqual({ name: "consul-bin", mountPath: "/opt/consul-bin", readOnly: true });
    expect(envOf("CONSUL_BIN_DIR").value).toBe("/opt/consul-bin");
  });

  test("an image that already has consul gets no init container", async () => {
    const { pod, envOf } = await declared({ consul: { ...args().consul, binary: "app-image" } });
    expect(pod.spec.initContainers).toEqual([]);
    expect(envOf("CONSUL_BIN_DIR")).toBeUndefined();
    expect(pod.spec.volumes.map((v: { name: string }) => v.name)).not.toContain("consul-bin");
  });

  test("readiness on the health path, no liveness probe, grace period for the hand-over", async () => {
    const { pod, main } = await declared({ healthPath: "/ready", port: 9090 });
    expect(main.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    // Traffic follows a new holder within 2 s of Mogi answering, and leaves a stopped one within 6 s.
    expect(main.readinessProbe).toMatchObject({ periodSeconds: 2, failureThreshold: 3 });
    expect(main.ports).toEqual([{ name: "http", containerPort: 9090, protocol: "TCP" }]);
    expect(main.livenessProbe).toBeUndefined();
    for (const container of pod.spec.initContainers) expect(container.livenessProbe).toBeUndefined();
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    // Always (the default, and the only one a Deployment allows): after a lost lock consul lock
    // exits 0, and the container must come back to wait for the lock again.
    expect(pod.spec.restartPolicy ?? "Always").toBe("Always");
  });

  test("every container runs under the restricted profile, with no fixed UID unless asked", async () => {
    const { pod } = await declared();
    expect(pod.spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    for (const container of [...pod.spec.initContainers, ...pod.spec.containers]) {
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      });
      expect(container.securityContext.runAsUser).toBeUndefined();
      expect(container.resources.limits).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
      expect(container.resources.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    }
    const withUid = await declared({ runAsUser: 10001 });
    expect(withUid.pod.spec.securityContext.runAsUser).toBe(10001);
  });

  test.each([0, 1] as const)("PDB with maxUnavailable %i lets unhealthy pods be evicted", async (maxUnavailable) => {
    const { recording } = await declared({ maxUnavailable });
    const pdb = inputsOf(findResource(recording, T.pdb));
    expect(pdb.spec).toMatchObject({ maxUnavailable, unhealthyPodEvictionPolicy: "AlwaysAllow" });
    expect(pdb.metadata.name).toBe("mogi");
  });

  test("with createNamespace false no Namespace is declared and objects use the given one", async () => {
    const { recording } = await declared({ createNamespace: false, namespace: "shared-apps" });
    expect(recording.resources.some((r) => r.type === T.namespace)).toBe(false);
    for (const object of kubernetesObjects(recording)) expect(inputsOf(object).metadata.namespace).toBe("shared-apps");
  });

  test("https: the CA is mounted and CONSUL_CACERT points at it", async () => {
    const consul = { ...args().consul, httpAddr: "https://consul-server.consul.svc:8501", ca: { pem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" } };
    const { recording, pod, main, envOf } = await declared({ consul });
    const caMap = findResource(recording, T.configMap, "mogi-consul-ca");
    expect(inputsOf(caMap).data).toEqual({ "ca.pem": consul.ca.pem });
    const volume = pod.spec.volumes.find((v: { name: string }) => v.name === "consul-ca");
    expect(volume.configMap.items).toEqual([{ key: "ca.pem", path: "ca.pem" }]);
    expect(main.volumeMounts).toContainEqual({ name: "consul-ca", mountPath: "/etc/consul-ca", readOnly: true });
    expect(envOf("CONSUL_CACERT").value).toBe("/etc/consul-ca/ca.pem");

    const existing = await declared({ consul: { ...consul, ca: { existing: { kind: "Secret", name: "consul-ca-cert", key: "tls.crt" } } } });
    const secretVolume = existing.pod.spec.volumes.find((v: { name: string }) => v.name === "consul-ca");
    expect(secretVolume.secret).toEqual({ secretName: "consul-ca-cert", items: [{ key: "tls.crt", path: "ca.pem" }] });
  });

  test("registers its outputs: namespace, deployment, service, lock prefix and key", async () => {
    const recording = await record(() => {
      const workload = new SingletonWorkload("mogi", args());
      return { namespace: workload.namespace, deployment: workload.deploymentName, service: workload.serviceName, lockKey: workload.lockKey };
    });
    expect(recording.outputs).toEqual({ namespace: "mogi-system", deployment: "mogi", service: "mogi", lockKey: "service/mogi/lock/.lock" });
  });

  test("a renamed component aliases every Kubernetes object to the URN it had, so nothing is recreated", async () => {
    const declareAs = (name: string, opts?: pulumi.ComponentResourceOptions) => () => void new SingletonWorkload(name, args(), opts);
    const before = await childAliases(T.component, declareAs("mogi"));
    const after = await childAliases(T.component, declareAs("mogi-eu", { aliases: [{ name: "mogi" }] }));
    expect(before.length).toBeGreaterThan(5);
    expect(before.map((c) => c.urn).sort()).toEqual(after.flatMap((c) => c.aliases).sort());
  });

  describe("rejects bad input before declaring anything", () => {
    const cases: [string, Partial<SingletonWorkloadArgs>, RegExp][] = [
      ["uppercase name", { name: "Mogi" }, /^name: "Mogi" is not a valid dns1035-label name/],
      ["name starting with a digit", { name: "1mogi" }, /^name: "1mogi" is not a valid dns1035-label/],
      ["name over 63 characters", { name: "m".repeat(64) }, /^name: .* at most 63 characters/],
      ["uppercase namespace", { namespace: "Mogi-System" }, /^namespace: "Mogi-System" is not a valid dns1123-label/],
      ["empty command", { command: [] }, /^command: /],
      ["grace period below 30 s", { terminationGracePeriodSeconds: 10 }, /^terminationGracePeriodSeconds: 10 is below 30/],
      ["maxUnavailable 2", { maxUnavailable: 2 as 0 }, /^maxUnavailable: 2 is not allowed; use 1 .* or 0/],
      ["root UID", { runAsUser: 0 }, /^runAsUser: 0 must be a positive integer/],
      ["env clashing with the wrapper", { env: { CONSUL_LOCK_PREFIX: "x" } }, /^env: CONSUL_LOCK_PREFIX are set by the component/],
      ["own consul annotations", { podAnnotations: { "consul.hashicorp.com/service-check-http": "/health" } }, /^podAnnotations: consul.hashicorp.com\/service-check-http are reserved/],
      ["lock prefix led by /", { consul: { ...args().consul, lockPrefix: "/service/mogi/lock" } }, /^consul.lockPrefix: "\/service\/mogi\/lock" must not start with '\/'/],
      ["overlapping prefixes", { consul: { ...args().consul, configPrefix: "service/mogi/lock/config" } }, /^consul.configPrefix: "service\/mogi\/lock\/config" overlaps the lock prefix "service\/mogi\/lock"/],
      ["https without CA", { consul: { ...args().consul, httpAddr: "https://consul:8501" } }, /^consul.ca: required when consul.httpAddr is https/],
      ["address without scheme", { consul: { ...args().consul, httpAddr: "consul:8500" } }, /^consul.httpAddr: "consul:8500" must be http/],
    ];
    test.each(cases)("%s", async (_label, overrides, message) => {
      let error: unknown;
      const recording = await record(() => {
        try {
          new SingletonWorkload("mogi", args(overrides));
        } catch (e) {
          error = e;
        }
      });
      expect(String((error as Error | undefined)?.message)).toMatch(message);
      expect(recording.resources).toEqual([]);
    });
  });
});
