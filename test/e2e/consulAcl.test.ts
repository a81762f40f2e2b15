/**
 * The stack's Consul token against a real Consul (1.14, MPL, built by `npm run engines`), ACLs on
 * and default deny: the ACL rules ConsulAccess generates for the default settings, bound to a
 * local token as ConsulAccess declares it, used by the real wrapper exactly as the render ships it
 * (local pods, support/localPod.ts) and by `consul lock` itself.
 *
 * Two servers of one datacenter: `consul-server-0`, named as the consul-k8s chart names its servers
 * (covered by the default mogi:consul.sessionNodePrefix, "consul-server-"), and `vault-server-0`,
 * a node of another name (another service's, which the pod's token must not reach).
 *
 * Proves: the rules are sufficient (the wrapper starts Mogi) and each one necessary (without it the
 * wrapper never starts Mogi, or Mogi cannot read its configuration); a session another service
 * holds on another node cannot be destroyed, renewed or seen with the pod's token (403), while the
 * old `session_prefix ""` could destroy it; and what the node prefix cannot separate (a session on
 * the servers' own nodes), so that components/README.md says it from evidence.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { promisify } from "node:util";
import { lockKey } from "../../components/lockWrapper";
import { engine } from "../engines/paths";
import { ConsulServer } from "./support/consulServer";
import { LockPods, TestPod } from "./support/lockPods";
import { testImages } from "./support/localPod";
import { lockStackConfig, lockSuite } from "./support/lockSuite";
import { freePort, removeWorkDir, sleep, stopAll, waitFor } from "./support/processes";
import { renderForTest, TestRender } from "./support/renderedStack";

const execFileAsync = promisify(execFile);
/** How long a wrapper with a reduced token is watched: its checks and rounds retry every 3 s. */
const REFUSED_FOR_MS = 15_000;

const suite = lockSuite("acl");
const { dir, run, lockPrefix, configPrefix, watch, intervals } = suite;
let servers: ConsulServer[];
/** The chart-named server the pods talk to, and the node of another name. */
let ours: ConsulServer;
let theirs: ConsulServer;
let render: TestRender;
let token: string;
let pods: LockPods;

/** A local token (as ConsulAccess declares it) bound to a new policy with `rules`; its secret ID. */
async function localToken(name: string, rules: string): Promise<string> {
  const secretId = randomUUID();
  await ours.call("PUT", "/v1/acl/policy", { body: { Name: name, Rules: rules } });
  await ours.call("PUT", "/v1/acl/token", { body: { Description: name, SecretID: secretId, Policies: [{ Name: name }], Local: true } });
  // Each server resolves tokens from its own state, which a follower applies a moment after the
  // leader commits ("ACL not found" until then; /v1/acl/token/self would be forwarded to the leader).
  const known = (s: ConsulServer) => s.api("GET", "/v1/agent/self", { token: secretId }).then((r) => !r.text.includes("ACL not found"));
  await waitFor(`token ${name} known to both servers`, async () => (await Promise.all(servers.map(known))).every(Boolean), 10_000);
  return secretId;
}

/** `consul lock` through `server` with a token: the exit code and what it said. */
async function consulLock(secretId: string, server: ConsulServer = ours): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(engine("consul"), ["lock", "-shell=false", "-name=acl-check", lockPrefix, "/bin/true"], {
      env: { PATH: process.env.PATH, CONSUL_HTTP_ADDR: server.url, CONSUL_HTTP_TOKEN: secretId },
      timeout: 30_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

/** Another service's lock: its own token (the old, unscoped session rule), a session created through `server`, the key acquired. */
async function otherServiceLock(server: ConsulServer, name: string): Promise<{ session: string; key: string }> {
  const prefix = `e2e/${run}/${name}/lock`;
  const secretId = await localToken(`${name}-${run}`, JSON.stringify({ key_prefix: { [`${prefix}/`]: { policy: "write" } }, session_prefix: { "": { policy: "write" } } }));
  const { ID: session } = (await server.call("PUT", "/v1/session/create", { token: secretId, body: { Name: name, TTL: "60s" } })) as { ID: string };
  const key = lockKey(prefix);
  expect(await server.call("PUT", `/v1/kv/${key}?acquire=${session}`, { token: secretId, body: name })).toBe(true);
  return { session, key };
}

const sessionNode = async (id: string) => ((await ours.call("GET", `/v1/session/info/${id}`)) as { Node: string }[] | null)?.[0]?.Node;
const keySession = async (key: string) => ((await ours.call("GET", `/v1/kv/${key}`)) as { Session?: string }[])[0].Session;

beforeAll(async () => {
  const managementToken = randomUUID();
  const serf = [await freePort(), await freePort()];
  servers = ["consul-server-0", "vault-server-0"].map((nodeName, i) => new ConsulServer(path.join(dir, nodeName), {
    nodeName, managementToken, bootstrapExpect: 2, serfLanPort: serf[i], join: [`127.0.0.1:${serf[1 - i]}`],
  }));
  await Promise.all(servers.map((s) => s.start()));
  [ours, theirs] = servers;
  // No sessionNodePrefix: the default, the chart's server names.
  render = await renderForTest(lockStackConfig(suite, ours.address));
  token = await localToken(`mogi-e2e-${run}`, render.aclRules);
  for (const [key, value] of Object.entries(render.kv)) await ours.call("PUT", `/v1/kv/${key}`, { body: value });
  pods = new LockPods({ dir, watch, intervals, images: testImages(dir), scheme: "http", holderPod: async () => (await ours.lockHolder(lockKey(lockPrefix)))?.name });
}, 120_000);

afterAll(async () => {
  await pods?.endTest().catch(() => undefined);
  await stopAll();
  await pods?.stopLinks();
  removeWorkDir(dir);
});

/** Runs a test body; on failure the error carries both servers' log tails. */
async function withLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    (error as Error).message += servers.map((s) => `\n--- ${s.nodeName} log (tail) ---\n${s.tail(20)}`).join("");
    throw error;
  }
}

describe("the stack's token against real Consul (default deny)", () => {
  afterEach(() => pods.endTest(), 120_000);

  test("the rules as generated: scoped to the chart's server nodes", () => {
    expect(JSON.parse(render.aclRules)).toEqual({
      key_prefix: { [`${lockPrefix}/`]: { policy: "write" }, [`${configPrefix}/`]: { policy: "read" } },
      session_prefix: { "consul-server-": { policy: "write" } },
      agent_prefix: { "consul-server-": { policy: "read" } },
    });
  });

  test("sufficient: the wrapper takes the lock and starts Mogi; exactly these calls are allowed", () => withLogs(async () => {
    const since = Date.now();
    const pod = await pods.start(render, token, ours.httpPort);
    const started = await intervals.nextStart(since, 60_000, { in: pod.name });
    console.log(`with the stack's token, Mogi started ${started.start - since} ms after its pod`);
    await pods.endTest();
    await ours.call("PUT", `/v1/kv/e2e/${run}/elsewhere/key`, { body: "another service's" });
    const [configKey] = Object.keys(render.kv);
    const status = async (server: ConsulServer, method: string, url: string, body?: unknown) => (await server.api(method, url, { token, body })).status;
    const checks: [string, () => Promise<number>, number][] = [
      [`consul lock ${lockPrefix} (through consul-server-0)`, async () => ((await consulLock(token)).code === 0 ? 200 : 403), 200],
      [`read ${configKey}`, () => status(ours, "GET", `/v1/kv/${configKey}`), 200],
      ["agent self on consul-server-0", () => status(ours, "GET", "/v1/agent/self"), 200],
      ["agent self on vault-server-0 (another node)", () => status(theirs, "GET", "/v1/agent/self"), 403],
      ["agent monitor (log stream) on vault-server-0", () => status(theirs, "GET", "/v1/agent/monitor?loglevel=info&logjson"), 403],
      ["create a session on vault-server-0", () => status(theirs, "PUT", "/v1/session/create", { Name: "x" }), 403],
      [`write ${configKey}`, () => status(ours, "PUT", `/v1/kv/${configKey}`, "changed"), 403],
      [`write e2e/${run}/elsewhere/key`, () => status(ours, "PUT", `/v1/kv/e2e/${run}/elsewhere/key`, "x"), 403],
      [`read e2e/${run}/elsewhere/key`, () => status(ours, "GET", `/v1/kv/e2e/${run}/elsewhere/key`), 403],
      [`write ${lockPrefix}down/x (prefix lookalike)`, () => status(ours, "PUT", `/v1/kv/${lockPrefix}down/x`, "x"), 403],
      ["list ACL policies", () => status(ours, "GET", "/v1/acl/policies"), 403],
      ["create an ACL token", () => status(ours, "PUT", "/v1/acl/token", { Policies: [] }), 403],
      ["operator: raft configuration", () => status(ours, "GET", "/v1/operator/raft/configuration"), 403],
      ["operator: keyring", () => status(ours, "GET", "/v1/operator/keyring"), 403],
    ];
    const table: string[] = [];
    for (const [what, check, expected] of checks) {
      const got = await check();
      table.push(`${what.padEnd(56)} expected ${expected}  got ${got}`);
      expect({ what, got }).toEqual({ what, got: expected });
    }
    console.log(`ACL proof with the stack's local token (rules: ${render.aclRules}):\n${table.join("\n")}`);
    // Served by a server whose node the rules do not name, consul lock is refused before locking.
    const elsewhere = await consulLock(token, theirs);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.output).toMatch(/Permission denied.*agent:read.*vault-server-0/);
  }));

  test("necessary: without any one lock rule the wrapper never starts Mogi, and consul lock fails with 403", () => withLogs(async () => {
    const rules = () => JSON.parse(render.aclRules) as Record<string, Record<string, unknown>>;
    const without: Record<string, () => Record<string, Record<string, unknown>>> = {
      agent_prefix: () => ({ ...rules(), agent_prefix: {} }),
      session_prefix: () => ({ ...rules(), session_prefix: {} }),
      "key_prefix (lock)": () => { const r = rules(); delete r.key_prefix[`${lockPrefix}/`]; return r; },
    };
    // What each refusal looks like in the pod's log (Consul's PermissionDeniedError names the permission).
    const denied: Record<string, RegExp> = {
      agent_prefix: /403 \((?:rpc error making call: )?Permission denied: token with AccessorID '[^']+' lacks permission 'agent:read' on "consul-server-0"\)/,
      session_prefix: /403 \((?:rpc error making call: )?Permission denied: token with AccessorID '[^']+' lacks permission 'session:write' on "consul-server-0"\)/,
      "key_prefix (lock)": /403 \((?:rpc error making call: )?Permission denied: token with AccessorID '[^']+' lacks permission 'key:(read|write)' on ".*\/\.lock"\)/,
    };
    const since = Date.now();
    const started: [string, TestPod, string][] = [];
    for (const [rule, reduce] of Object.entries(without)) {
      const reduced = await localToken(`mogi-e2e-${run}-without-${rule.replace(/\W+/g, "-")}`, JSON.stringify(reduce()));
      const direct = await consulLock(reduced);
      expect({ rule, code: direct.code }).toEqual({ rule, code: 1 });
      expect(direct.output).toMatch(denied[rule]);
      started.push([rule, await pods.start(render, reduced, ours.httpPort), direct.output.trim().split("\n").pop() as string]);
    }
    await sleep(REFUSED_FOR_MS);
    for (const [rule, pod, line] of started) {
      console.log(`without ${rule}: consul lock: ${line}\n  the wrapper, ${REFUSED_FOR_MS / 1000} s: ${pod.main.tail(40).split("\n").filter((l) => denied[rule].test(l)).length} refusals logged, Mogi started: ${intervals.since(since).some((i) => i.pod === pod.name)}`);
      expect({ rule, log: denied[rule].test(pod.main.tail(40)) }).toEqual({ rule, log: true });
      expect(pod.main.alive).toBe(true); // it waits for the lock, without exiting
    }
    expect(intervals.since(since)).toEqual([]); // no Mogi started anywhere
    expect(await ours.lockHolder(lockKey(lockPrefix))).toBeUndefined();
  }), 120_000);

  test("necessary: without its configuration rule Mogi cannot read its configuration (the lock does not need it)", () => withLogs(async () => {
    const reduced = JSON.parse(render.aclRules);
    delete reduced.key_prefix[`${configPrefix}/`];
    const secretId = await localToken(`mogi-e2e-${run}-without-config`, JSON.stringify(reduced));
    for (const key of Object.keys(render.kv)) {
      expect((await ours.api("GET", `/v1/kv/${key}`, { token: secretId })).status).toBe(403);
      expect((await ours.api("GET", `/v1/kv/${key}`, { token })).status).toBe(200);
    }
    expect((await consulLock(secretId)).code).toBe(0);
  }));

  test("another service's session on another node: 403 to destroy, renew or see it; the old session_prefix \"\" destroyed it", () => withLogs(async () => {
    const other = await otherServiceLock(theirs, "other-service");
    expect(await sessionNode(other.session)).toBe("vault-server-0");
    const destroy = await ours.api("PUT", `/v1/session/destroy/${other.session}`, { token });
    const renew = await ours.api("PUT", `/v1/session/renew/${other.session}`, { token });
    const info = await ours.api("GET", `/v1/session/info/${other.session}`, { token });
    const listed = await ours.api("GET", "/v1/session/list", { token });
    console.log(`another service's session on vault-server-0, with the pod's token: destroy ${destroy.status} (${destroy.text.trim()}), renew ${renew.status}, info ${info.status} ${info.text.trim()}`);
    expect([destroy.status, renew.status]).toEqual([403, 403]);
    expect(destroy.text).toMatch(/lacks permission 'session:write' on "vault-server-0"/);
    expect(info.body ?? []).toEqual([]); // filtered out: the token cannot read sessions there
    expect((listed.body as { ID: string }[]).map((s) => s.ID)).not.toContain(other.session);
    expect(await keySession(other.key)).toBe(other.session); // its lock still held
    // The rule this change removed: the same call succeeds, and releases the other service's lock.
    const unscoped = JSON.parse(render.aclRules);
    unscoped.session_prefix = { "": { policy: "write" } };
    const oldToken = await localToken(`mogi-e2e-${run}-unscoped`, JSON.stringify(unscoped));
    expect((await ours.api("PUT", `/v1/session/destroy/${other.session}`, { token: oldToken })).status).toBe(200);
    expect(await keySession(other.key)).toBeUndefined();
  }));

  test("what the prefix cannot separate: a session another token created through a chart server is on that server's node, within reach", () => withLogs(async () => {
    // Consul checks session write on the session's node only (agent/consul/session_endpoint.go),
    // not on who created it: components/README.md states this limit.
    const other = await otherServiceLock(ours, "same-node-service");
    expect(await sessionNode(other.session)).toBe("consul-server-0");
    expect((await ours.api("PUT", `/v1/session/destroy/${other.session}`, { token })).status).toBe(200);
    await waitFor("the other service's lock to be released", async () => (await keySession(other.key)) === undefined, 10_000);
  }));
});
