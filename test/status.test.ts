/**
 * `npm run status` against local HTTP servers that answer like the Kubernetes and Consul APIs
 * (the real official client talks to them), one per verdict; and the verdict rules on their own.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { main } from "../infra/status/main";
import { loadKubernetesClient, type Facts, type PodFacts } from "../infra/status/facts";
import { assess, updateFirstSeen } from "../infra/status/verdict";

const TOKEN = "status-test-token-never-printed";
const NAMESPACE = "mogi-prod";
const LOCK_KEY = "service/mogi/lock/.lock";
const SELECTOR = { "app.kubernetes.io/name": "mogi", "app.kubernetes.io/instance": "mogi" };

interface World {
  /** The lock key's Session, or no key at all. */
  lock?: { session?: string };
  /** Sessions by ID: the name the wrapper gives them is the pod's. */
  sessions: Record<string, string>;
  pods: { name: string; ready: boolean; terminating?: boolean; node?: string }[];
  /** Nodes that are not Ready (others are Ready). */
  notReadyNodes?: string[];
}

let world: World;
let kubernetes: Server;
let consul: Server;
let dir: string;
const requests: string[] = [];

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}
const port = (server: Server) => (server.address() as { port: number }).port;
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

function pod(p: World["pods"][number]) {
  return {
    metadata: { name: p.name, namespace: NAMESPACE, labels: SELECTOR, creationTimestamp: "2026-11-25T10:00:00Z", ...(p.terminating ? { deletionTimestamp: "2026-11-25T11:00:00Z" } : {}) },
    spec: { nodeName: p.node ?? "worker-1" },
    status: { phase: "Running", conditions: [{ type: "Ready", status: p.ready ? "True" : "False", lastTransitionTime: "2026-11-25T10:00:05Z" }] },
  };
}

// The official Kubernetes client is ESM, compiled for jest on first load: about 2 s alone, over 40 s
// seen on the loaded 2-core machine. Loaded here, with its own limit, so that no test's time
// includes it (status itself loads it before any request's timer starts).
beforeAll(() => loadKubernetesClient(), 180_000);

beforeAll(async () => {
  kubernetes = await listen((req, res) => {
    requests.push(`k8s ${req.url}`);
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/mogi`) {
      json(res, 200, { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "mogi", namespace: NAMESPACE }, spec: { replicas: 1, selector: { matchLabels: SELECTOR } }, status: { readyReplicas: 1 } });
    } else if (url.pathname === `/api/v1/namespaces/${NAMESPACE}/pods` && url.searchParams.get("labelSelector") === "app.kubernetes.io/name=mogi,app.kubernetes.io/instance=mogi") {
      json(res, 200, { apiVersion: "v1", kind: "PodList", metadata: {}, items: world.pods.map(pod) });
    } else if (url.pathname.startsWith("/api/v1/nodes/")) {
      const name = url.pathname.slice("/api/v1/nodes/".length);
      const ready = !(world.notReadyNodes ?? []).includes(name);
      json(res, 200, { apiVersion: "v1", kind: "Node", metadata: { name }, status: { conditions: [{ type: "Ready", status: ready ? "True" : "Unknown", lastTransitionTime: "2026-11-25T10:30:00Z" }] } });
    } else {
      json(res, 404, { kind: "Status", code: 404, message: "not found" });
    }
  });
  consul = await listen((req, res) => {
    requests.push(`consul ${req.url}`);
    if (req.headers["x-consul-token"] !== TOKEN) return json(res, 403, "Permission denied");
    if (req.url === `/v1/kv/${LOCK_KEY}`) {
      return world.lock ? json(res, 200, [{ Key: LOCK_KEY, Session: world.lock.session, LockIndex: 3, ModifyIndex: 1234 }]) : json(res, 404, "");
    }
    const session = /^\/v1\/session\/info\/(.+)$/.exec(req.url ?? "")?.[1];
    if (session) return json(res, 200, world.sessions[session] ? [{ ID: session, Name: world.sessions[session], Node: "consul-server-1", TTL: "15s", LockDelay: 15e9 }] : null);
    json(res, 404, "");
  });
  dir = mkdtempSync(path.join(tmpdir(), "mogi-status-"));
  mkdirSync(path.join(dir, "stacks"));
  writeFileSync(path.join(dir, "kubeconfig"), [
    "apiVersion: v1", "kind: Config",
    // Plain HTTP for the fake API server: the client allows it only with TLS verification off.
    `clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port(kubernetes)}", insecure-skip-tls-verify: true}}]`,
    "users: [{name: u, user: {token: k8s-token}}]",
    "contexts: [{name: prod, context: {cluster: c, user: u}}]",
    "current-context: prod", "",
  ].join("\n"));
  const stack = (consulPort: number, kubeconfig = path.join(dir, "kubeconfig")) => [
    "config:",
    `  mogi:namespace: ${NAMESPACE}`,
    "  mogi:image: quay.io/example/mogi:1.4.2",
    '  mogi:command: ["/usr/local/bin/mogi"]',
    "  mogi:readOnlyRootFilesystem: true",
    "  mogi:networkPolicy: { dns: kube-dns }",
    `  mogi:kubernetes: { kubeconfig: ${kubeconfig}, context: prod }`,
    `  mogi:consul: { address: "127.0.0.1:${consulPort}", scheme: http }`,
    "  mogi:consulToken: { secure: v1:abc }", "",
  ].join("\n");
  writeFileSync(path.join(dir, "stacks", "Pulumi.prod.yaml"), stack(port(consul)));
  writeFileSync(path.join(dir, "stacks", "Pulumi.consul-down.yaml"), stack(1));
  writeFileSync(path.join(dir, "stacks", "Pulumi.k8s-down.yaml"), stack(port(consul), path.join(dir, "kubeconfig-down")));
  writeFileSync(path.join(dir, "kubeconfig-down"), "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"http://127.0.0.1:1\", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: prod, context: {cluster: c, user: u}}]\ncurrent-context: prod\n");
});

afterAll(() => {
  kubernetes.close();
  consul.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `npm run status -- <argv>`: exit code, stdout and stderr; --wait checks every 200 ms here. */
async function status(...argv: string[]): Promise<{ code: number; output: string; errors: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env: { CONSUL_HTTP_TOKEN: TOKEN }, stacksDir: path.join(dir, "stacks"), out: (text) => out.push(text), err: (text) => err.push(text), waitPeriodMs: 200 });
  const [output, errors] = [out.join("\n"), err.join("\n")];
  expect(output + errors).not.toContain(TOKEN);
  return { code, output, errors };
}

const HEALTHY: World = { lock: { session: "5e55-a" }, sessions: { "5e55-a": "mogi-7d9c-aaaaa" }, pods: [{ name: "mogi-7d9c-aaaaa", ready: true }] };
const NOBODY_HOLDS: World = { sessions: {}, pods: [{ name: "mogi-7d9c-bbbbb", ready: false }] };

describe("npm run status, against Kubernetes and Consul APIs", () => {
  test("healthy: one holder, its pod Ready, no other Ready → 0, the holder named", async () => {
    world = HEALTHY;
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(0);
    expect(output).toMatch(/^mogi-7d9c-aaaaa\s+Running\s+yes\s+worker-1\s+\S+\s+holds the lock$/m);
    expect(output).toContain(`${LOCK_KEY} held by session 5e55-a "mogi-7d9c-aaaaa" on node consul-server-1 (TTL 15s, lock-delay 15 s; LockIndex 3, ModifyIndex 1234)`);
    expect(output).toContain("holder mogi-7d9c-aaaaa is Ready since 2026-11-25T10:00:05");
    expect(output.split("\n").pop()).toBe("verdict: healthy (active: mogi-7d9c-aaaaa)");
  });

  test("no holder → 1", async () => {
    world = { sessions: {}, pods: [{ name: "mogi-7d9c-bbbbb", ready: false }] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain(`!!  lock-held     nobody holds ${LOCK_KEY}: the key is absent (released with nobody waiting, or never taken)`);
    expect(output).toMatch(/verdict: DEGRADED$/);
  });

  test("the session is named after a pod that no longer exists (hard-loss window) → 1, with when a new holder is due", async () => {
    world = { lock: { session: "dead-1" }, sessions: { "dead-1": "mogi-7d9c-gone0" }, pods: [{ name: "mogi-7d9c-ccccc", ready: false }] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain("the lock's session is named after pod mogi-7d9c-gone0, which no longer exists: a hard loss");
    expect(output).toContain("expect a new holder within about 50 s of the loss");
  });

  test("the holder's pod is not Ready → 1", async () => {
    world = { lock: { session: "s" }, sessions: { s: "mogi-7d9c-ddddd" }, pods: [{ name: "mogi-7d9c-ddddd", ready: false }] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain("holder mogi-7d9c-ddddd is not Ready");
  });

  test("the holder's node stopped reporting → 1, saying what Kubernetes and the guard do about it", async () => {
    world = { lock: { session: "s" }, sessions: { s: "mogi-7d9c-ggggg" }, pods: [{ name: "mogi-7d9c-ggggg", ready: false, node: "worker-2" }], notReadyNodes: ["worker-2"] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain("pod mogi-7d9c-ggggg is on node worker-2, which is not Ready since 2026-11-25T10:30:00.000Z: its kubelet stopped reporting (node lost or cut off). Kubernetes evicts the pod once its node-loss toleration runs out");
  });

  test("the lock released or expired, a pod waiting for it → 1, naming the waiting pod and the lock-delay", async () => {
    world = { lock: {}, sessions: {}, pods: [{ name: "mogi-7d9c-hhhhh", ready: false }] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain("the key has no session (released, or the holder's session expired or was invalidated: then a waiting pod takes it after the 15 s lock-delay); waiting for it: mogi-7d9c-hhhhh");
  });

  test("two Ready pods → 1, said loudly", async () => {
    world = { lock: { session: "s" }, sessions: { s: "mogi-7d9c-eeeee" }, pods: [{ name: "mogi-7d9c-eeeee", ready: true }, { name: "mogi-7d9c-fffff", ready: true }] };
    const { code, output } = await status("--stack", "prod");
    expect(code).toBe(1);
    expect(output).toContain("MORE THAN ONE POD IS READY (mogi-7d9c-eeeee, mogi-7d9c-fffff): this must never happen");
  });

  test("--json: one object with the verdict and one entry per check", async () => {
    world = { lock: { session: "s" }, sessions: { s: "mogi-7d9c-aaaaa" }, pods: [{ name: "mogi-7d9c-aaaaa", ready: true }] };
    const { code, output } = await status("--stack", "prod", "--json");
    const report = JSON.parse(output);
    expect(code).toBe(0);
    expect(report).toMatchObject({ stack: "prod", verdict: "healthy", exitCode: 0, holder: "mogi-7d9c-aaaaa", lock: { key: LOCK_KEY, present: true, session: "s", lockIndex: 3, modifyIndex: 1234 }, session: { name: "mogi-7d9c-aaaaa", ttl: "15s" } });
    expect(report.checks.map((c: { check: string; ok: boolean }) => [c.check, c.ok])).toEqual([["deployment", true], ["lock-held", true], ["holder-pod", true], ["holder-ready", true], ["one-ready-pod", true]]);
  });

  test.each([
    ["consul-down", /^status: Consul at http:\/\/127\.0\.0\.1:1 is unreachable: connect ECONNREFUSED 127\.0\.0\.1:1$/],
    ["k8s-down", /^status: Kubernetes at http:\/\/127\.0\.0\.1:1 could not be read: /],
  ])("%s: a system unreachable → 2, one line on stderr naming it", async (stack, line) => {
    world = { sessions: {}, pods: [] };
    const { code, output, errors } = await status("--stack", stack);
    expect(code).toBe(2);
    expect(output).toBe("");
    expect(errors).toMatch(line);
    expect(errors.split("\n")).toHaveLength(1);
  });

  test("a token Consul refuses → 2, saying so without printing it", async () => {
    const lines: string[] = [];
    const code = await main(["--stack", "prod"], { env: { CONSUL_HTTP_TOKEN: "wrong" }, stacksDir: path.join(dir, "stacks"), out: (t) => lines.push(`stdout: ${t}`), err: (t) => lines.push(t) });
    expect(code).toBe(2);
    expect(lines).toEqual([expect.stringMatching(/^status: Consul at http:\/\/127\.0\.0\.1:\d+ refused the token \(403\): set CONSUL_HTTP_TOKEN to a token that may read \/v1\/kv\/service\/mogi\/lock\/\.lock$/)]);
  });

  test.each([
    [[], "status: --stack <name> is required"],
    [["--stack", "prod", "--yaml"], 'status: unexpected argument "--yaml"'],
    [["--stack", "prod", "--wait"], "status: --wait needs a value"],
    [["--stack", "prod", "--wait", "soon"], 'status: --wait takes a number of seconds ≥ 0, not "soon"'],
    [["--stack", "prod", "--wait", "-5"], 'status: --wait takes a number of seconds ≥ 0, not "-5"'],
    [["--stack", "prod", "--wait", "5", "--watch"], "status: --watch and --wait exclude each other"],
  ])("usage %j → 2, one line on stderr saying what is wrong and where the usage is", async (argv, line) => {
    const { code, output, errors } = await status(...argv);
    expect(code).toBe(2);
    expect(output).toBe("");
    expect(errors).toBe(`${line}; see \`npm run status -- --help\``);
  });

  test("an unknown stack → 2, one line listing the known ones", async () => {
    const { code, errors } = await status("--stack", "nope", "--wait", "30");
    expect(code).toBe(2);
    expect(errors).toBe('status: unknown stack "nope"; known stacks: consul-down, k8s-down, prod');
  });
});

describe("npm run status -- --wait <seconds>", () => {
  /** Milliseconds since `start`. */
  const since = (start: number) => Date.now() - start;

  test("healthy at once → 0 at once, with the report", async () => {
    world = HEALTHY;
    const { code, output, errors } = await status("--stack", "prod", "--wait", "30");
    expect(code).toBe(0);
    expect(output.split("\n").pop()).toBe("verdict: healthy (active: mogi-7d9c-aaaaa)");
    expect(errors).toBe("");
  });

  test("degraded, then healthy within the time → 0, having said what it waited for", async () => {
    world = NOBODY_HOLDS;
    const healed = setTimeout(() => (world = HEALTHY), 1_000);
    try {
      const { code, output, errors } = await status("--stack", "prod", "--wait", "30");
      expect(code).toBe(0);
      expect(output.split("\n").pop()).toBe("verdict: healthy (active: mogi-7d9c-aaaaa)");
      // One line per change of reason, not one per check (about 5 here). A second line is possible:
      // a check whose Consul read came before the change and Kubernetes read after it.
      const lines = errors.split("\n");
      expect(lines[0]).toMatch(/^status: waiting up to \d+ s more for prod to be healthy: lock-held: nobody holds service\/mogi\/lock\/\.lock: the key is absent/);
      expect(lines.length).toBeLessThanOrEqual(2);
      for (const line of lines) expect(line).toMatch(/^status: waiting up to \d+ s more for prod to be healthy: /);
    } finally {
      clearTimeout(healed);
    }
  });

  test("degraded throughout → 1 once the time is up, with the failing checks", async () => {
    world = NOBODY_HOLDS;
    const start = Date.now();
    const { code, output, errors } = await status("--stack", "prod", "--wait", "2");
    expect(code).toBe(1);
    expect(since(start)).toBeGreaterThanOrEqual(2_000);
    expect(output).toMatch(/verdict: DEGRADED$/);
    expect(errors.split("\n").pop()).toMatch(/^status: prod not healthy within 2 s: lock-held: nobody holds service\/mogi\/lock\/\.lock: the key is absent \(released with nobody waiting, or never taken\); waiting for it: mogi-7d9c-bbbbb \(for \d+ s\)$/);
  });

  test("--json: the last report as one JSON object, the waiting on stderr", async () => {
    world = NOBODY_HOLDS;
    const { code, output, errors } = await status("--stack", "prod", "--wait", "1", "--json");
    expect(code).toBe(1);
    expect(JSON.parse(output)).toMatchObject({ verdict: "degraded", exitCode: 1 });
    expect(errors).toContain("status: prod not healthy within 1 s: lock-held: nobody holds");
  });

  test("a system unreachable throughout → 2 once the time is up, naming it", async () => {
    const start = Date.now();
    const { code, errors } = await status("--stack", "consul-down", "--wait", "1");
    expect(code).toBe(2);
    expect(since(start)).toBeGreaterThanOrEqual(1_000);
    expect(errors.split("\n").pop()).toBe("status: consul-down not healthy within 1 s: Consul at http://127.0.0.1:1 is unreachable: connect ECONNREFUSED 127.0.0.1:1");
  });

  test("a token Consul refuses ends the wait at once: asking again cannot help", async () => {
    world = HEALTHY;
    const start = Date.now();
    const code = await main(["--stack", "prod", "--wait", "60"], { env: { CONSUL_HTTP_TOKEN: "wrong" }, stacksDir: path.join(dir, "stacks"), out: () => undefined, err: () => undefined, waitPeriodMs: 200 });
    expect(code).toBe(2);
    expect(since(start)).toBeLessThan(30_000);
  });
});

describe("the verdict rules", () => {
  const facts = (over: Partial<Facts> & { pods: PodFacts[] }): Facts => ({
    stack: "s", namespace: "n", deploymentName: "mogi", observedAt: Date.parse("2026-11-25T12:00:00Z"),
    lock: { key: LOCK_KEY, present: true, session: "s1", lockIndex: 1, modifyIndex: 10 },
    session: { id: "s1", name: "p1", node: "n1", ttl: "15s", lockDelaySeconds: 15 },
    deployment: { replicas: 1, readyReplicas: 1 }, ...over,
  });
  const ready = (name: string, extra: Partial<PodFacts> = {}): PodFacts => ({ name, phase: "Running", ready: true, terminating: false, ...extra });

  test("a Ready pod that does not hold the lock is degraded, even when the holder is fine", () => {
    const a = assess(facts({ pods: [ready("p1"), ready("p2")] }));
    expect(a.verdict).toBe("degraded");
    const stray = assess(facts({ pods: [ready("p1", { ready: false }), ready("p2")] }));
    expect(stray.checks.find((c) => c.check === "one-ready-pod")?.message).toBe("pod p2 is Ready but does not hold the lock: it serves without the lock");
  });

  test("a terminating holder means a hand-over is under way", () => {
    const a = assess(facts({ pods: [ready("p1", { terminating: true })] }));
    expect(a.checks.find((c) => c.check === "holder-ready")).toEqual({ check: "holder-ready", ok: false, message: "holder p1 is terminating: a hand-over is under way" });
  });

  test("a Deployment that is missing or not at one replica is degraded", () => {
    expect(assess(facts({ deployment: undefined, pods: [ready("p1")] })).checks[0].message).toBe("Deployment mogi does not exist in namespace n: is the stack deployed?");
    expect(assess(facts({ deployment: { replicas: 2 }, pods: [ready("p1")] })).verdict).toBe("degraded");
  });

  test("--watch says for how long a problem lasts, and when a lost holder's lock comes free", () => {
    const lost = facts({ session: { id: "s1", name: "gone", node: "n1", ttl: "15s", lockDelaySeconds: 15 }, pods: [ready("p2", { ready: false })] });
    const first = assess(lost);
    const seen = updateFirstSeen({}, first, lost.observedAt);
    const later = assess({ ...lost, observedAt: lost.observedAt + 12_000 }, seen);
    const message = later.checks.find((c) => c.check === "holder-pod")?.message;
    expect(message).toContain("expect a new holder by about 12:00:50 UTC (measured: 45.1 s) (for 12 s)");
    expect(updateFirstSeen(seen, assess(facts({ pods: [ready("p1")] })), lost.observedAt + 60_000)).toEqual({});
  });
});
