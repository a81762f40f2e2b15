/**
 * `mogi:consul.authMethod` for real: the pod logs in to Consul with its projected service-account
 * token instead of holding a static token. The stack is the dev shape with the setting (its own
 * stack, namespace and prefixes), deployed with `npm run deploy` on the real control plane, two
 * real nodes (kubelet, containerd, runc) and three real Consul 1.14 servers (ACLs default-deny);
 * the platform's part (the reviewer ServiceAccount and the kubernetes auth method) is done first,
 * as consul-k8s' server-acl-init does it (support/consulAuthMethod.ts).
 *
 * Proves: the pod's only Consul credential is a login token carrying the stack's role alone, local,
 * and no Secret holds one; a deleted pod's token is logged out, and the hand-over keeps one Mogi;
 * another ServiceAccount (same namespace, Mogi's name elsewhere, consul-k8s' service-name override
 * elsewhere) cannot log in with the stack's rule, and the one residual (that override inside Mogi's
 * namespace) is shown; a login token deleted in Consul stops
 * Mogi within the deadline, the wrapper logs in again and Mogi comes back, never two at once;
 * destroy removes the role, the binding rule and every login token. Overlap is judged from the
 * intervals Mogi's parent observed, as in the other deploy suites. Measures into test/e2e/results/
 * (failover.json; deploy.json under `loginShape`).
 */
import { readFileSync } from "node:fs";
import { MOGI_GONE_AFTER_CONFIRMATION_SECONDS } from "../../components/lockTiming";
import { SCENARIOS } from "../support/failover";
import { consulLogin, createKubernetesAuthMethod, createServiceAccount, ensureNamespace, jwtClaims, LoginToken, loginTokens, podOfToken, serviceAccountToken } from "./support/consulAuthMethod";
import { DEV_SHAPE, DeployEnvironment, StackShape } from "./support/deployEnvironment";
import { measureFailover } from "./support/failoverRuns";
import type { ScenarioResult } from "./support/mogiIntervals";
import { holderContainer } from "./support/podSpecChecks";
import { removeWorkDir, waitFor } from "./support/processes";
import { formatDurations, formatScenarios, mergeResults } from "./support/results";
import { StatusCli } from "./support/statusCli";

/* eslint-disable @typescript-eslint/no-explicit-any */
const STACK = "e2e-login";
const NAMESPACE = "mogi-e2e-login";
const AUTH_METHOD = "e2e-mogi-k8s-auth-method";
const lockPrefix = "service/mogi-e2e-login/lock";
const configPrefix = "service/mogi-e2e-login/config";
const ROLE = `mogi-${STACK}-lock`;
const RUNS = 2;

const LOGIN_SHAPE: StackShape = {
  ...DEV_SHAPE,
  stack: STACK,
  namespace: NAMESPACE,
  lockKey: `${lockPrefix}/.lock`,
  config: (env) => {
    const dev = DEV_SHAPE.config(env);
    return { ...dev, "mogi:namespace": NAMESPACE, "mogi:consul": { ...(dev["mogi:consul"] as object), lockPrefix, configPrefix, authMethod: AUTH_METHOD } };
  },
};

const env = new DeployEnvironment(LOGIN_SHAPE);
const { intervals, target, watch } = env;
const statusCli = new StatusCli(env);
const durations: Record<string, number> = {};
const failovers: Record<string, ScenarioResult> = {};
const tokens = () => loginTokens(env, AUTH_METHOD);
const restarts = async (pod: string) => (await env.api.call("GET", env.ns(`/pods/${pod}`))).status.containerStatuses[0].restartCount as number;
/** The holder's wrapper lines (its main container's output on its node). */
const wrapperLines = (pod: string) => env.nodeOf(pod).node.tail(pod, 400).split("\n").filter((l) => l.includes("consul-lock-wrapper:"));
/** Each login token as a reader compares them: whose, when, with what. */
const described = (list: LoginToken[]) => list.map((t) => ({ pod: podOfToken(t), created: t.CreateTime, local: t.Local, roles: t.Roles?.map((r) => r.Name), policies: t.Policies ?? [], identities: t.ServiceIdentities ?? [] }));
/** The method's tokens once there are `n` (or, after `ms`, as they are), with every pod's wrapper lines printed when they are not `n`. */
async function tokensSettled(n: number, ms = 30_000): Promise<LoginToken[]> {
  const list = await waitFor(`${n} login token(s)`, async () => ((await tokens()).length === n ? tokens() : undefined), ms, 500).catch(() => tokens());
  if (list.length !== n) console.log(`${list.length} login tokens, expected ${n}: ${JSON.stringify(described(list))}\n${env.nodes.flatMap(({ node }) => node.logs.pods().map((pod) => `--- ${pod}\n${node.logs.tail(pod, 60)}`)).join("\n")}`);
  return list;
}
/** The newest login token of `pod` (the one its wrapper uses). */
const newestOf = async (pod: string) => (await tokens()).filter((t) => podOfToken(t) === pod).sort((a, b) => a.CreateIndex - b.CreateIndex).pop() as LoginToken;

async function deploy(label: string, args: string[]) {
  const run = await env.deploy(label, args);
  durations[label] = run.ms;
  return run;
}

/** The pod that holds the lock and alone runs Mogi. */
async function holder(): Promise<string> {
  return waitFor("one pod holding the lock and running Mogi", async () => {
    const pod = await target.holderPod();
    return pod && intervals.running().join() === pod && watch.sample().map((e) => e.pod).join() === pod ? pod : undefined;
  }, 180_000, 200);
}

beforeAll(async () => {
  await env.start();
  const t0 = Date.now();
  await createKubernetesAuthMethod(env, AUTH_METHOD);
  durations["platform: reviewer and auth method"] = Date.now() - t0;
}, 12 * 60_000);

afterAll(async () => {
  await env.stop();
  const hostChanges = env.hostChanges();
  if (Object.keys(durations).length) {
    mergeResults("deploy.json", { loginShape: { consul: env.consulVersion, durationsMs: durations } });
    console.log(`login shape durations (ms):\n${formatDurations(durations)}`);
  }
  if (Object.keys(failovers).length) {
    mergeResults("failover.json", { consul: env.consulVersion, scenarios: failovers });
    console.log(`login shape, ms:\n${formatScenarios(failovers)}\nstatus runs: ${statusCli.runs.length}`);
  }
  removeWorkDir(env.work);
  if (hostChanges.length) throw new Error(`the real nodes changed the host: ${hostChanges.join("; ")}`);
}, 5 * 60_000);

describe("mogi:consul.authMethod through npm run deploy: the pod logs in, no static token exists", () => {
  test("up: the pod Ready holding the lock; the role and the rule binding it to Mogi's ServiceAccount alone; the projected token, no automounted one; no Secret, no tokenAccessorId", async () => {
    const run = await deploy("up (create)", ["up", "--stack", STACK, "--policy-pack"]);
    expect(run.output).toMatch(/up e2e-login \(development\): create \d+/);
    expect(run.output).not.toMatch(/mandatory policy violation/);
    const pod = await holder();
    const podObject = await env.api.call("GET", env.ns(`/pods/${pod}`));
    expect(podObject.status.conditions.find((c: any) => c.type === "Ready").status).toBe("True");
    // Consul: the role (the policy, nothing else), the rule binding it to this ServiceAccount only.
    const role = (await env.consul.call("GET", `/v1/acl/role/name/${ROLE}`)) as any;
    expect(role.Policies.map((p: any) => p.Name)).toEqual([ROLE]);
    const rules = (await env.consul.call("GET", `/v1/acl/binding-rules?authmethod=${AUTH_METHOD}`)) as any[];
    expect(rules.map((r) => ({ BindType: r.BindType, BindName: r.BindName, Selector: r.Selector }))).toEqual([{ BindType: "role", BindName: ROLE, Selector: `serviceaccount.namespace=="${NAMESPACE}" and serviceaccount.name=="mogi"` }]);
    // In the running container: the projected JWT is Mogi's ServiceAccount's, bound to this pod, for 600 s.
    const { container } = await holderContainer(env);
    const claims = jwtClaims(readFileSync(`/proc/${container.hostPid}/root/var/run/secrets/kubernetes.io/serviceaccount/token`, "utf8"));
    expect({ sub: claims.sub, pod: claims["kubernetes.io"].pod.name, lifetime: claims.exp - claims.iat }).toEqual({ sub: `system:serviceaccount:${NAMESPACE}:mogi`, pod, lifetime: 600 });
    expect(container.mounts["/var/run/secrets/kubernetes.io/serviceaccount"]).toBe("ro");
    // The Deployment's pod: no automounted API token, the projected one, the login settings, no token file setting.
    const spec = (await env.api.call("GET", `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/mogi`)).spec.template.spec;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.volumes.filter((v: any) => v.projected).map((v: any) => v.projected.sources)).toEqual([[{ serviceAccountToken: { path: "token", expirationSeconds: 600 } }]]);
    const main = spec.containers.find((c: any) => c.name === "mogi");
    expect(Object.fromEntries(main.env.filter((e: any) => /^CONSUL_(LOGIN_|HTTP_TOKEN)/.test(e.name)).map((e: any) => [e.name, e.value])))
      .toEqual({ CONSUL_LOGIN_METHOD: AUTH_METHOD, CONSUL_LOGIN_BEARER_TOKEN_FILE: "/var/run/secrets/kubernetes.io/serviceaccount/token" });
    // No Secret in the namespace at all (so none holds a Consul token); no static token in the outputs.
    const secrets = (await env.api.call("GET", env.ns("/secrets"))).items as any[];
    expect(secrets.map((s) => s.metadata.name)).toEqual([]);
    const outputs = JSON.parse(await env.project.pulumi(["stack", "output", "--json", "--show-secrets", "--stack", STACK]));
    expect(outputs).not.toHaveProperty("tokenAccessorId");
    expect(outputs).toMatchObject({ namespace: NAMESPACE, consulPolicy: ROLE, consulLogin: { authMethod: AUTH_METHOD, role: ROLE } });
  });

  test("the holder's one Consul credential: a single login token, its own (the one in its token file), local, with the stack's role alone", async () => {
    const { pod, container } = await holderContainer(env);
    const list = await tokensSettled(1);
    expect(described(list).map(({ created, ...rest }) => rest)).toEqual([{ pod, local: true, roles: [ROLE], policies: [], identities: [] }]);
    const secret = ((await env.consul.call("GET", `/v1/acl/token/${(await newestOf(pod)).AccessorID}`)) as any).SecretID;
    expect(readFileSync(`/proc/${container.hostPid}/root/run/consul-lock/consul-acl-token`, "utf8").trim()).toBe(secret);
  });

  test(`pod deleted (${RUNS} runs): one Mogi throughout; the old pod's login token is logged out, the new pod's is the only one`, async () => {
    // The token each holder used when it was deleted: the first one's now, each next one's once it took over.
    const used = [(await newestOf(await holder())).AccessorID];
    const afterRun = async () => void used.push((await newestOf(await holder())).AccessorID);
    const [name, result] = await measureFailover(env, statusCli, SCENARIOS.podDeleted, RUNS, { name: (s) => `login (auth method): ${s}`, afterRun });
    failovers[name] = result;
    const now = await holder();
    const deletedPodsTokens = await waitFor("the deleted pods' tokens to be logged out", async () => {
      const left = (await tokens()).filter((t) => used.slice(0, -1).includes(t.AccessorID));
      return left.length === 0 ? left : undefined;
    }, 30_000, 500).catch(async () => (await tokens()).filter((t) => used.slice(0, -1).includes(t.AccessorID)));
    expect(described(deletedPodsTokens)).toEqual([]);
    expect(described(await tokensSettled(1)).map((t) => t.pod)).toEqual([now]);
  });

  test("another identity cannot log in with the stack's rule: another ServiceAccount of the namespace, Mogi's name in another namespace (the real consul login refused, no token made)", async () => {
    await createServiceAccount(env, NAMESPACE, "not-mogi");
    await ensureNamespace(env, `${NAMESPACE}-other`);
    await createServiceAccount(env, `${NAMESPACE}-other`, "mogi");
    const count = (await tokens()).length;
    for (const [namespace, account] of [[NAMESPACE, "not-mogi"], [`${NAMESPACE}-other`, "mogi"]]) {
      const login = consulLogin(env, AUTH_METHOD, await serviceAccountToken(env, namespace, account), `probe-${account}`);
      expect({ identity: `${namespace}/${account}`, code: login.code, secret: login.secret, output: login.output })
        .toEqual({ identity: `${namespace}/${account}`, code: 1, secret: undefined, output: expect.stringMatching(/403 \(.*Permission denied\)$/) });
    }
    expect((await tokens()).length).toBe(count);
    // The control: Mogi's own ServiceAccount's token logs in (so the refusals above are the rule's), then is logged out.
    const own = consulLogin(env, AUTH_METHOD, await serviceAccountToken(env, NAMESPACE, "mogi"), "probe-mogi");
    expect({ code: own.code, secret: own.secret }).toEqual({ code: 0, secret: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    const probe = (await tokens()).find((t) => podOfToken(t) === "probe-mogi") as any;
    expect(probe.Roles.map((r: any) => r.Name)).toEqual([ROLE]);
    await env.consul.call("DELETE", `/v1/acl/token/${probe.AccessorID}`);
  });

  // Residual, written in components/README.md from this: Consul's kubernetes auth method takes the
  // annotation as serviceaccount.name (kubeauth/k8s.go), so the namespace is the boundary.
  test("residual: a ServiceAccount of Mogi's own namespace annotated consul.hashicorp.com/service-name: mogi logs in with the stack's role (whoever may create it may run a pod as Mogi's ServiceAccount anyway)", async () => {
    await createServiceAccount(env, NAMESPACE, "renamed", { "consul.hashicorp.com/service-name": "mogi" });
    const login = consulLogin(env, AUTH_METHOD, await serviceAccountToken(env, NAMESPACE, "renamed"), "probe-renamed");
    const made = (await tokens()).filter((t) => podOfToken(t) === "probe-renamed");
    for (const t of made) await env.consul.call("DELETE", `/v1/acl/token/${t.AccessorID}`);
    expect({ code: login.code, roles: made.map((t) => t.Roles?.map((r) => r.Name)) }).toEqual({ code: 0, roles: [[ROLE]] });
    // The same annotation in another namespace gets nothing: the namespace clause holds.
    await createServiceAccount(env, `${NAMESPACE}-other`, "renamed", { "consul.hashicorp.com/service-name": "mogi" });
    const elsewhere = consulLogin(env, AUTH_METHOD, await serviceAccountToken(env, `${NAMESPACE}-other`, "renamed"), "probe-renamed-elsewhere");
    expect({ code: elsewhere.code, output: elsewhere.output }).toEqual({ code: 1, output: expect.stringMatching(/403 \(.*Permission denied\)$/) });
  });

  test(`the holder's login token deleted in Consul (${RUNS} runs): Mogi stops within ${MOGI_GONE_AFTER_CONFIRMATION_SECONDS} s, the wrapper logs in again and Mogi is back in the same container, never two at once`, async () => {
    const since = Date.now();
    const down: number[] = [];
    const stopped: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const pod = await holder();
      await statusCli.expectHealthy(pod);
      const restartsBefore = await restarts(pod);
      const old = await newestOf(pod);
      const t0 = Date.now();
      await env.consul.call("DELETE", `/v1/acl/token/${old.AccessorID}`);
      const end = await intervals.endAfter(pod, t0, 60_000);
      stopped.push(end - t0);
      expect(end - t0).toBeLessThanOrEqual(MOGI_GONE_AFTER_CONFIRMATION_SECONDS * 1000 + 1000);
      const fresh = await waitFor("a new login token of the pod", async () => (await tokens()).find((t) => podOfToken(t) === pod && t.CreateIndex > old.CreateIndex), 60_000, 500);
      expect(fresh.Roles?.map((r) => r.Name)).toEqual([ROLE]);
      const next = await intervals.nextStart(t0, 180_000);
      down.push(next.start - end);
      expect({ pod: next.pod, restarts: await restarts(next.pod) }).toEqual({ pod, restarts: restartsBefore });
      console.log(`token deleted, run ${i + 1}: Mogi ended after ${end - t0} ms, back after ${next.start - t0} ms; wrapper:\n${wrapperLines(pod).slice(-9).join("\n")}`);
    }
    failovers["login (auth method): login token deleted in Consul → Mogi back"] = intervals.scenario("login token deleted", down, `time without Mogi; Mogi ended ${stopped.join(", ")} ms after the DELETE (bound ${MOGI_GONE_AFTER_CONFIRMATION_SECONDS} s)`, since);
    await statusCli.expectHealthy(await holder(), 120_000);
  });
});

describe("destroy", () => {
  test("removes the role, the binding rule, the policy and every login token; the platform's auth method stays", async () => {
    await deploy("destroy", ["destroy", "--stack", STACK]);
    await waitFor("the namespace to be gone", async () => (await env.api.request("GET", env.ns())).status === 404, 120_000);
    expect(((await env.consul.call("GET", "/v1/acl/roles")) as any[]).map((r) => r.Name)).not.toContain(ROLE);
    expect(await env.consul.call("GET", `/v1/acl/binding-rules?authmethod=${AUTH_METHOD}`)).toEqual([]);
    expect(((await env.consul.call("GET", "/v1/acl/policies")) as any[]).map((p) => p.Name)).not.toContain(ROLE);
    expect(described(await tokensSettled(0, 60_000))).toEqual([]);
    expect(((await env.consul.call("GET", `/v1/acl/auth-method/${AUTH_METHOD}`)) as any).Type).toBe("kubernetes");
    await waitFor("the pods' processes to end", () => watch.sample().length === 0, 60_000);
  });
});
