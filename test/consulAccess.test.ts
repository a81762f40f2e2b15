import * as pulumi from "@pulumi/pulumi";
import * as consul from "@pulumi/consul";
import { aclRulesJson, DEFAULT_SESSION_NODE_PREFIX, lockAclRules } from "../components/consulAcl";
import { ConsulAccess, ConsulAccessArgs } from "../components/consulAccess";
import { fenceKey, lockKey } from "../components/lockWrapper";
import { SingletonWorkload } from "../components/singletonWorkload";
import { podConsulAddr } from "../infra/consulAddress";
import { consulProvider } from "../infra/consulConnection";
import { childAliases } from "./support/aliases";
import { findResource, inputsOf, isSecret, record, Recording } from "./support/recording";

const T = {
  component: "mogi:components:ConsulAccess",
  provider: "pulumi:providers:consul",
  policy: "consul:index/aclPolicy:AclPolicy",
  token: "consul:index/aclToken:AclToken",
  role: "consul:index/aclRole:AclRole",
  bindingRule: "consul:index/aclBindingRule:AclBindingRule",
  uuid: "random:index/randomUuid:RandomUuid",
  keys: "consul:index/keys:Keys",
  keyPrefix: "consul:index/keyPrefix:KeyPrefix",
  secret: "kubernetes:core/v1:Secret",
  deployment: "kubernetes:apps/v1:Deployment",
};

function accessArgs(provider: consul.Provider, overrides: Partial<ConsulAccessArgs> = {}): ConsulAccessArgs {
  return {
    name: "mogi",
    lockPrefix: "service/mogi/lock",
    configPrefix: "service/mogi/config",
    sessionNodePrefix: "consul-server-",
    config: { "log-level": "info", "upstream/url": "https://upstream.example.com" },
    provider,
    ...overrides,
  };
}

async function declared(overrides: Partial<ConsulAccessArgs> = {}): Promise<Recording> {
  return record(() => {
    const provider = consulProvider("consul", { address: "consul.example.com", scheme: "http" });
    new ConsulAccess("mogi", accessArgs(provider, overrides));
  });
}

/** The program's defaults for name "mogi". */
const DEFAULTS = { lockPrefix: "service/mogi/lock", configPrefix: "service/mogi/config", sessionNodePrefix: DEFAULT_SESSION_NODE_PREFIX };

describe("ACL rules", () => {
  test("default prefixes: exactly lock write, config read, sessions and agent read on the chart's server nodes only", () => {
    expect(aclRulesJson(lockAclRules(DEFAULTS))).toBe(
      '{"key_prefix":{"service/mogi/lock/":{"policy":"write"},"service/mogi/config/":{"policy":"read"}},' +
        '"session_prefix":{"consul-server-":{"policy":"write"}},"agent_prefix":{"consul-server-":{"policy":"read"}}}',
    );
  });

  test("custom prefixes appear as given, each limited to its subtree by a trailing '/'", () => {
    expect(JSON.parse(aclRulesJson(lockAclRules({ lockPrefix: "locks/prod-eu-1/mogi", configPrefix: "config/mogi", sessionNodePrefix: "consul-consul-server-" })))).toEqual({
      key_prefix: { "locks/prod-eu-1/mogi/": { policy: "write" }, "config/mogi/": { policy: "read" } },
      session_prefix: { "consul-consul-server-": { policy: "write" } },
      agent_prefix: { "consul-consul-server-": { policy: "read" } },
    });
  });

  test.each([
    ["", /^sessionNodePrefix: "" must not be empty: an empty prefix matches every node/],
    ["consul-*", /^sessionNodePrefix: "consul-\*" must be the start of the Consul servers' node names/],
    ["Consul-Server-", /lowercase letters/],
    ["-server-", /starting with a letter or digit/],
    ["x".repeat(63), /1-62 lowercase/],
  ])("refuses the session node prefix %p: it would reach every node, or no server's", (sessionNodePrefix, message) => {
    expect(() => lockAclRules({ ...DEFAULTS, sessionNodePrefix })).toThrow(message);
  });

  const refused: [string, string, string, RegExp][] = [
    ["empty lock prefix", "", "service/mogi/config", /^lockPrefix: "" must not be empty/],
    ["empty config prefix", "service/mogi/lock", "", /^configPrefix: "" must not be empty/],
    ["'/'-led lock prefix", "/service/mogi/lock", "service/mogi/config", /^lockPrefix: .* must not start with '\/'/],
    ["'/'-led config prefix", "service/mogi/lock", "/service/mogi/config", /^configPrefix: .* must not start with '\/'/],
    ["trailing '/'", "service/mogi/lock/", "service/mogi/config", /^lockPrefix: .* must not end with '\/'/],
    ["empty segment", "service//lock", "service/mogi/config", /^lockPrefix: .* has the segment ""/],
    ["dot segment", "service/../lock", "service/mogi/config", /^lockPrefix: .* has the segment "\.\."/],
    ["whitespace", "service/mogi lock", "service/mogi/config", /^lockPrefix: .* has the segment "mogi lock"/],
    ["wildcard", "service/*", "service/mogi/config", /^lockPrefix: .* has the segment "\*"/],
    ["identical prefixes", "service/mogi", "service/mogi", /^configPrefix: "service\/mogi" overlaps the lock prefix "service\/mogi": .*use disjoint prefixes$/],
    ["config inside lock", "service/mogi", "service/mogi/config", /^configPrefix: "service\/mogi\/config" overlaps the lock prefix "service\/mogi"/],
    ["lock inside config", "service/mogi/config/lock", "service/mogi/config", /^configPrefix: "service\/mogi\/config" overlaps the lock prefix "service\/mogi\/config\/lock"/],
  ];
  test.each(refused)("refuses %s", (_label, lockPrefix, configPrefix, message) => {
    expect(() => lockAclRules({ lockPrefix, configPrefix, sessionNodePrefix: DEFAULT_SESSION_NODE_PREFIX })).toThrow(message);
  });

  test("Mogi's fencing reads are granted: the fence key (MOGI_FENCE_KEY), and the lock key", () => {
    const rules = lockAclRules(DEFAULTS);
    // Consul picks the longest matching prefix rule; write includes read.
    const grants = (ruleSet: Record<string, { policy: string }>, resource: string, access: "read" | "write") => {
      const match = Object.keys(ruleSet).filter((prefix) => resource.startsWith(prefix)).sort((a, b) => b.length - a.length)[0];
      const policy = match === undefined ? "deny" : ruleSet[match].policy;
      return access === "read" ? policy === "read" || policy === "write" : policy === "write";
    };
    expect(grants(rules.key_prefix, fenceKey("service/mogi/lock"), "write")).toBe(true); // the wrapper's claim, acquire, release
    expect(grants(rules.key_prefix, lockKey("service/mogi/lock"), "read")).toBe(true); // GET /v1/kv/<prefix>/.lock
    expect(grants(rules.key_prefix, "service/other/lock/.lock", "read")).toBe(false);
  });

  test("sibling prefixes that only share leading characters are not an overlap", () => {
    expect(() => lockAclRules({ ...DEFAULTS, configPrefix: "service/mogi/lockdown" })).not.toThrow();
  });
});

describe("ConsulAccess", () => {
  test("declares policy, token, accessor UUID and KV keys under the component, Consul ones on the explicit provider", async () => {
    const recording = await declared();
    const children = recording.resources.filter((r) => r.parent?.type === T.component);
    expect(children.map((r) => r.type).sort()).toEqual([T.policy, T.keys, T.token, T.uuid].sort());
    for (const resource of children.filter((r) => r.type.startsWith("consul:"))) {
      expect(resource.provider).toMatch(/pulumi:providers:consul::consul::/);
    }
    expect(recording.invokes.map((i) => [i.token, i.provider?.includes("pulumi:providers:consul::consul::")])).toEqual([
      ["consul:index/getAclTokenSecretId:getAclTokenSecretId", true],
    ]);
  });

  test("the policy carries the generated JSON rules and nothing broader", async () => {
    const policy = inputsOf(findResource(await declared(), T.policy));
    expect(policy.name).toBe("mogi-lock");
    expect(policy.rules).toBe(aclRulesJson(lockAclRules(DEFAULTS)));
    const rules = JSON.parse(policy.rules);
    expect(Object.keys(rules).sort()).toEqual(["agent_prefix", "key_prefix", "session_prefix"]);
    expect(rules.key_prefix[""]).toBeUndefined();
  });

  test("a policy name given for a federation-wide unique name is used by policy and token", async () => {
    const recording = await declared({ policyName: "mogi-prod-eu-1-lock" });
    expect(inputsOf(findResource(recording, T.policy)).name).toBe("mogi-prod-eu-1-lock");
    expect(inputsOf(findResource(recording, T.token)).policies).toEqual(["mogi-prod-eu-1-lock"]);
  });

  test("the token's accessor is the random UUID and it is bound to the policy", async () => {
    const recording = await declared();
    const uuid = findResource(recording, T.uuid);
    const token = inputsOf(findResource(recording, T.token));
    expect(token.accessorId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuid.name).toBe("mogi-token-accessor");
    expect(token.policies).toEqual(["mogi-lock"]);
    expect(recording.invokes[0].inputs.accessorId).toBe(token.accessorId);
  });

  test("login: a role with the policy, bound to the pod's ServiceAccount alone; no static token exists anywhere", async () => {
    const recording = await declared({ policyName: "mogi-prod-eu-1-lock", login: { authMethod: "consul-k8s-auth-method", namespace: "mogi-system", serviceAccount: "mogi" } });
    const children = recording.resources.filter((r) => r.parent?.type === T.component);
    expect(children.map((r) => r.type).sort()).toEqual([T.policy, T.keys, T.role, T.bindingRule].sort());
    expect(recording.invokes).toEqual([]); // no secret ID is read back: there is none
    expect(inputsOf(findResource(recording, T.role))).toMatchObject({ name: "mogi-prod-eu-1-lock", policies: ["mogi-prod-eu-1-lock"] });
    expect(inputsOf(findResource(recording, T.bindingRule))).toMatchObject({
      authMethod: "consul-k8s-auth-method",
      bindType: "role",
      bindName: "mogi-prod-eu-1-lock",
      selector: 'serviceaccount.namespace=="mogi-system" and serviceaccount.name=="mogi"',
    });
    await expect(declared({ login: { authMethod: "consul k8s", namespace: "mogi", serviceAccount: "mogi" } })).rejects.toThrow('login.authMethod: "consul k8s" must be the name of a Consul auth method of type kubernetes');
  });

  test("the token is local to the provider's datacenter", async () => {
    expect(inputsOf(findResource(await declared(), T.token)).local).toBe(true);
  });

  test("a replacement of the token always comes with a new accessor, so create-before-delete works", async () => {
    // ForceNew in terraform-provider-consul's resource_consul_acl_token.go.
    const forceNew = ["accessorId", "local", "expirationTime", "namespace", "partition"];
    const recording = await declared();
    const token = findResource(recording, T.token);
    const keepers = inputsOf(findResource(recording, T.uuid)).keepers;
    // Every ForceNew input but the accessor itself is a keeper of the accessor UUID, with its value:
    // whatever replaces the token replaces the UUID too, so the new token never reuses the old accessor.
    const declaredForceNew = Object.keys(token.inputs).filter((input) => forceNew.includes(input) && input !== "accessorId");
    expect(declaredForceNew).toEqual(["local"]);
    expect(keepers).toEqual(Object.fromEntries(declaredForceNew.map((input) => [input, String(inputsOf(token)[input])])));
    // Create-before-delete (Pulumi's default): the running pod's token outlives the rollout.
    expect(token.deleteBeforeReplace).toBeUndefined();
  });

  test("a renamed component aliases every child to the URN it had, so nothing is recreated", async () => {
    const declareAs = (name: string, opts?: pulumi.ComponentResourceOptions) => () => {
      const provider = consulProvider("consul", { address: "consul.example.com", scheme: "http" });
      new ConsulAccess(name, accessArgs(provider), opts);
    };
    const before = await childAliases(T.component, declareAs("mogi"));
    const after = await childAliases(T.component, declareAs("mogi-eu", { aliases: [{ name: "mogi" }] }));
    expect(before.map((c) => c.urn).sort()).toEqual(after.flatMap((c) => c.aliases).sort());
    expect(after.map((c) => c.urn.replace(/.*::/, "")).sort()).toEqual(["mogi-eu-config", "mogi-eu-lock-policy", "mogi-eu-token", "mogi-eu-token-accessor"]);
  });

  test("KV configuration is written under the config prefix only, with Keys and never a KeyPrefix", async () => {
    const recording = await declared();
    expect(recording.resources.some((r) => r.type === T.keyPrefix)).toBe(false);
    const keys = inputsOf(findResource(recording, T.keys)).keys;
    expect(keys).toEqual([
      { path: "service/mogi/config/log-level", value: "info", delete: true },
      { path: "service/mogi/config/upstream/url", value: "https://upstream.example.com", delete: true },
    ]);
    for (const key of keys) expect(key.path.startsWith("service/mogi/lock")).toBe(false);
  });

  test("no configuration, no Keys resource", async () => {
    const recording = await declared({ config: {} });
    expect(recording.resources.some((r) => r.type === T.keys)).toBe(false);
  });

  test.each([["/abs"], ["a//b"], ["trailing/"], ["../up"]])("refuses the configuration key %p before declaring anything", async (key) => {
    let error: unknown;
    const recording = await record(() => {
      const provider = consulProvider("consul", { address: "consul.example.com", scheme: "http" });
      try {
        new ConsulAccess("mogi", accessArgs(provider, { config: { [key]: "x" } }));
      } catch (e) {
        error = e;
      }
    });
    expect(String(error)).toContain(`config key ${JSON.stringify(key)}`);
    expect(recording.resources.map((r) => r.type)).toEqual([T.provider]);
  });

  test("the token's secret reaches the pod as a secret Secret mounted by the Deployment, never in outputs", async () => {
    const recording = await record(() => {
      const provider = consulProvider("consul", { address: "consul.example.com", scheme: "http" });
      const access = new ConsulAccess("mogi", accessArgs(provider));
      const workload = new SingletonWorkload("mogi", {
        name: "mogi",
        namespace: "mogi-system",
        image: "registry.example.com/mogi:1.4.2",
        command: ["/usr/bin/mogi"],
        maxUnavailable: 1,
        consul: { httpAddr: podConsulAddr("http", "consul-server.consul.svc"), lockPrefix: "service/mogi/lock", token: access.token!.secretId },
        networkPolicy: {},
      });
      return { accessor: access.token!.accessorId, namespace: workload.namespace };
    });
    const secret = findResource(recording, T.secret);
    expect(isSecret(secret.inputs.stringData)).toBe(true);
    const accessorId = inputsOf(findResource(recording, T.token)).accessorId;
    expect(inputsOf(secret).stringData.token).toBe(`offline-stand-in-for-${accessorId}`);
    const pod = inputsOf(findResource(recording, T.deployment)).spec.template;
    const volume = pod.spec.volumes.find((v: { name: string }) => v.name === "consul-token");
    expect(volume.secret.secretName).toMatch(/^mogi-consul-token-/);
    expect(pod.spec.containers[0].env).toContainEqual({ name: "CONSUL_HTTP_ADDR", value: "http://consul-server.consul.svc:8500" });
    expect(JSON.stringify(recording.outputs)).not.toContain("offline-stand-in");
  });
});

describe("Consul provider", () => {
  test("https: the scheme's port by default, the CA, and the token as a secret", async () => {
    const recording = await record(() => {
      consulProvider("consul", {
        address: "consul.example.com",
        scheme: "https",
        datacenter: "eu-1",
        caPem: "-----BEGIN CERTIFICATE-----\n",
        token: pulumi.output("bootstrap-token"),
      });
    });
    const provider = findResource(recording, T.provider);
    expect(inputsOf(provider)).toMatchObject({ address: "consul.example.com:8501", scheme: "https", datacenter: "eu-1", caPem: "-----BEGIN CERTIFICATE-----\n" });
    expect(isSecret(provider.inputs.token)).toBe(true);
    expect(podConsulAddr("https", "consul-server.consul.svc")).toBe("https://consul-server.consul.svc:8501");
  });

  test("http with no token configured leaves the token to CONSUL_HTTP_TOKEN and sends no CA", async () => {
    const recording = await record(() => {
      consulProvider("consul", { address: "10.0.0.5:8500", scheme: "http", caPem: "ignored" });
    });
    const provider = inputsOf(findResource(recording, T.provider));
    expect(provider.address).toBe("10.0.0.5:8500");
    expect(provider.token).toBeUndefined();
    expect(provider.caPem).toBeUndefined();
  });
});
