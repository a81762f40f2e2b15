/**
 * The whole stack for real: `npm run deploy` (the deploy driver) with the real Pulumi CLI
 * and plugins against a real kube-apiserver + kube-controller-manager and a real Consul with ACLs,
 * pods run by two real nodes (support/realNode.ts: the kubelet, containerd and runc), bound to them
 * by the test scheduler (the stand-in for kube-scheduler).
 *
 * Proves the user's three ways of using the project (preview with the policy pack, up/refresh/
 * destroy, the deploy driver), and the singleton where it matters: Kubernetes itself
 * starting a replacement pod while the old one terminates. Measures into test/e2e/results/.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { SCENARIOS } from "../support/failover";
import { SERVER_NODE_PREFIX } from "./support/consulServer";
import { configPrefix, DeployEnvironment, lockKey, lockPrefix, NAMESPACE, STACK } from "./support/deployEnvironment";
import { measureFailover, Scenario } from "./support/failoverRuns";
import { FILLED_EMPTY_DIR, holderContainer, podSpecChecks } from "./support/podSpecChecks";
import { execAs } from "./support/runningContainer";
import type { ScenarioResult } from "./support/mogiIntervals";
import { fencingTokens } from "./support/mogiWatch";
import { removeWorkDir, waitFor } from "./support/processes";
import { ProjectCopy } from "./support/project";
import { StatusCli } from "./support/statusCli";
import { formatDurations, formatScenarios, mergeResults } from "./support/results";

/* eslint-disable @typescript-eslint/no-explicit-any */
const RUNS = 3;
const env = new DeployEnvironment();
const { work, watch, target, intervals } = env;
const durations: Record<string, number> = {};
const failovers: Record<string, ScenarioResult> = {};
const stackConfig = (overrides: Record<string, unknown> = {}) => env.stackConfig(overrides);
const ns = (p = "") => env.ns(p);

/** Runs `npm run deploy -- …` (env.deploy: output kept, the tail on failure) and records its duration. */
async function deploy(label: string, args: string[], expectedCode = 0) {
  const run = await env.deploy(label, args, expectedCode);
  durations[label] = run.ms;
  return run;
}

beforeAll(() => env.start(), 10 * 60_000);

afterAll(async () => {
  await env.stop();
  const hostChanges = env.hostChanges(); // after the nodes are gone too
  if (Object.keys(durations).length) {
    mergeResults("deploy.json", { consul: env.consulVersion, durationsMs: durations });
    console.log(`deploy durations (ms):\n${formatDurations(durations)}`);
  }
  if (Object.keys(failovers).length) {
    mergeResults("failover.json", { consul: env.consulVersion, overlapJudgedBy: "intervals observed by Mogi's parent (the wrapper's log lines, stamped on read; SIGKILL time for killed pods)", scenarios: failovers });
    console.log(`failover through Kubernetes, hand-over in ms (${RUNS} runs):\n${formatScenarios(failovers)}`);
  }
  removeWorkDir(work);
  if (hostChanges.length) throw new Error(`the real nodes changed the host: ${hostChanges.join("; ")}`);
}, 5 * 60_000);

describe("through npm run deploy, with the real CLI, providers, API server and Consul", () => {
  test("preview --policy-pack: the planned creates, no violations", async () => {
    const run = await deploy("preview", ["preview", "--stack", STACK, "--policy-pack"]);
    expect(run.output).toMatch(/preview e2e \(development\): create \d+/);
    expect(run.output).not.toMatch(/mandatory policy violation/);
    expect(run.output).toContain("kubernetes:apps/v1:Deployment");
  });

  test("a stack the policy must stop (replicas: 2 through a transformation) exits 2 with the policy's message", async () => {
    const bad = new ProjectCopy(work, "project-bad", env.project.env);
    writeFileSync(path.join(bad.dir, "infra", "index.ts"), [
      'import * as pulumi from "@pulumi/pulumi";',
      'import { mogiProgram } from "./program";',
      "// The test's own mutation: what a careless change could do to the Deployment.",
      'pulumi.runtime.registerStackTransformation((args) => args.type === "kubernetes:apps/v1:Deployment" ? { props: { ...args.props, spec: { ...args.props.spec, replicas: 2 } }, opts: args.opts } : undefined);',
      "export = mogiProgram;",
      "",
    ].join("\n"));
    bad.writeStackConfig("e2e-bad", stackConfig());
    await bad.pulumi(["stack", "init", "e2e-bad", "--secrets-provider", "passphrase"]);
    const run = await bad.deploy(["preview", "--stack", "e2e-bad", "--policy-pack"]);
    appendFileSync(path.join(work, "deploy-output.log"), `\n===== bad preview (exit ${run.code})\n${run.output}`);
    expect({ code: run.code, tail: run.output.split("\n").slice(-6).join("\n") }).toMatchObject({ code: 2 });
    expect(run.output).toMatch(/mandatory policy violation: singleton-one-replica \(mogi-deployment\): .*spec\.replicas is 2: .* Fix: set spec\.replicas: 1\./);
  });

  test("up: everything created, the pod Ready and holding the lock, nothing secret printed", async () => {
    const run = await deploy("up (create)", ["up", "--stack", STACK, "--policy-pack"]);
    expect(run.output).toMatch(/up e2e \(development\): create \d+/);
    // The lock is held by the session named after the one pod running Mogi.
    const holder = await waitFor("the lock holder", async () => (await env.consul.lockHolder(lockKey))?.name, 60_000);
    expect(watch.sample().map((e) => e.pod)).toEqual([holder]);
    const pod = await env.api.call("GET", ns(`/pods/${holder}`));
    expect(pod.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
    // ACL policy and token exist with the declared rules; KV holds the configured values.
    const policy = (await env.consul.call("GET", `/v1/acl/policy/name/mogi-${STACK}-lock`)) as any;
    expect(JSON.parse(policy.Rules)).toEqual({ key_prefix: { [`${lockPrefix}/`]: { policy: "write" }, [`${configPrefix}/`]: { policy: "read" } }, session_prefix: { [SERVER_NODE_PREFIX]: { policy: "write" } }, agent_prefix: { [SERVER_NODE_PREFIX]: { policy: "read" } } });
    const outputs = JSON.parse(await env.project.pulumi(["stack", "output", "--json", "--stack", STACK]));
    const token = (await env.consul.call("GET", `/v1/acl/token/${outputs.tokenAccessorId}`)) as any;
    expect(token.Policies.map((p: any) => p.Name)).toEqual([`mogi-${STACK}-lock`]);
    for (const [key, value] of [["log-level", "debug"], ["feature/dry-run", "true"]]) {
      const kv = (await env.consul.call("GET", `/v1/kv/${configPrefix}/${key}`)) as any[];
      expect(Buffer.from(kv[0].Value, "base64").toString()).toBe(value);
    }
    // The Kubernetes Secret holds exactly the token's secret ID, which nothing printed.
    const secretName = pod.spec.volumes.find((v: any) => v.name === "consul-token").secret.secretName;
    const secret = await env.api.call("GET", ns(`/secrets/${secretName}`));
    expect(Buffer.from(secret.data.token, "base64").toString()).toBe(token.SecretID);
    const printed = readFileSync(path.join(work, "deploy-output.log"), "utf8") + JSON.stringify(outputs) + readFileSync(path.join(env.project.dir, "stacks", `Pulumi.${STACK}.yaml`), "utf8");
    expect(printed).not.toContain(token.SecretID);
    expect(printed).not.toContain(env.consul.managementToken);
    expect(outputs).toMatchObject({ namespace: NAMESPACE, deploymentName: "mogi", lockKey, consulPolicy: `mogi-${STACK}-lock` });
    // The real API server admitted the NetworkPolicy (nothing enforces it here: no CNI) and the pod
    // with its ephemeral-storage bounds, size-limited emptyDirs and read-only root.
    const policies = (await env.api.call("GET", `/apis/networking.k8s.io/v1/namespaces/${NAMESPACE}/networkpolicies`)).items as any[];
    expect(policies.map((p) => [p.metadata.name, p.spec.podSelector.matchLabels["app.kubernetes.io/name"], p.spec.policyTypes])).toEqual([["mogi", "mogi", ["Ingress", "Egress"]]]);
    for (const container of [...pod.spec.initContainers, ...pod.spec.containers]) {
      expect({ container: container.name, requests: container.resources.requests["ephemeral-storage"], limits: container.resources.limits["ephemeral-storage"] }).toEqual({ container: container.name, requests: expect.any(String), limits: expect.any(String) });
    }
    expect(pod.spec.volumes.filter((v: any) => v.emptyDir && !v.emptyDir.sizeLimit)).toEqual([]);
    expect(pod.spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    // The namespace the stack made enforces Pod Security `restricted`: the pod above was admitted
    // under it, and the real PodSecurity admission refuses one that is not restricted (dry run).
    const namespace = await env.api.call("GET", `/api/v1/namespaces/${NAMESPACE}`);
    expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const privileged = await env.api.request("POST", ns("/pods?dryRun=All"), { apiVersion: "v1", kind: "Pod", metadata: { name: "not-restricted" }, spec: { containers: [{ name: "c", image: "x", securityContext: { privileged: true } }] } });
    expect({ status: privileged.status, message: (privileged.body as any).message }).toEqual({ status: 403, message: expect.stringContaining('violates PodSecurity "restricted:latest"') });
  });

  test("status --wait, the deploy workflow's gate between clusters: exit 0 once the stack is healthy", async () => {
    const run = await env.project.run(["run", "--silent", "status", "--", "--stack", STACK, "--wait", "120"], { CONSUL_HTTP_TOKEN: env.consul.managementToken });
    expect({ code: run.code, last: run.output.trim().split("\n").pop() }).toEqual({ code: 0, last: expect.stringMatching(/^verdict: healthy \(active: mogi-/) });
    expect(run.output).not.toContain(env.consul.managementToken);
  });

  test("refresh finds no drift; a second up changes nothing", async () => {
    const refresh = await deploy("refresh", ["refresh", "--stack", STACK]);
    expect(refresh.output).toMatch(/refresh e2e \(development\): (same \d+|no changes)$/m);
    const again = await deploy("up (no changes)", ["up", "--stack", STACK]);
    expect(again.output).toMatch(/up e2e \(development\): (same \d+|no changes)$/m);
  });

  test("a changed config key updates only that key", async () => {
    env.project.writeStackConfig(STACK, stackConfig({ "mogi:consul": { ...(stackConfig()["mogi:consul"] as object), kv: { "log-level": "info", "feature/dry-run": "true" } } }));
    const run = await deploy("up (one key changed)", ["up", "--stack", STACK]);
    expect(run.output).toMatch(/up e2e \(development\): same \d+, update 1$/m);
    const kv = (await env.consul.call("GET", `/v1/kv/${configPrefix}/log-level`)) as any[];
    expect(Buffer.from(kv[0].Value, "base64").toString()).toBe("info");
  });

  test("a changed wrapper script rolls the pod (new ConfigMap) with a graceful hand-over", async () => {
    const before = await target.holderPod();
    appendFileSync(path.join(env.project.dir, "components", "scripts", "consul-lock-wrapper.sh"), "# e2e: a change to the script\n");
    const t0 = Date.now();
    const run = await deploy("up (wrapper changed)", ["up", "--stack", STACK]);
    expect(run.output).toMatch(/replace 1/);
    const holder = await waitFor("a new pod holding the lock", async () => {
      const now = await target.holderPod();
      return now && now !== before && watch.sample().map((e) => e.pod).join() === now ? now : undefined;
    }, 120_000);
    const pod = await env.api.call("GET", ns(`/pods/${holder}`));
    const cm = await env.api.call("GET", ns(`/configmaps/${pod.spec.volumes.find((v: any) => v.name === "lock-wrapper").configMap.name}`));
    expect(cm.data["consul-lock-wrapper.sh"]).toContain("# e2e: a change to the script");
    durations["rollout after wrapper change (to new holder)"] = Date.now() - t0;
    expect(intervals.maxConcurrent()).toBe(1);
  });
});

describe("the driver's expected failures, with the real CLI: one line, exit 1, no stack trace", () => {
  const lastLine = (output: string) => output.trim().split("\n").pop();
  const oneLine = (output: string) => expect(output).not.toMatch(/\n\s+at /);

  test("a stack the backend does not have: preview refuses, lists the stacks it has, creates nothing", async () => {
    env.project.writeStackConfig("ghost", stackConfig());
    const run = await env.project.deploy(["preview", "--stack", "ghost"]);
    expect(run.code).toBe(1);
    expect(lastLine(run.output)).toBe('preview ghost failed: stack "ghost" does not exist in this backend; stacks in this backend: e2e, e2e-bad; `npm run deploy -- up --stack ghost` creates it');
    oneLine(run.output);
    expect(await env.project.pulumi(["stack", "ls"])).not.toContain("ghost");
  });

  test("an update that fails on a resource: the line names the resource and gives the provider's words, not the closing 'update failed'", async () => {
    // A kubeconfig whose API server refuses connections (and no Consul token for this stack): the CLI
    // prints nothing on stderr then; the cause is in the engine's events. (A kubeconfig that does not
    // exist no longer gets that far: the driver refuses it in one line before the CLI runs.)
    const unreachable = path.join(work, "unreachable-kubeconfig");
    writeFileSync(unreachable, 'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: gone, context: {cluster: c, user: u}}]\ncurrent-context: gone\n');
    env.project.writeStackConfig("e2e-broken", stackConfig({ "mogi:kubernetes": { kubeconfig: unreachable } }));
    const run = await env.project.deploy(["up", "--stack", "e2e-broken"]);
    expect(run.code).toBe(1);
    expect(lastLine(run.output)).toMatch(/^up e2e-broken failed: mogi-[a-z-]+: \S.*/);
    expect(lastLine(run.output)).not.toMatch(/unknown error|: update failed$/);
    oneLine(run.output);
    await env.project.pulumi(["stack", "rm", "e2e-broken", "--yes", "--force"]);
  });

  test.each([
    ["not logged in", { PULUMI_BACKEND_URL: undefined, PULUMI_ACCESS_TOKEN: undefined }, "preview e2e failed: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"],
    ["backend unreachable", { PULUMI_BACKEND_URL: "file:///nonexistent/mogi-state" }, 'preview e2e failed: unable to open state directory "file:///nonexistent/mogi-state"'],
  ])("%s", async (label, variables, line) => {
    const slug = label.replace(/\s+/g, "-");
    const elsewhere = new ProjectCopy(work, `project-${slug}`, { ...env.project.env, PULUMI_HOME: path.join(work, `home-${slug}`), ...variables });
    elsewhere.writeStackConfig(STACK, stackConfig());
    const run = await elsewhere.deploy(["preview", "--stack", STACK]);
    expect(run.code).toBe(1);
    expect(lastLine(run.output)).toContain(line);
    oneLine(run.output);
  });
});

const statusCli = new StatusCli(env);

describe("failover through Kubernetes itself, never two Mogis at once, status right at each step", () => {
  // Overlap is judged from the intervals Mogi's parent observed, per scenario (intervals.scenario
  // throws unless never two ran at once and every hand-over has a positive margin).
  const measure = async (scenario: Scenario) => {
    const [name, result] = await measureFailover(env, statusCli, scenario, RUNS);
    failovers[name] = result;
  };

  test("pod deleted: the replacement starts while the old pod terminates; the lock keeps them apart", () => measure(SCENARIOS.podDeleted));
  test("pod evicted through the eviction API (pdb: allow-drain)", () => measure(SCENARIOS.podEvicted));

  test("eviction refused (429) with pdb: block-voluntary-evictions", async () => {
    env.project.writeStackConfig(STACK, stackConfig({ "mogi:pdb": "block-voluntary-evictions" }));
    await deploy("up (pdb blocks evictions)", ["up", "--stack", STACK]);
    await waitFor("the PDB to allow no disruption", async () => (await env.api.call("GET", `/apis/policy/v1/namespaces/${NAMESPACE}/poddisruptionbudgets/mogi`)).status?.disruptionsAllowed === 0 || undefined, 60_000);
    const holder = (await target.holderPod()) as string;
    expect(await target.evictPod(holder)).toBe(429);
    expect(await target.holderPod()).toBe(holder);
    env.project.writeStackConfig(STACK, stackConfig());
    await deploy("up (pdb back to allow-drain)", ["up", "--stack", STACK]);
  });
  test(`an emptyDir past its sizeLimit (${FILLED_EMPTY_DIR.mountPath}, ${FILLED_EMPTY_DIR.limitMi}Mi): the kubelet evicts the pod; the replacement's Mogi starts after the evicted one's ended`, async () => {
    const { pod, container } = await holderContainer(env);
    const since = Date.now();
    const fill = execAs(container, ["/bin/dd", "if=/dev/zero", `of=${FILLED_EMPTY_DIR.mountPath}/fill`, "bs=1048576", `count=${FILLED_EMPTY_DIR.limitMi + FILLED_EMPTY_DIR.overMi}`]);
    expect(fill.status).toBe(0);
    // The kubelet's Event says why it evicted the pod (the pod object itself may be gone by then).
    const evicted = await waitFor("the kubelet to evict the pod", async () => {
      const events = (await env.api.call("GET", ns(`/events?fieldSelector=involvedObject.name=${pod}`))).items as { reason: string; message: string; source?: { component?: string } }[];
      const event = events.find((e) => e.reason === "Evicted");
      return event ? { message: event.message, at: Date.now() } : undefined;
    }, 180_000, 200);
    // The emptyDir's own limit, or the container's ephemeral-storage limit that includes it.
    expect(evicted.message).toMatch(new RegExp(`Usage of EmptyDir volume "${FILLED_EMPTY_DIR.name}" exceeds the limit "${FILLED_EMPTY_DIR.limitMi}Mi"|exceeded its local ephemeral storage limit`));
    const next = await intervals.nextStart(since, 120_000, { except: pod });
    failovers["emptyDir past its sizeLimit: evicted by the kubelet"] = intervals.scenario("emptyDir eviction", [evicted.at - since], `${FILLED_EMPTY_DIR.limitMi + FILLED_EMPTY_DIR.overMi} MiB written to ${FILLED_EMPTY_DIR.mountPath} → pod Evicted ("${evicted.message}"); the replacement's Mogi started ${next.start - since} ms after the write`, since);
    await statusCli.expectHealthy(next.pod, 120_000);
  });
  // Node loss, partitions and Consul restarts: test/e2e/faults.test.ts (side by side with this suite).
});

describe("what the pod spec promises, in the holder's running container (dev shape)", () => {
  podSpecChecks(env);
});

describe("the host, with two real nodes running", () => {
  test("its kernel settings, forwarding, links, addresses, routes and cgroup mounts are as before the nodes started (checked again once they stopped)", () => {
    expect(env.hostChanges()).toEqual([]);
  });
});

describe("fencing, through every hand-over Kubernetes made", () => {
  test("each new holder's token (the lock key's ModifyIndex, read the documented way) is greater than all earlier ones", () => {
    const tokens = [...fencingTokens(watch.events()).values()].flat().sort((a, b) => a.t - b.t);
    expect(tokens.length).toBeGreaterThanOrEqual(2 * RUNS);
    const notIncreasing = tokens.filter((t, i) => i > 0 && t.token <= Math.max(...tokens.slice(0, i).map((e) => e.token)));
    expect(notIncreasing).toEqual([]);
    console.log(`status runs: ${statusCli.runs.length} (${statusCli.runs.filter((r) => r.verdict === "healthy").length} healthy); fencing tokens in order: ${tokens.map((t) => t.token).join(" < ")}`);
  });
});

describe("destroy", () => {
  test("removes everything: no objects in the stack's namespace, no ACL policy, token or keys", async () => {
    const outputs = JSON.parse(await env.project.pulumi(["stack", "output", "--json", "--stack", STACK]));
    await deploy("destroy", ["destroy", "--stack", STACK]);
    await waitFor("the namespace to be gone", async () => (await env.api.request("GET", ns())).status === 404, 120_000);
    const policies = (await env.consul.call("GET", "/v1/acl/policies")) as { Name: string }[];
    expect(policies.map((p) => p.Name)).not.toContain(`mogi-${STACK}-lock`);
    const tokens = (await env.consul.call("GET", "/v1/acl/tokens")) as { AccessorID: string }[];
    expect(tokens.map((t) => t.AccessorID)).not.toContain(outputs.tokenAccessorId);
    expect((await env.consul.api("GET", `/v1/kv/${configPrefix}/?recurse`)).status).toBe(404);
    await waitFor("the pods' processes to end", () => watch.sample().length === 0, 60_000);
  });
});
