import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { main as check } from "../infra/policy/check";
import { evaluatePolicies, isMandatory, levelOf, OfflineResource, productionConfig } from "../infra/policy/evaluate";
import { allPolicies, TYPES } from "../infra/policy/policies";
import { renderStack } from "../infra/render/render";
import { listStacks } from "../infra/stacks";

/* eslint-disable @typescript-eslint/no-explicit-any */
const find = (resources: any[], type: string) => resources.find((r) => r.type === type);
const deployment = (resources: any[]) => find(resources, TYPES.deployment).inputs;
const pod = (resources: any[]) => deployment(resources).spec.template;
const main = (resources: any[]) => pod(resources).spec.containers[0];
const init = (resources: any[]) => pod(resources).spec.initContainers[0];

/** A digest of the right shape, for pinning in tests (the registry is never asked). */
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

/** The dev stack's render, as shipped: its images are pinned by tag, which dev allows. */
let devRender: OfflineResource[];
/** The dev render with its images pinned by digest too, as production requires: every case starts from it. */
let baseline: OfflineResource[];
beforeAll(async () => {
  devRender = (await renderStack("dev")).resources;
  const pinned = structuredClone(devRender) as any[];
  for (const c of [main(pinned), init(pinned)]) c.image = `${c.image}@${DIGEST}`;
  baseline = pinned;
});

const clone = () => structuredClone(baseline) as any[];
/** The render without the Deployment's reason for its projected service-account token; the pod spec. */
const withoutTokenReason = (r: any[]) => {
  delete deployment(r).metadata.annotations["mogi/service-account-token"];
  return pod(r).spec;
};
const aclRules = (r: any[], rules: unknown) => (find(r, TYPES.aclPolicy).inputs.rules = typeof rules === "string" ? rules : JSON.stringify(rules));
/** The dev stack's own grants (components/consulAcl.ts), plus `extra`. */
const devRules = (extra: Record<string, unknown> = {}) => ({
  key_prefix: { "service/mogi/lock/": { policy: "write" }, "service/mogi/config/": { policy: "read" } },
  session_prefix: { "consul-server-": { policy: "write" } },
  agent_prefix: { "consul-server-": { policy: "read" } },
  ...extra,
});

async function violationsOf(resources: OfflineResource[], policy: string, production = false) {
  return (await evaluatePolicies(resources, production ? productionConfig() : {})).filter((v) => v.policy === policy);
}

/** Transparent proxy left to the cluster, as `consulCni: true` renders it (the shipped stacks turn it off). */
const tproxyOn = (r: any[]) => delete pod(r).metadata.annotations["consul.hashicorp.com/transparent-proxy"];

type Case = [policy: string, mutate: (r: any[]) => void, message: string];
const cases: Case[] = [
  ["singleton-one-replica", (r) => (deployment(r).spec.replicas = 2), "spec.replicas is 2"],
  ["singleton-recreate-strategy", (r) => (deployment(r).spec.strategy = { type: "RollingUpdate" }), 'spec.strategy.type is "RollingUpdate"'],
  ["singleton-recreate-strategy", (r) => delete deployment(r).spec.strategy, "RollingUpdate (default)"],
  ["singleton-runs-under-consul-lock", (r) => (main(r).command = ["/usr/local/bin/mogi"]), "Mogi would run without holding the Consul lock"],
  ["singleton-runs-under-consul-lock", (r) => delete main(r).args, "the main container has no args"],
  ["singleton-lock-wrapper-executable", (r) => delete pod(r).spec.volumes.find((v: any) => v.name === "lock-wrapper").configMap.defaultMode, "has mode 0644"],
  ["singleton-lock-wrapper-executable", (r) => (main(r).volumeMounts = main(r).volumeMounts.filter((m: any) => m.name !== "lock-wrapper")), "no ConfigMap volume is mounted at /opt/consul-lock"],
  ["consul-annotations-real-and-on-pod", (r) => (deployment(r).metadata.annotations = { "consul.hashicorp.com/connect-inject": "true" }), "is on the Deployment's metadata"],
  ["consul-annotations-real-and-on-pod", (r) => (pod(r).metadata.annotations["consul.hashicorp.com/service-check-http"] = "/health"), "service-check-http is not one consul-k8s reads"],
  ["consul-service-account-matches-service", (r) => (pod(r).spec.serviceAccountName = "default"), 'serviceAccountName "default" differs from connect-service "mogi"'],
  ["consul-lock-bypasses-sidecar", (r) => tproxyOn(r) && delete pod(r).metadata.annotations["consul.hashicorp.com/transparent-proxy-exclude-outbound-ports"], "Consul's port 8500 (CONSUL_HTTP_ADDR) is not in consul.hashicorp.com/transparent-proxy-exclude-outbound-ports"],
  ["consul-lock-bypasses-sidecar", (r) => tproxyOn(r) && (pod(r).metadata.annotations["consul.hashicorp.com/transparent-proxy-exclude-outbound-ports"] = "9411, 8501"), "Consul's port 8500"],
  ["no-literal-secret-in-env", (r) => main(r).env.push({ name: "CONSUL_HTTP_TOKEN", value: "0000-1111" }), "sets CONSUL_HTTP_TOKEN as a literal"],
  ["restricted-security-context", (r) => (main(r).securityContext.allowPrivilegeEscalation = true), "lacks allowPrivilegeEscalation: false"],
  ["restricted-security-context", (r) => (pod(r).spec.initContainers[0].securityContext.capabilities = { drop: [] }), "container install-consul lacks capabilities.drop: [ALL]"],
  ["kubernetes-valid-names", (r) => (deployment(r).metadata.name = "Mogi"), 'Deployment metadata.name: "Mogi" is not a valid dns1123-subdomain'],
  ["kubernetes-valid-names", (r) => (main(r).name = "Mogi_Main"), "container[1].name"],
  ["consul-acl-least-privilege", (r) => (find(r, TYPES.aclPolicy).inputs.rules = JSON.stringify({ key_prefix: { "": { policy: "write" } } })), 'grants write on key_prefix ""'],
  ["consul-acl-least-privilege", (r) => (find(r, TYPES.aclPolicy).inputs.rules = 'acl = "write"\noperator = "write"'), "grants write on acl, operator"],
  ["restricted-security-context", (r) => (main(r).securityContext.privileged = true), "container mogi lacks privileged: false"],
  ["image-pinned", (r) => (main(r).image = "ghcr.io/example/mogi:latest"), 'uses "ghcr.io/example/mogi:latest"'],
  ["image-pinned", (r) => (main(r).image = "ghcr.io/example/mogi"), 'uses "ghcr.io/example/mogi"'],
  ["resource-limits", (r) => delete main(r).resources.limits, "has no cpu limit"],
  ["ephemeral-storage-limits", (r) => delete main(r).resources.limits["ephemeral-storage"], "container mogi has no ephemeral-storage limits"],
  ["ephemeral-storage-limits", (r) => delete pod(r).spec.initContainers[0].resources.requests["ephemeral-storage"], "container install-consul has no ephemeral-storage requests"],
  ["emptydir-size-limit", (r) => delete pod(r).spec.volumes.find((v: any) => v.name === "tmp").emptyDir.sizeLimit, "emptyDir tmp has no sizeLimit"],
  ["singleton-has-network-policy", (r) => r.splice(r.indexOf(find(r, TYPES.networkPolicy)), 1), "no NetworkPolicy selects Deployment mogi-deployment"],
  ["singleton-has-network-policy", (r) => (find(r, TYPES.networkPolicy).inputs.spec.podSelector = { matchLabels: { app: "other" } }), "no NetworkPolicy selects"],
  ["singleton-has-pdb-and-service", (r) => r.splice(r.indexOf(find(r, TYPES.pdb)), 1), "is selected by 0 PodDisruptionBudgets"],
  ["singleton-has-pdb-and-service", (r) => r.push({ ...structuredClone(find(r, TYPES.pdb)), name: "second-pdb" }), "is selected by 2 PodDisruptionBudgets"],
  ["singleton-has-pdb-and-service", (r) => (find(r, TYPES.service).inputs.spec.selector = { app: "other" }), "no Service selects"],
  ["consul-token-from-declared-acl-token", (r) => r.splice(r.indexOf(find(r, TYPES.aclToken)), 1), "the stack declares no consul.AclToken"],
  ["consul-token-from-declared-acl-token", (r) => (pod(r).spec.volumes.find((v: any) => v.name === "consul-token").secret.secretName = "someone-elses-token"), "does not read its Consul token from a Secret of this stack"],
  ["consul-keyprefix-clear-of-lock", (r) => r.push({ type: TYPES.keyPrefix, name: "mogi-kv", parent: null, inputs: { pathPrefix: "service/mogi/" } }), "covers the lock prefix service/mogi/lock"],
  // The pod's isolation from its node (podPolicies.ts).
  ["pod-no-host-namespaces", (r) => (pod(r).spec.hostNetwork = true), "the pod sets hostNetwork: true"],
  ["pod-no-host-namespaces", (r) => Object.assign(pod(r).spec, { hostPID: true, hostIPC: true }), "the pod sets hostPID: true, hostIPC: true"],
  ["pod-no-hostpath-volumes", (r) => pod(r).spec.volumes.push({ name: "host", hostPath: { path: "/" } }), 'volume host mounts the node\'s "/" (hostPath)'],
  ["container-no-added-capabilities", (r) => (main(r).securityContext.capabilities.add = ["SYS_ADMIN"]), "container mogi adds capabilities SYS_ADMIN"],
  ["container-no-added-capabilities", (r) => (init(r).securityContext.capabilities.add = ["NET_ADMIN"]), "container install-consul adds capabilities NET_ADMIN"],
  ["container-no-host-port", (r) => (main(r).ports[0].hostPort = 8080), "container mogi binds port 8080 on the node as hostPort 8080"],
  ["pod-no-shared-process-namespace", (r) => (pod(r).spec.shareProcessNamespace = true), "the pod sets shareProcessNamespace: true"],
  ["read-only-root-filesystem", (r) => (main(r).securityContext.readOnlyRootFilesystem = false), "container mogi has a writable root filesystem"],
  ["read-only-root-filesystem", (r) => delete init(r).securityContext.readOnlyRootFilesystem, "container install-consul has a writable root filesystem"],
  ["image-pinned-by-digest", (r) => (main(r).image = "ghcr.io/example/mogi:1.4.2"), 'container mogi uses "ghcr.io/example/mogi:1.4.2", not pinned by digest'],
  ["image-pinned-by-digest", (r) => (init(r).image = "hashicorp/consul:1.21.3"), "the consul binary this image provides runs with the Consul token"],
  ["no-service-account-token", (r) => Object.assign(withoutTokenReason(r), { automountServiceAccountToken: true, volumes: pod(r).spec.volumes.filter((v: any) => !v.projected) }), "Deployment mogi-deployment mounts its ServiceAccount's API token"],
  ["no-service-account-token", (r) => withoutTokenReason(r), 'Deployment mogi-deployment mounts a service-account token through projected volume "service-account-token"'],
  // The NetworkPolicy's openness (networkPolicies.ts).
  ["network-policy-not-open", (r) => find(r, TYPES.networkPolicy).inputs.spec.egress.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ port: 443 }] }), 'egress[2]: it allows "0.0.0.0/0"'],
  ["network-policy-not-open", (r) => (find(r, TYPES.networkPolicy).inputs.spec.ingress = [{ from: [{ ipBlock: { cidr: "::/0", except: ["fd00::/8"] } }] }]), 'ingress[0]: it allows "::/0" (with exceptions)'],
  ["network-policy-not-open", (r) => find(r, TYPES.networkPolicy).inputs.spec.ingress.push({ ports: [{ port: 8080 }] }), "ingress[0]: it names no peer, which allows every address"],
  // The Consul token's reach (consulAclPolicies.ts).
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ key_prefix: { "service/mogi/lock/": { policy: "write" }, "service/": { policy: "write" } } })), 'grants key_prefix "service/" "write", beyond the stack\'s own scope (lock "service/mogi/lock/", configuration "service/mogi/config/", session and agent nodes "consul-server-")'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ node_prefix: { "": { policy: "write" } }, service_prefix: { "": { policy: "write" } } })), 'grants node_prefix rules (""), service_prefix rules ("")'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ key_prefix: { "service/mogi/lock/": { policy: "write" }, "service/mogi/config/": { policy: "write" } } })), 'grants key_prefix "service/mogi/config/" "write"'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ key: { "service/other/lock/.lock": { policy: "read" } } })), 'grants key "service/other/lock/.lock" "read"'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ agent_prefix: { "": { policy: "write" } } })), 'grants agent_prefix "" "write"'],
  // Sessions and agent reads on nodes beyond mogi:consul.sessionNodePrefix (the Deployment's annotation).
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ session_prefix: { "": { policy: "write" } } })), 'grants session_prefix "" "write", beyond the stack\'s own scope (lock "service/mogi/lock/", configuration "service/mogi/config/", session and agent nodes "consul-server-")'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ session_prefix: { "consul-": { policy: "write" } }, agent_prefix: { "": { policy: "read" } } })), 'grants session_prefix "consul-" "write", agent_prefix "" "read"'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ session: { "vault-server-0": { policy: "write" } } })), 'grants session "vault-server-0" "write"'],
  ["consul-acl-own-prefixes-only", (r) => delete deployment(r).metadata.annotations["mogi/consul-session-node-prefix"], 'grants session_prefix "consul-server-" "write", agent_prefix "consul-server-" "read", beyond the stack\'s own scope (lock "service/mogi/lock/", configuration "service/mogi/config/", session and agent nodes (none))'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, devRules({ acl: "read", operator: "read", keyring: "read" })), 'grants acl = "read", operator = "read", keyring = "read"'],
  ["consul-acl-own-prefixes-only", (r) => aclRules(r, 'key_prefix "service/mogi/lock/" { policy = "write" }'), "grants rules that are not the JSON rule document components/consulAcl.ts emits"],
  ["consul-acl-own-prefixes-only", (r) => find(r, TYPES.aclToken).inputs.policies.push("global-management"), 'also carries policy "global-management", which this stack does not declare'],
  ["consul-acl-own-prefixes-only", (r) => (find(r, TYPES.aclToken).inputs.serviceIdentities = [{ serviceName: "mogi" }]), "also carries serviceIdentities"],
];

describe("policies", () => {
  test("every policy has a case below", () => {
    expect(new Set(cases.map(([policy]) => policy))).toEqual(new Set(allPolicies.map((p) => p.name)));
  });

  test("the untouched render violates none of them, at production levels once its images are pinned by digest", async () => {
    expect(await evaluatePolicies(baseline, productionConfig())).toEqual([]);
    // As shipped, dev pins by tag: advised against, not refused.
    const shipped = await evaluatePolicies(devRender);
    expect(shipped.map((v) => `${v.level} ${v.policy}`)).toEqual(["advisory image-pinned-by-digest", "advisory image-pinned-by-digest"]);
  });

  test.each(cases)("%s: %s", async (policy, mutate, message) => {
    const resources = clone();
    mutate(resources);
    const violations = await violationsOf(resources, policy);
    expect(violations.map((v) => v.message)).toEqual([expect.stringContaining(message)]);
    // Each message says what, why, and how to fix.
    expect(violations[0].message).toMatch(/^.+: .+\. Fix: .+\.$/s);
  });

  test("a KeyPrefix away from the lock is fine; an empty one covers everything", async () => {
    const away = clone();
    away.push({ type: TYPES.keyPrefix, name: "other", parent: null, inputs: { pathPrefix: "service/other/" } });
    expect(await violationsOf(away, "consul-keyprefix-clear-of-lock")).toEqual([]);
    const everything = clone();
    everything.push({ type: TYPES.keyPrefix, name: "all", parent: null, inputs: { pathPrefix: "" } });
    expect(await violationsOf(everything, "consul-keyprefix-clear-of-lock")).toHaveLength(1);
  });

  test("the sidecar bypass is required only where a transparent proxy is injected", async () => {
    const withoutExclusion = (annotations: Record<string, string>) => {
      const resources = clone();
      const podAnnotations = pod(resources).metadata.annotations;
      delete podAnnotations["consul.hashicorp.com/transparent-proxy-exclude-outbound-ports"];
      Object.assign(podAnnotations, annotations);
      return violationsOf(resources, "consul-lock-bypasses-sidecar");
    };
    expect(await withoutExclusion({ "consul.hashicorp.com/connect-inject": "false" })).toEqual([]);
    expect(await withoutExclusion({ "consul.hashicorp.com/transparent-proxy": "false" })).toEqual([]);
    expect(await withoutExclusion({ "consul.hashicorp.com/transparent-proxy": "true" })).toHaveLength(1);
  });

  test("the platform owning the NetworkPolicy, with a reason, satisfies singleton-has-network-policy; an empty reason does not", async () => {
    const withoutPolicy = (reason: string) => {
      const resources = clone();
      resources.splice(resources.indexOf(find(resources, TYPES.networkPolicy)), 1);
      deployment(resources).metadata.annotations = { "mogi/network-policy-platform-owned": reason };
      return violationsOf(resources, "singleton-has-network-policy", true);
    };
    expect(await withoutPolicy("the platform team owns every NetworkPolicy (TICKET-12)")).toEqual([]);
    expect((await withoutPolicy(" "))[0].level).toBe("mandatory");
  });

  test("an ACL policy narrower than the component's passes: exact keys, a node prefix for sessions and agents, denies", async () => {
    const resources = clone();
    aclRules(resources, {
      key: { "service/mogi/lock/.lock": { policy: "write" }, "service/mogi/config/log-level": { policy: "read" } },
      key_prefix: { "": { policy: "deny" }, "service/mogi/config/": { policy: "list" } },
      session_prefix: { "consul-server-": { policy: "write" } },
      agent_prefix: { "consul-server-": { policy: "read" } },
    });
    expect(await violationsOf(resources, "consul-acl-own-prefixes-only")).toEqual([]);
    // One server's node (a longer prefix), or no session at all, is narrower still.
    aclRules(resources, devRules({ session_prefix: { "consul-server-0": { policy: "write" } }, agent: { "consul-server-1": { policy: "read" } } }));
    expect(await violationsOf(resources, "consul-acl-own-prefixes-only")).toEqual([]);
    // Broader than the configured node prefix: refused at production levels too.
    aclRules(resources, devRules({ session_prefix: { "": { policy: "write" } } }));
    expect((await violationsOf(resources, "consul-acl-own-prefixes-only", true)).map((v) => v.level)).toEqual(["mandatory"]);
    // The prefixes are the stack's own: another stack's lock prefix is beyond them.
    const other = clone();
    aclRules(other, devRules({ key_prefix: { "service/mogi/prod-eu-1/lock/": { policy: "write" } } }));
    expect(await violationsOf(other, "consul-acl-own-prefixes-only")).toHaveLength(1);
    // A prefix that merely starts like the lock prefix ("service/mogi/lockout/") is not under it.
    const lookalike = clone();
    aclRules(lookalike, devRules({ key_prefix: { "service/mogi/lock": { policy: "write" } } }));
    expect((await violationsOf(lookalike, "consul-acl-own-prefixes-only"))[0].message).toContain('key_prefix "service/mogi/lock" "write"');
  });

  test("a service-account token is allowed where the ServiceAccount disables it, or a setting says why the pod needs it", async () => {
    const withToken = (change: (r: any[]) => void) => {
      const resources = clone();
      const spec = withoutTokenReason(resources);
      delete spec.automountServiceAccountToken;
      spec.volumes = spec.volumes.filter((v: any) => v.name !== "service-account-token");
      change(resources);
      return violationsOf(resources, "no-service-account-token");
    };
    expect(await withToken(() => undefined)).toHaveLength(1);
    expect(await withToken((r) => (find(r, "kubernetes:core/v1:ServiceAccount").inputs.automountServiceAccountToken = false))).toEqual([]);
    // The pod's own field wins over the ServiceAccount's.
    expect(await withToken((r) => {
      find(r, "kubernetes:core/v1:ServiceAccount").inputs.automountServiceAccountToken = false;
      pod(r).spec.automountServiceAccountToken = true;
    })).toHaveLength(1);
    expect(await withToken((r) => (deployment(r).metadata.annotations = { "mogi/service-account-token": "Consul's Kubernetes auth method (mogi:consul.authMethod)" }))).toEqual([]);
    expect(await withToken((r) => (deployment(r).metadata.annotations = { "mogi/service-account-token": " " }))).toHaveLength(1);
  });

  test("a NetworkPolicy that leaves egress to others (egress: all, as staging) is not open; narrow CIDRs are fine", async () => {
    const resources = clone();
    const spec = find(resources, TYPES.networkPolicy).inputs.spec;
    spec.policyTypes = ["Ingress"];
    delete spec.egress;
    spec.ingress = [{ from: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ port: 8080 }] }];
    expect(await violationsOf(resources, "network-policy-not-open")).toEqual([]);
  });

  test("digest pinning and a read-only root are advisory, and mandatory at production levels", async () => {
    const resources = clone();
    main(resources).image = "ghcr.io/example/mogi:1.4.2";
    main(resources).securityContext.readOnlyRootFilesystem = false;
    for (const policy of ["image-pinned-by-digest", "read-only-root-filesystem"]) {
      expect((await violationsOf(resources, policy))[0].level).toBe("advisory");
      expect((await violationsOf(resources, policy, true))[0].level).toBe("mandatory");
    }
  });

  test("image pinning and limits are advisory, and mandatory at production levels", async () => {
    const resources = clone();
    main(resources).image = "ghcr.io/example/mogi:latest";
    expect((await violationsOf(resources, "image-pinned"))[0].level).toBe("advisory");
    expect((await violationsOf(resources, "image-pinned", true))[0].level).toBe("mandatory");
    expect(levelOf({ name: "x", enforcementLevel: "mandatory" }, { x: "disabled" })).toBe("disabled");
    expect(levelOf({ name: "x" }, {})).toBe("advisory");
  });

  describe("a login (staging: mogi:consul.authMethod)", () => {
    let login: any[];
    beforeAll(async () => (login = (await renderStack("staging")).resources));
    const mutated = (change: (r: any[]) => void) => {
      const r = structuredClone(login);
      change(r);
      return r;
    };
    const rule = (r: any[]) => find(r, TYPES.aclBindingRule).inputs;
    const role = (r: any[]) => find(r, TYPES.aclRole).inputs;

    test("the shipped render logs in, with the stack's role bound to its own ServiceAccount only", async () => {
      expect(find(login, TYPES.aclToken)).toBeUndefined();
      expect(rule(login)).toMatchObject({ authMethod: "mogi-k8s", bindType: "role", selector: 'serviceaccount.namespace=="mogi" and serviceaccount.name=="mogi"' });
      for (const name of ["consul-acl-own-prefixes-only", "consul-token-from-declared-acl-token"]) expect(await violationsOf(login, name)).toEqual([]);
    });

    test.each<[string, (r: any[]) => void, string]>([
      ["a selector that matches every ServiceAccount", (r) => (rule(r).selector = ""), 'selects "", not the ServiceAccount of a Deployment of this stack'],
      ["a selector of another namespace", (r) => (rule(r).selector = 'serviceaccount.namespace=="default" and serviceaccount.name=="mogi"'), "not the ServiceAccount of a Deployment of this stack"],
      ["a service identity instead of the role", (r) => Object.assign(rule(r), { bindType: "service", bindName: "${serviceaccount.name}" }), 'binds "service" "${serviceaccount.name}", not a role of this stack'],
      ["a role with a policy the stack does not declare", (r) => role(r).policies.push("global-management"), 'also carries policy "global-management", which this stack does not declare'],
      ["a role with a service identity", (r) => (role(r).serviceIdentities = [{ serviceName: "mogi" }]), "also carries serviceIdentities"],
    ])("consul-acl-own-prefixes-only refuses %s", async (_label, change, message) => {
      const violations = await violationsOf(mutated(change), "consul-acl-own-prefixes-only");
      expect(violations.map((v) => v.message)).toEqual([expect.stringContaining(message)]);
    });

    test("consul-token-from-declared-acl-token refuses a pod that logs in with no binding rule of the stack for its ServiceAccount", async () => {
      const violations = await violationsOf(mutated((r) => r.splice(r.indexOf(find(r, TYPES.aclBindingRule)), 1)), "consul-token-from-declared-acl-token");
      expect(violations.map((v) => v.message)).toEqual([expect.stringContaining('logs in to Consul with auth method "mogi-k8s", but the stack declares no binding rule of that method for its ServiceAccount')]);
    });
  });

  test.each(listStacks())("shipped stack %s has no mandatory violation at its own levels", async (stack) => {
    const render = await renderStack(stack);
    expect(render.violations.filter(isMandatory)).toEqual([]);
  });
});

describe("npm run check", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), "mogi-check-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (resources: unknown, ...flags: string[]) => {
    const file = path.join(dir, "resources.json");
    writeFileSync(file, JSON.stringify(resources));
    const lines: string[] = [];
    const code = await check([file, ...flags], (m) => lines.push(m), (m) => lines.push(m));
    return { code, output: lines.join("\n") };
  };

  test("passes the shipped render", async () => {
    expect((await run(devRender)).code).toBe(0);
  });

  test.each([
    ["replicas: 2", (r: any[]) => (deployment(r).spec.replicas = 2), "singleton-one-replica"],
    ["RollingUpdate", (r: any[]) => (deployment(r).spec.strategy = { type: "RollingUpdate" }), "singleton-recreate-strategy"],
    ["the PDB removed", (r: any[]) => r.splice(r.indexOf(find(r, TYPES.pdb)), 1), "singleton-has-pdb-and-service"],
    ["the wrapper not used", (r: any[]) => (main(r).command = ["/usr/local/bin/mogi"]), "singleton-runs-under-consul-lock"],
  ])("fails with %s, naming the policy", async (_label, mutate, policy) => {
    const resources = clone();
    mutate(resources);
    const { code, output } = await run(resources);
    expect(code).toBe(1);
    expect(output).toContain(`mandatory ${policy}`);
  });

  test.each([
    ["no NetworkPolicy", (r: any[]) => r.splice(r.indexOf(find(r, TYPES.networkPolicy)), 1), "singleton-has-network-policy", "no NetworkPolicy selects Deployment mogi-deployment"],
    ["no ephemeral-storage limit", (r: any[]) => delete main(r).resources.limits["ephemeral-storage"], "ephemeral-storage-limits", "container mogi has no ephemeral-storage limits"],
    ["an unbounded emptyDir", (r: any[]) => delete pod(r).spec.volumes.find((v: any) => v.name === "consul-bin").emptyDir.sizeLimit, "emptydir-size-limit", "emptyDir consul-bin has no sizeLimit"],
    ["an init image pinned by tag only", (r: any[]) => (init(r).image = "hashicorp/consul:1.21.3"), "image-pinned-by-digest", 'container install-consul uses "hashicorp/consul:1.21.3", not pinned by digest'],
    ["a writable root", (r: any[]) => (main(r).securityContext.readOnlyRootFilesystem = false), "read-only-root-filesystem", "container mogi has a writable root filesystem"],
  ])("with %s: passes, but fails with --production, naming the rule and why", async (_label, mutate, policy, why) => {
    const resources = clone();
    mutate(resources);
    expect((await run(resources)).code).toBe(0);
    const { code, output } = await run(resources, "--production");
    expect(code).toBe(1);
    expect(output).toContain(`mandatory ${policy}`);
    expect(output).toContain(why);
  });

  test("advisory violations alone pass; --production makes them fail", async () => {
    const resources = clone();
    main(resources).image = "ghcr.io/example/mogi:latest";
    expect((await run(resources)).code).toBe(0);
    expect((await run(resources, "--production")).code).toBe(1);
  });

  test("bad usage exits 2", async () => {
    expect(await check([], () => undefined, () => undefined)).toBe(2);
  });
});

describe("the pack under Pulumi's own policy runner", () => {
  test("compiles and starts serving, as `pulumi preview --policy-pack infra/policy` would start it", async () => {
    // The analyzer plugin resolves this module from the pack's folder and runs it there.
    const packDir = path.join(__dirname, "..", "infra", "policy");
    const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [packDir] });
    const child = spawn(process.execPath, [runner, "127.0.0.1:1", "."], { cwd: packDir });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    try {
      const port = await new Promise<string>((resolve, reject) => {
        // Below the test's own limit, so that a slow start still says what the pack printed.
        const timer = setTimeout(() => reject(new Error(`no port within 110 s; stderr: ${stderr}`)), 110_000);
        child.stdout.on("data", (d) => {
          clearTimeout(timer);
          resolve(String(d).trim());
        });
        child.on("exit", (code) => reject(new Error(`the pack exited with ${code}: ${stderr}`)));
      });
      expect(port).toMatch(/^\d+$/);
    } finally {
      child.kill();
    }
    // The runner loads TypeScript and ts-node before the pack (whose entry hands it to tsx): about
    // 2.5 s alone; ts-node's type-check used to take over 20 s on a loaded 2-core machine.
  }, 120_000);
});
