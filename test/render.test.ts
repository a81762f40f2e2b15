import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { main, parseRenderArgs } from "../infra/render/cli";
import { validateObject } from "../infra/render/kubernetesObjects";
import { renderStack } from "../infra/render/render";
import { listStacks, loadStackConfig } from "../infra/stacks";

let out: string;
beforeAll(() => {
  out = mkdtempSync(path.join(tmpdir(), "mogi-render-"));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;
const readObjects = (stack: string): Obj[] => parseAllDocuments(readFileSync(path.join(out, stack, "kubernetes.yaml"), "utf8")).map((d) => d.toJSON());
const readResources = (stack: string): Obj[] => JSON.parse(readFileSync(path.join(out, stack, "resources.json"), "utf8"));

/** Only dev creates its namespace; the OpenShift stacks' namespaces belong to the platform. */
const ownsNamespace = (stack: string) => loadStackConfig(stack).config["mogi:createNamespace"] !== "false";
/** Stacks whose platform team owns every NetworkPolicy say so, with the reason, in their stack file. */
const platformOwnsNetworkPolicy = (stack: string) => "platformOwned" in JSON.parse(loadStackConfig(stack).config["mogi:networkPolicy"]);
/** Stacks whose pods log in to Consul (mogi:consul.authMethod) have no static token, so no Secret. */
const logsIn = (stack: string) => "authMethod" in JSON.parse(loadStackConfig(stack).config["mogi:consul"]);

describe("shipped stacks", () => {
  test("are dev (the default), staging and two production clusters", () => {
    expect(listStacks()).toEqual(["dev", "prod-eu-1", "prod-us-1", "staging"]);
    expect(parseRenderArgs([])).toEqual({ stacks: ["dev"], outDir: "out" });
  });

  test("hold no secret in plain text: any secret setting is `secure:`", () => {
    for (const stack of listStacks()) {
      const { config, secretKeys } = loadStackConfig(stack);
      expect(Object.keys(config).filter((k) => /token|password|secret/i.test(k))).toEqual(secretKeys);
    }
  });

  describe.each(listStacks())("%s", (stack) => {
    let objects: Obj[];
    let resources: Obj[];
    beforeAll(async () => {
      const render = await renderStack(stack, { outDir: out });
      expect(render.error).toBeUndefined();
      expect(render.problems).toEqual([]);
      objects = readObjects(stack);
      resources = readResources(stack);
    });

    test("kubernetes.yaml holds every object as it would be sent, the Namespace first where the stack owns it", () => {
      expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
        ...(ownsNamespace(stack) ? ["v1 Namespace"] : []),
        "v1 ServiceAccount",
        "v1 Service",
        "v1 ConfigMap",
        ...(logsIn(stack) ? [] : ["v1 Secret"]),
        "apps/v1 Deployment",
        "policy/v1 PodDisruptionBudget",
        ...(platformOwnsNetworkPolicy(stack) ? [] : ["networking.k8s.io/v1 NetworkPolicy"]),
      ]);
      for (const object of objects) expect(validateObject(object)).toEqual([]);
    });

    test("auto-named objects have a provider-style name, and references resolve to it", () => {
      const byKind = (kind: string) => objects.find((o) => o.kind === kind);
      const pod = byKind("Deployment").spec.template.spec;
      const volume = (name: string) => pod.volumes.find((v: Obj) => v.name === name);
      expect(byKind("ConfigMap").metadata.name).toMatch(/^mogi-lock-wrapper-[0-9a-f]{8}$/);
      expect(byKind("ConfigMap").metadata.annotations).toEqual({ "pulumi.com/autonamed": "true" });
      // Named, so no autonamed annotation (only, where the platform owns it, the NetworkPolicy's owner).
      expect(byKind("Deployment").metadata.annotations?.["pulumi.com/autonamed"]).toBeUndefined();
      expect(volume("lock-wrapper").configMap.name).toBe(byKind("ConfigMap").metadata.name);
      if (logsIn(stack)) expect(volume("consul-token")).toBeUndefined();
      else expect(volume("consul-token").secret.secretName).toBe(byKind("Secret").metadata.name);
      expect(pod.serviceAccountName).toBe(byKind("ServiceAccount").metadata.name);
    });

    test("secrets are written as [secret], and the token never appears", () => {
      const secret = objects.find((o) => o.kind === "Secret");
      if (logsIn(stack)) expect(secret).toBeUndefined();
      else expect(secret.stringData).toEqual({ token: "[secret]" });
      const written = readFileSync(path.join(out, stack, "kubernetes.yaml"), "utf8") + readFileSync(path.join(out, stack, "resources.json"), "utf8");
      expect(written).not.toContain("offline-stand-in");
    });

    test("resources.json lists every Pulumi resource with type, name, parent and inputs", () => {
      for (const r of resources) expect(Object.keys(r)).toEqual(["type", "name", "parent", "inputs"]);
      const types = resources.map((r) => r.type);
      expect(types).toEqual(expect.arrayContaining([
        "pulumi:providers:kubernetes",
        "pulumi:providers:consul",
        "mogi:components:ConsulAccess",
        "consul:index/aclPolicy:AclPolicy",
        ...(logsIn(stack) ? ["consul:index/aclRole:AclRole", "consul:index/aclBindingRule:AclBindingRule"] : ["consul:index/aclToken:AclToken", "random:index/randomUuid:RandomUuid"]),
        "mogi:components:SingletonWorkload",
        "kubernetes:apps/v1:Deployment",
      ]));
      const deployment = resources.find((r) => r.type === "kubernetes:apps/v1:Deployment");
      expect(deployment.parent).toEqual({ type: "mogi:components:SingletonWorkload", name: "mogi" });
      expect(deployment.inputs.spec.replicas).toBe(1);
      const secret = resources.find((r) => r.type === "kubernetes:core/v1:Secret");
      if (logsIn(stack)) expect(secret).toBeUndefined();
      else expect(secret.inputs.stringData).toEqual({ token: "[secret]" });
    });

    test("hardened: a NetworkPolicy selecting the pod (or the platform's, with the reason), ephemeral storage on every container, sizeLimit on every emptyDir, the root filesystem chosen", () => {
      const { config } = loadStackConfig(stack);
      const deployment = objects.find((o) => o.kind === "Deployment");
      const pod = deployment.spec.template.spec;
      const networkPolicy = objects.find((o) => o.kind === "NetworkPolicy");
      if (platformOwnsNetworkPolicy(stack)) {
        expect(networkPolicy).toBeUndefined();
        expect(deployment.metadata.annotations["mogi/network-policy-platform-owned"]).toBe(JSON.parse(config["mogi:networkPolicy"]).platformOwned);
      } else {
        expect(networkPolicy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      }
      for (const container of [...pod.initContainers, ...pod.containers]) {
        expect(container.resources.requests["ephemeral-storage"]).toMatch(/^\d+Mi$/);
        expect(container.resources.limits["ephemeral-storage"]).toMatch(/^\d+Mi$/);
      }
      for (const volume of pod.volumes.filter((v: Obj) => v.emptyDir)) expect(volume.emptyDir.sizeLimit).toMatch(/^\d+Mi$/);
      // Each stack file says it, not a default.
      expect(["true", "false"]).toContain(config["mogi:readOnlyRootFilesystem"]);
      expect(pod.containers[0].securityContext.readOnlyRootFilesystem).toBe(config["mogi:readOnlyRootFilesystem"] === "true");
    });

    test("the lock prefix in the pod, the ACL rules and the stack agree", () => {
      const { config } = loadStackConfig(stack);
      const lockPrefix = JSON.parse(config["mogi:consul"]).lockPrefix ?? "service/mogi/lock";
      const env = objects.find((o) => o.kind === "Deployment").spec.template.spec.containers[0].env;
      expect(env).toContainEqual({ name: "CONSUL_LOCK_PREFIX", value: lockPrefix });
      const rules = JSON.parse(resources.find((r) => r.type === "consul:index/aclPolicy:AclPolicy").inputs.rules);
      expect(rules.key_prefix[`${lockPrefix}/`]).toEqual({ policy: "write" });
    });
  });

  test("the program exports what operators look up, and the failover budget from the consul lock facts", async () => {
    const { outputs } = await renderStack("prod-eu-1");
    expect(outputs).toEqual({
      environment: "production",
      namespace: "mogi",
      deploymentName: "mogi",
      serviceName: "mogi",
      lockKey: "service/mogi/prod-eu-1/lock/.lock",
      tokenAccessorId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      consulPolicy: "mogi-prod-eu-1-lock",
      configKeys: ["service/mogi/prod-eu-1/config/log-level", "service/mogi/prod-eu-1/config/upstream/url"],
      // graceful: Mogi's 4 s grace; hard loss: 2 × 15 s TTL + 15 s lock-delay + 5 s retry; Mogi stopped
      // 6 s deadline + 1 s tick + 4 s grace after the last confirming read; server restart: 15 s lock-delay
      // + 5 s retry + one 3 s Consul check; outage: 3 s wrapper retry + hard loss;
      // node lost: 50 s node-monitor grace + 5 s period + 10 s toleration, then a waiter's 5 s retry.
      failoverBudget: { gracefulHandoverMaxSeconds: 4, hardLossMaxSeconds: 50, partitionedHolderStopsMogiSeconds: 13, nodeLossMaxSeconds: 70, consulServerRestartMaxSeconds: 23, consulOutageRecoveryMaxSeconds: 53, readinessPeriodSeconds: 2 },
    });
  });

  test("https stacks give the pod the HTTPS port and the CA; production pins images", () => {
    const deployment = readObjects("prod-eu-1").find((o) => o.kind === "Deployment");
    const env = deployment.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: "CONSUL_HTTP_ADDR", value: "https://consul-server.consul.svc:8501" });
    expect(env).toContainEqual({ name: "CONSUL_CACERT", value: "/etc/consul-ca/ca.pem" });
    expect(deployment.spec.template.spec.containers[0].image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(deployment.spec.template.spec.securityContext.runAsUser).toBeUndefined();
    // The pod's CA comes from the platform's Secret, Pulumi's own from the committed file.
    const provider = readResources("prod-eu-1").find((r) => r.type === "pulumi:providers:consul");
    expect(provider.inputs).toMatchObject({ scheme: "https", caPem: readFileSync(path.join(__dirname, "..", "stacks", "consul-ca", "prod-eu-1.pem"), "utf8") });
    expect(provider.inputs.caPem).toContain("-----BEGIN CERTIFICATE-----");
  });
});

describe("render CLI", () => {
  const quiet = () => undefined;

  test("--all writes every stack and exits 0", async () => {
    const dir = path.join(out, "all");
    expect(await main(["--all", "--out", dir], quiet, quiet)).toBe(0);
    for (const stack of listStacks()) expect(readObjects(path.join("all", stack)).length).toBe(5 + (logsIn(stack) ? 0 : 1) + (ownsNamespace(stack) ? 1 : 0) + (platformOwnsNetworkPolicy(stack) ? 0 : 1));
  });

  test("the summary prints each failover bound beside its measured median, and no date", async () => {
    const lines: string[] = [];
    await main(["--stack", "prod-eu-1", "--out", path.join(out, "summary")], (m) => lines.push(m), (m) => lines.push(m));
    const summary = lines.join("\n");
    expect(summary).toMatch(/Failover: {3}bound \(measured median\): graceful ≤ 4 s \([\d.]+ s\)/);
    expect(summary).toMatch(/Consul server restart ≤ 23 s \([\d.]+ s\); \+ 2 s readiness/);
    expect(summary).not.toMatch(/\b20\d\d-\d\d-\d\d\b/);
  });

  test("an unknown stack lists the known ones and exits 2", async () => {
    const errors: string[] = [];
    expect(await main(["--stack", "nope"], quiet, (m) => errors.push(m))).toBe(2);
    expect(errors.join("\n")).toBe('start: unknown stack "nope"; known stacks: dev, prod-eu-1, prod-us-1, staging');
  });

  test("bad usage exits 2 with one line saying what is wrong and where the usage is", async () => {
    const errors: string[] = [];
    expect(await main(["--stack", "dev", "--all"], quiet, (m) => errors.push(m))).toBe(2);
    expect(errors).toEqual(["start: --stack and --all exclude each other; see `npm start -- --help`"]);
  });

  test.each([
    ["an invalid object", { problems: ["Deployment mogi/mogi: /spec/replicas: must be integer"] }, "/spec/replicas: must be integer"],
    ["a mandatory policy violation", { violations: [{ level: "mandatory", policy: "singleton-one-replica", resource: "Deployment mogi", message: "spec.replicas is 2: x. Fix: y." }] }, "mandatory singleton-one-replica"],
  ])("%s makes the render exit 1 and is listed in the summary", async (_label, flaw, shown) => {
    const good = await renderStack("dev");
    const lines: string[] = [];
    const code = await main(["--stack", "dev", "--out", path.join(out, "flawed")], (m) => lines.push(m), (m) => lines.push(m), async () => ({ ...good, ...flaw }) as typeof good);
    expect(code).toBe(1);
    expect(lines.join("\n")).toContain(shown);
    expect(lines.join("\n")).toMatch(/^✗ dev/);
  });

  test("invalid configuration is refused with every problem named, and nothing is written", async () => {
    const stacksDir = path.join(out, "bad-stacks");
    mkdirSync(stacksDir, { recursive: true });
    writeFileSync(path.join(stacksDir, "Pulumi.broken.yaml"), "config:\n  mogi:environment: production\n  mogi:image: mogi:latest\n  mogi:command: [mogi]\n  mogi:pdb: sometimes\n  mogi:consul: { address: consul:8500 }\n");
    const errors: string[] = [];
    expect(await main(["--stack", "broken", "--out", path.join(out, "broken-out")], quiet, (m) => errors.push(m), renderStack, { stacksDir })).toBe(1);
    const file = path.join(stacksDir, "Pulumi.broken.yaml");
    expect(errors).toEqual(expect.arrayContaining([
      `start: ${file}:3:3: mogi:image: "mogi:latest" uses "latest"; pin a version tag or a @sha256 digest (required when environment is "production")`,
      `start: ${file}:5:3: mogi:pdb: "sometimes" is not one of "allow-drain", "block-voluntary-evictions"`,
    ]));
    expect(await renderStack("broken", { stacksDir }).catch((error: Error) => error.message)).toContain('mogi:pdb: "sometimes" is not one of');
    expect(() => readFileSync(path.join(out, "broken-out", "broken", "kubernetes.yaml"))).toThrow();
  });
});
