/**
 * The production shape through `npm run deploy`, the way the platform team and a user do it: a copy
 * of the shipped stacks/Pulumi.prod-eu-1.yaml with only the cluster's addresses changed
 * (support/productionStack.ts), against a real kube-apiserver with PodSecurity "restricted" on the
 * platform's namespace and three real Consul servers serving HTTPS with a throw-away CA
 * (test/support/pki.ts). Pods run on real nodes (support/realNode.ts: the kubelet, containerd and
 * runc), which run the pod spec itself, so PodSecurity's verdict and the running container agree.
 *
 * Proves: the driver stops a provider CA that cannot work in one line before anything exists;
 * preview with the production policy config, up (the pod admitted as restricted, reaching Consul
 * over HTTPS with the platform's CA Secret), graceful and hard-loss failover through Kubernetes (3
 * runs each, never two Mogis at once), a pod given the wrong CA waiting with Consul's TLS error and
 * never starting Mogi, refresh, and a destroy that leaves the platform's namespace and Secret and
 * removes everything the stack made. Measures into results/deploy.json and results/failover.json.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { SCENARIOS } from "../support/failover";
import { makeCa } from "../support/pki";
import { CONSUL_IN_CLUSTER_HOST, DeployEnvironment } from "./support/deployEnvironment";
import { measureFailover, Scenario } from "./support/failoverRuns";
import { podSpecChecks } from "./support/podSpecChecks";
import type { ScenarioResult } from "./support/mogiIntervals";
import { fencingTokens } from "./support/mogiWatch";
import { removeWorkDir, waitFor } from "./support/processes";
import { actAsPlatform, changedKeys, namespaceObjects, OVERRIDDEN_KEYS, platformCaSecret, productionShape, shippedConfig } from "./support/productionStack";
import { formatDurations, formatScenarios, mergeResults } from "./support/results";
import { StatusCli } from "./support/statusCli";

/* eslint-disable @typescript-eslint/no-explicit-any */
const RUNS = 3;
const env = new DeployEnvironment(productionShape());
const { stack: STACK, namespace: NAMESPACE } = env.shape;
const consulSettings = shippedConfig()["mogi:consul"];
const POLICY = `mogi-${STACK}-lock`;
const caSecret = platformCaSecret();
const statusCli = new StatusCli(env);
const durations: Record<string, number> = {};
const failovers: Record<string, ScenarioResult> = {};
let consulCa = "";
/** The platform's objects, as it made them: what destroy must leave. */
let platformObjects: string[] = [];

async function deploy(label: string, args: string[], expectedCode = 0) {
  const run = await env.deploy(label, args, expectedCode);
  durations[label] = run.ms;
  return run;
}

/** The CA Secret's PEM in the namespace. */
const secretCa = async () => Buffer.from((await env.api.call("GET", env.ns(`/secrets/${caSecret.name}`))).data[caSecret.key], "base64").toString();
const putSecretCa = (pem: string) => env.api.call("PUT", env.ns(`/secrets/${caSecret.name}`), { apiVersion: "v1", kind: "Secret", metadata: { name: caSecret.name }, type: "Opaque", data: { [caSecret.key]: Buffer.from(pem).toString("base64") } });

beforeAll(async () => {
  await env.start();
  consulCa = readFileSync((env.consulTls as { caFile: string }).caFile, "utf8");
  await actAsPlatform(env, consulCa);
  platformObjects = await namespaceObjects(env);
}, 10 * 60_000);

afterAll(async () => {
  await env.stop();
  if (Object.keys(durations).length) {
    mergeResults("deploy.json", { productionShape: { stack: `${STACK} (copy of stacks/Pulumi.${STACK}.yaml, Consul over HTTPS)`, consul: env.consulVersion, durationsMs: durations } });
    console.log(`production shape, deploy durations (ms):\n${formatDurations(durations)}`);
  }
  if (Object.keys(failovers).length) {
    mergeResults("failover.json", { consul: env.consulVersion, scenarios: failovers });
    console.log(`production shape, failover through Kubernetes, ms (${RUNS} runs):\n${formatScenarios(failovers)}`);
  }
  removeWorkDir(env.work);
}, 5 * 60_000);

describe("the production shape, before the first up", () => {
  test(`the stack file is stacks/Pulumi.${STACK}.yaml with only the cluster's addresses changed`, () => {
    const written = Object.fromEntries(Object.entries(env.project.readStackConfig(STACK)).filter(([key]) => key !== "mogi:consulToken"));
    expect(changedKeys(shippedConfig(), written)).toEqual(OVERRIDDEN_KEYS);
    expect(String(written["mogi:createNamespace"])).toBe("false");
    expect(written["mogi:consul"]).toMatchObject({ scheme: "https", caFrom: { kind: "Secret", ...caSecret } });
    expect(readFileSync(path.join(env.project.dir, consulSettings.providerCaFile), "utf8")).toBe(consulCa);
  });

  test("the platform's namespace is judged by PodSecurity restricted: the API server refuses a privileged pod", async () => {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "not-restricted" }, spec: { containers: [{ name: "c", image: "x:1", securityContext: { privileged: true } }] } };
    const refused = await env.api.request("POST", env.ns("/pods"), pod);
    expect({ status: refused.status, message: refused.body?.message }).toEqual({ status: 403, message: expect.stringContaining('violates PodSecurity "restricted:latest"') });
  });

  test("a provider CA that did not sign Consul's certificate: preview fails in one line naming TLS verification and providerCaFile, exit 1; a plain pulumi up (as the workflows' pulumi/actions runs it) fails in the program; nothing created", async () => {
    const caFile = path.join(env.project.dir, consulSettings.providerCaFile);
    writeFileSync(caFile, readFileSync(makeCa(path.join(env.work, "wrong-ca"), "wrong-ca", "not Consul's CA").cert));
    try {
      const run = await deploy("preview (wrong provider CA)", ["preview", "--stack", STACK, "--policy-pack"], 1);
      const lines = run.output.trim().split("\n");
      expect(lines).toEqual([expect.stringMatching(new RegExp(`^preview ${STACK} failed: TLS verification of Consul at 127\\.0\\.0\\.1:\\d+ failed: .*; Pulumi's Consul provider trusts the CA from mogi:consul\\.providerCaFile \\(${consulSettings.providerCaFile}\\), which did not sign Consul's certificate: set mogi:consul\\.providerCaFile to Consul's CA`))]);
      // No driver in front: the program's own check (infra/program.ts) stops it before any resource.
      const plain = await env.project.pulumi(["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive"]).then(
        (output) => ({ failed: false, output }),
        (error: { stdout?: string; stderr?: string }) => ({ failed: true, output: `${error.stdout ?? ""}${error.stderr ?? ""}` }),
      );
      expect(plain.failed).toBe(true);
      expect(plain.output).toContain(`stack "${STACK}": TLS verification of Consul at 127.0.0.1:`);
      expect(plain.output).toContain("set mogi:consul.providerCaFile to Consul's CA");
    } finally {
      writeFileSync(caFile, consulCa);
    }
    const state = JSON.parse(await env.project.pulumi(["stack", "export", "--stack", STACK]));
    // At most the stack's own root resource, which the engine registers before the program runs.
    expect((state.deployment.resources ?? []).filter((r: { type: string }) => r.type !== "pulumi:pulumi:Stack")).toEqual([]);
    expect(await namespaceObjects(env)).toEqual(platformObjects);
    expect(((await env.consul.call("GET", "/v1/acl/policies")) as { Name: string }[]).map((p) => p.Name)).not.toContain(POLICY);
  });
});

describe(`through npm run deploy: the copy of ${STACK} over HTTPS, in the platform's namespace`, () => {
  test("preview --policy-pack (production levels): the planned creates, no violations", async () => {
    const run = await deploy("preview", ["preview", "--stack", STACK, "--policy-pack"]);
    expect(run.output).toMatch(new RegExp(`preview ${STACK} \\(production\\): create \\d+`));
    expect(run.output).not.toMatch(/policy violation/);
  });

  test("up: the pod admitted as restricted, holding the lock over HTTPS with the platform's CA; the namespace not the stack's", async () => {
    const run = await deploy("up (create)", ["up", "--stack", STACK, "--policy-pack"]);
    expect(run.output).toMatch(new RegExp(`up ${STACK} \\(production\\): create \\d+`));
    const holder = await waitFor("the lock holder", () => env.target.holderPod(), 60_000);
    const pod = await env.api.call("GET", env.ns(`/pods/${holder}`));
    const main = pod.spec.containers[0];
    expect(main.env.find((e: any) => e.name === "CONSUL_HTTP_ADDR").value).toBe(`https://${CONSUL_IN_CLUSTER_HOST}`);
    const caVolume = pod.spec.volumes.find((v: any) => v.name === "consul-ca");
    expect(caVolume.secret).toMatchObject({ secretName: caSecret.name, items: [{ key: caSecret.key, path: expect.any(String) }] });
    expect(main.env.find((e: any) => e.name === "CONSUL_CACERT").value).toMatch(/^\/etc\/consul-ca\//);
    const state = JSON.parse(await env.project.pulumi(["stack", "export", "--stack", STACK]));
    const types = (state.deployment.resources as { type: string }[]).map((r) => r.type);
    expect(types).not.toContain("kubernetes:core/v1:Namespace");
    const policy = (await env.consul.call("GET", `/v1/acl/policy/name/${POLICY}`)) as any;
    expect(Object.keys(JSON.parse(policy.Rules).key_prefix)).toEqual([`${consulSettings.lockPrefix}/`, `${consulSettings.configPrefix}/`]);
    for (const [key, value] of Object.entries(consulSettings.kv as Record<string, string>)) {
      const kv = (await env.consul.call("GET", `/v1/kv/${consulSettings.configPrefix}/${key}`)) as any[];
      expect(Buffer.from(kv[0].Value, "base64").toString()).toBe(value);
    }
    expect(run.output).not.toContain(env.consul.managementToken);
  });

  test("status --wait over HTTPS (the provider's CA file): healthy", async () => {
    const run = await env.project.run(["run", "--silent", "status", "--", "--stack", STACK, "--wait", "120"], { CONSUL_HTTP_TOKEN: env.consul.managementToken });
    expect({ code: run.code, last: run.output.trim().split("\n").pop() }).toEqual({ code: 0, last: expect.stringMatching(/^verdict: healthy \(active: mogi-/) });
  });
});

describe("what the pod spec promises, in the holder's running container (production shape)", () => {
  podSpecChecks(env);
});

describe("failover through Kubernetes over HTTPS, never two Mogis at once (parent-observed), status right at each step", () => {
  const measure = async (scenario: Scenario, afterRun?: (holderBefore: string) => Promise<void>) => {
    const [name, result] = await measureFailover(env, statusCli, scenario, RUNS, { name: (s) => `production shape (https): ${s}`, afterRun });
    failovers[name] = result;
  };

  test("graceful: the holder pod deleted, the replacement takes over once it has let go", () => measure(SCENARIOS.podDeleted), 10 * 60_000);

  test("hard loss: the holder's node lost with its processes; the real node-lifecycle and taint-eviction controllers replace the pod", () => measure(SCENARIOS.nodeLost, (lost) => env.recoverNode(env.nodeOf(lost), lost)), 25 * 60_000);

  test("each new holder's fencing token, read over HTTPS, is greater than all earlier ones", () => {
    const tokens = [...fencingTokens(env.watch.events()).values()].flat().sort((a, b) => a.t - b.t);
    expect(tokens.length).toBeGreaterThanOrEqual(2 * RUNS);
    expect(tokens.filter((t, i) => i > 0 && t.token <= Math.max(...tokens.slice(0, i).map((e) => e.token)))).toEqual([]);
  });
});

describe("the pod's CA", () => {
  test("another CA in the platform's Secret: the new pod's wrapper logs Consul's TLS error while it waits and never starts Mogi", async () => {
    const before = (await env.target.holderPod()) as string;
    await putSecretCa(readFileSync(makeCa(path.join(env.work, "wrong-pod-ca"), "wrong-ca", "not Consul's CA").cert, "utf8"));
    const since = Date.now();
    await env.target.deletePod(before);
    const waiting = await waitFor("a replacement pod whose wrapper failed its second check on TLS", () => {
      for (const { node } of env.nodes) {
        for (const name of node.podNames().filter((n) => n !== before)) {
          if (/attempt 2\): .*x509: certificate signed by unknown authority/.test(node.tail(name, 10))) return name;
        }
      }
      return undefined;
    }, 120_000, 500);
    const log = env.nodeOf(waiting).node.tail(waiting, 10);
    expect(log).toMatch(/consul-lock-wrapper: Consul at https:\/\/10\.96\.0\.50:8500 is not usable yet \(attempt 1\): .*tls: failed to verify certificate: x509: certificate signed by unknown authority/);
    expect(env.intervals.since(since).filter((i) => i.start >= since)).toEqual([]);
    expect(await env.target.holderPod()).toBeUndefined();
    // The platform puts the right CA back; the waiting pod is replaced and Mogi runs again.
    await putSecretCa(consulCa);
    await env.target.deletePod(waiting);
    const next = await env.intervals.nextStart(since, 120_000);
    await statusCli.expectHealthy(next.pod, 120_000);
  }, 10 * 60_000);
});

describe("refresh and destroy", () => {
  test("refresh finds no drift", async () => {
    const run = await deploy("refresh", ["refresh", "--stack", STACK]);
    expect(run.output).toMatch(new RegExp(`refresh ${STACK} \\(production\\): (same \\d+|no changes)$`, "m"));
  });

  test("destroy --yes removes everything the stack made and leaves the platform's namespace and CA Secret as they were", async () => {
    const outputs = JSON.parse(await env.project.pulumi(["stack", "output", "--json", "--stack", STACK]));
    await deploy("destroy", ["destroy", "--stack", STACK, "--yes"]);
    await waitFor("only the platform's objects left in the namespace", async () => JSON.stringify(await namespaceObjects(env)) === JSON.stringify(platformObjects), 120_000, 500);
    const namespace = await env.api.call("GET", `/api/v1/namespaces/${NAMESPACE}`);
    expect({ phase: namespace.status.phase, labels: namespace.metadata.labels }).toMatchObject({ phase: "Active", labels: { "pod-security.kubernetes.io/enforce": "restricted" } });
    expect(await secretCa()).toBe(consulCa);
    expect(((await env.consul.call("GET", "/v1/acl/policies")) as { Name: string }[]).map((p) => p.Name)).not.toContain(POLICY);
    expect(((await env.consul.call("GET", "/v1/acl/tokens")) as { AccessorID: string }[]).map((t) => t.AccessorID)).not.toContain(outputs.tokenAccessorId);
    expect((await env.consul.api("GET", `/v1/kv/${consulSettings.configPrefix}/?recurse`)).status).toBe(404);
    await waitFor("the pods' processes to end", () => env.watch.sample().length === 0, 60_000);
  });
});
