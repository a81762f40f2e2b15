/**
 * The lock against a real Consul (1.14, MPL, built by `npm run engines`), with ACLs on and
 * default deny: the stack's own ACL rules and the real wrapper exactly as the render ships it, run
 * as local pods (support/localPod.ts, a stand-in for the kubelet) around a test Mogi.
 *
 * Proves: the rules are sufficient and each one necessary; never two Mogis at once (sampled every
 * 50 ms) through graceful hand-overs, hard losses, lost locks; the wrapper waiting for a Consul
 * that starts late. Measures each hand-over 3 times into test/e2e/results/lock.json.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { lockKey } from "../../components/lockWrapper";
import { engine } from "../engines/paths";
import { ConsulServer } from "./support/consulServer";
import { LocalPod, TEST_IMAGE, testImages } from "./support/localPod";
import { minMedianMax } from "../support/failover";
import { fencingTokens, MogiWatch } from "./support/mogiWatch";
import { freePort, Proc, stopAll, waitFor } from "./support/processes";
import { renderForTest, TestRender, testConfig } from "./support/renderedStack";
import { writeResults } from "./support/results";

const execFileAsync = promisify(execFile);
const TEST_MOGI = path.join(__dirname, "fixtures", "test-mogi.js");
const RUNS = 3;

const dir = mkdtempSync(path.join(tmpdir(), "mogi-e2e-lock-"));
const run = `r${Date.now().toString(36)}`;
const lockPrefix = `e2e/${run}/lock`;
const configPrefix = `e2e/${run}/config`;
const events = path.join(dir, "mogi-events.jsonl");
const watch = new MogiWatch(events);
const consul = new ConsulServer(path.join(dir, "consul"));
const results: Record<string, { runs: number[]; min: number; median: number; max: number; maxConcurrent: number; note: string }> = {};
let render: TestRender;
let token: string;
let consulVersion = "";

/** The stack's configuration for a Consul at `address` (the pod reaches it there too). */
function stackConfig(address: string): Record<string, string> {
  return testConfig({
    "mogi:image": TEST_IMAGE,
    "mogi:command": JSON.stringify([process.execPath, TEST_MOGI]),
    "mogi:kubernetes": "{}",
    "mogi:consul": JSON.stringify({ address, scheme: "http", datacenter: "dc1", inClusterHost: address, lockPrefix, configPrefix, kv: { "log-level": "debug", "feature/dry-run": "true" } }),
  });
}


let pods = 0;
/** Starts one pod of the rendered Deployment as local processes; returns its main process (the wrapper, then `consul lock`). */
function startPod(rendered: TestRender, secretToken: string, images: Record<string, string>): { name: string; main: Proc } {
  pods += 1;
  const name = `mogi-7d9c5-${String(pods).padStart(5, "0")}`;
  const tokenSecret = rendered.deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === "consul-token").secret.secretName;
  const pod = new LocalPod(rendered.deployment.spec.template.spec, {
    podName: name,
    namespace: "mogi-dev",
    root: path.join(dir, "pods", name),
    images,
    sources: { configMap: (n) => rendered.configMaps[n], secret: (n) => (n === tokenSecret ? { token: secretToken } : undefined) },
    extraEnv: { MOGI_EVENTS: events },
    logFile: path.join(dir, "pods", `${name}.log`),
  });
  return { name, main: pod.start() };
}

let images: Record<string, string>;
const holderPod = async () => (await consul.lockHolder(lockKey(lockPrefix)))?.name;

/** Runs a test body; on failure the error carries Consul's log tail. */
async function withLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    (error as Error).message += `\n--- consul log (tail) ---\n${consul.tail(30)}`;
    throw error;
  }
}

function record(scenario: string, runs: number[], note: string): void {
  results[scenario] = { runs: runs.map(Math.round), ...minMedianMax(runs), maxConcurrent: watch.maxConcurrent, note };
}

beforeAll(async () => {
  consulVersion = (await execFileAsync(engine("consul"), ["version"])).stdout.split("\n")[0];
  await consul.start();
  render = await renderForTest(stackConfig(consul.address));
  images = testImages(dir);
  token = await consul.tokenFor(`mogi-e2e-${run}`, render.aclRules);
  for (const [key, value] of Object.entries(render.kv)) await consul.call("PUT", `/v1/kv/${key}`, { body: value });
  watch.start();
}, 120_000);

afterAll(async () => {
  await watch.stop();
  await stopAll();
  const rows = Object.entries(results).map(([scenario, r]) => `${scenario.padEnd(40)} ${String(r.min).padStart(7)} ${String(r.median).padStart(7)} ${String(r.max).padStart(7)}   ${r.maxConcurrent}`);
  if (rows.length) {
    console.log([`${consulVersion}: hand-over in ms (${RUNS} runs each)`, `${"scenario".padEnd(40)} ${"min".padStart(7)} ${"median".padStart(7)} ${"max".padStart(7)}   maxConcurrent`, ...rows].join("\n"));
    writeResults("lock.json", { consul: consulVersion, sampleIntervalMs: 50, samples: watch.samples, scenarios: results });
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("the stack's ACL policy against real Consul (default deny)", () => {
  /** `consul lock` with a token: the exit code and what it said. */
  async function consulLock(secretId: string): Promise<{ code: number; output: string }> {
    try {
      const { stdout, stderr } = await execFileAsync(engine("consul"), ["lock", "-shell=false", "-name=acl-check", lockPrefix, "/bin/true"], {
        env: { PATH: process.env.PATH, CONSUL_HTTP_ADDR: consul.url, CONSUL_HTTP_TOKEN: secretId },
        timeout: 30_000,
      });
      return { code: 0, output: stdout + stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  }

  test("exactly enough: the lock and config reads work, everything else is refused", () => withLogs(async () => {
    await consul.call("PUT", `/v1/kv/e2e/${run}/elsewhere/key`, { body: "other service's" });
    const [configKey] = Object.keys(render.kv);
    const checks: [string, () => Promise<number>, number][] = [
      [`consul lock ${lockPrefix}`, async () => ((await consulLock(token)).code === 0 ? 200 : 403), 200],
      ...Object.keys(render.kv).map((key): [string, () => Promise<number>, number] => [`read ${key}`, async () => (await consul.api("GET", `/v1/kv/${key}`, { token })).status, 200]),
      [`write ${configKey}`, async () => (await consul.api("PUT", `/v1/kv/${configKey}`, { token, body: "changed" })).status, 403],
      [`write e2e/${run}/elsewhere/key`, async () => (await consul.api("PUT", `/v1/kv/e2e/${run}/elsewhere/key`, { token, body: "x" })).status, 403],
      [`read e2e/${run}/elsewhere/key`, async () => (await consul.api("GET", `/v1/kv/e2e/${run}/elsewhere/key`, { token })).status, 403],
      [`write ${lockPrefix}down/x (prefix lookalike)`, async () => (await consul.api("PUT", `/v1/kv/${lockPrefix}down/x`, { token, body: "x" })).status, 403],
      ["list ACL policies", async () => (await consul.api("GET", "/v1/acl/policies", { token })).status, 403],
      ["create an ACL token", async () => (await consul.api("PUT", "/v1/acl/token", { token, body: { Policies: [] } })).status, 403],
      ["operator: raft configuration", async () => (await consul.api("GET", "/v1/operator/raft/configuration", { token })).status, 403],
      ["operator: keyring", async () => (await consul.api("GET", "/v1/operator/keyring", { token })).status, 403],
    ];
    const table: string[] = [];
    for (const [what, check, expected] of checks) {
      const got = await check();
      table.push(`${what.padEnd(56)} expected ${expected}  got ${got}`);
      expect({ what, got }).toEqual({ what, got: expected });
    }
    console.log(`ACL proof with the stack's token (rules: ${render.aclRules}):\n${table.join("\n")}`);
  }));

  test.each(["agent_prefix", "session_prefix", "key_prefix"])("without its %s rule, consul lock fails: the rule is necessary", (rule) => withLogs(async () => {
    const rules = JSON.parse(render.aclRules) as Record<string, Record<string, unknown>>;
    if (rule === "key_prefix") delete rules.key_prefix[`${lockPrefix}/`];
    else delete rules[rule];
    const reduced = await consul.tokenFor(`mogi-e2e-${run}-without-${rule}`, JSON.stringify(rules));
    const { code, output } = await consulLock(reduced);
    console.log(`without ${rule}: consul lock exit ${code}: ${output.trim().split("\n").pop()}`);
    expect(code).not.toBe(0);
    expect(output).toMatch(/Permission denied|403/);
  }));
});

describe("exclusion and hand-over, never two Mogis at once", () => {
  let holder: { name: string; main: Proc };
  const fleet: { name: string; main: Proc }[] = [];
  const start = () => {
    const pod = startPod(render, token, images);
    fleet.push(pod);
    return pod;
  };
  /**
   * The pod whose Mogi runs now, once exactly one runs, Consul's lock is held by that pod's session,
   * and its Mogi has obtained its fencing token (it is at work).
   */
  async function currentHolder(): Promise<{ name: string; main: Proc }> {
    const running = await waitFor("exactly one Mogi running, in the pod holding the lock, with its token", async () => {
      const now = watch.sample();
      if (now.length !== 1 || (await holderPod()) !== now[0].pod) return undefined;
      return watch.events().some((e) => e.event === "token" && e.pid === now[0].pid) ? now[0] : undefined;
    }, 60_000, 20);
    return fleet.find((p) => p.name === running.pod) as { name: string; main: Proc };
  }

  afterEach(async () => {
    await Promise.all(fleet.splice(0).map((p) => p.main.stop(10_000)));
    await waitFor("the lock to be free", async () => (await holderPod()) === undefined, 60_000);
  });

  test("graceful, three wrappers competing: SIGTERM to the holder's consul lock hands over at once", () => withLogs(async () => {
    for (let i = 0; i < 3; i++) start();
    const handovers: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      holder = await currentHolder();
      const [mogi] = watch.sample();
      const signalled = Date.now();
      holder.main.signal("SIGTERM"); // what the kubelet does: the wrapper exec'd into consul lock
      const next = await watch.nextStart(signalled, 30_000, holder.name);
      handovers.push(next.t - signalled);
      expect(await watch.stopOf(mogi.pid, 10_000)).toBeLessThanOrEqual(next.t);
      expect((await holder.main.exited).code).toBe(0);
      start(); // keep three competing
    }
    await currentHolder();
    record("graceful (SIGTERM, 3 wrappers)", handovers, "SIGTERM to the holder's consul lock → next Mogi start");
    expect(watch.maxConcurrent).toBe(1);
  }));

  test("hard loss: the holder's consul lock and Mogi SIGKILLed, taken over after TTL and lock-delay", () => withLogs(async () => {
    start();
    start();
    const takeovers: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      holder = await currentHolder();
      const killed = Date.now();
      holder.main.signalGroup("SIGKILL"); // the node is gone: nothing is released
      const next = await watch.nextStart(killed, 120_000, holder.name);
      takeovers.push(next.t - killed);
      start();
    }
    await currentHolder();
    record("hard loss (SIGKILL, 2 wrappers)", takeovers, "SIGKILL of consul lock and Mogi → next Mogi start (bound: 2×TTL + lock-delay + retry = 50 s)");
    expect(watch.maxConcurrent).toBe(1);
    for (const t of takeovers) expect(t).toBeLessThanOrEqual(60_000);
  }), 15 * 60_000);

  test("lost lock: the holder's session destroyed; its Mogi stops, its wrapper exits, the other takes over after lock-delay", () => withLogs(async () => {
    start();
    start();
    const stops: number[] = [];
    const takeovers: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      holder = await currentHolder();
      const [mogi] = watch.sample();
      const { session } = (await consul.lockHolder(lockKey(lockPrefix))) as { session: string };
      const destroyed = Date.now();
      await consul.call("PUT", `/v1/session/destroy/${session}`);
      stops.push((await watch.stopOf(mogi.pid, 10_000)) - destroyed);
      expect((await holder.main.exited).code).toBe(0); // consul lock exits 0 on a lost lock: the pod restarts
      const next = await watch.nextStart(destroyed, 120_000, holder.name);
      takeovers.push(next.t - destroyed);
      start();
    }
    await currentHolder();
    record("lost lock: Mogi stopped", stops, "session destroyed → the holder's Mogi stopped (bound: monitor retries + 5 s grace)");
    record("lost lock: taken over", takeovers, "session destroyed → the other wrapper's Mogi start (lock-delay 15 s)");
    expect(watch.maxConcurrent).toBe(1);
    for (const t of stops) expect(t).toBeLessThanOrEqual(10_000);
  }), 10 * 60_000);
});

describe("fencing: a token Mogi can trust", () => {
  test("graceful with nobody waiting: the key is deleted, so LockIndex starts again at 1, while ModifyIndex still grows", () => withLogs(async () => {
    const first = startPod(render, token, images);
    const firstToken = await waitFor("the first Mogi's token", () => watch.events().find((e) => e.event === "token" && e.pod === first.name), 30_000);
    first.main.signal("SIGTERM");
    await first.main.exited;
    // consul lock's cleanup (api.Lock.Destroy) removes the key when nobody else holds it.
    await waitFor("the lock key to be deleted", async () => (await consul.api("GET", `/v1/kv/${lockKey(lockPrefix)}`)).status === 404, 10_000);
    const second = startPod(render, token, images);
    const secondToken = await waitFor("the next Mogi's token", () => watch.events().find((e) => e.event === "token" && e.pod === second.name), 30_000);
    expect(secondToken.lockIndex).toBe(1);
    expect(Number(secondToken.lockIndex)).toBeLessThanOrEqual(Number(firstToken.lockIndex)); // LockIndex would refuse the legitimate holder
    expect(Number(secondToken.fencingToken)).toBeGreaterThan(Number(firstToken.fencingToken)); // ModifyIndex does not
    await second.main.stop(10_000);
    await waitFor("the lock to be free", async () => (await holderPod()) === undefined, 30_000);
  }));

  test("across every hand-over above (graceful with and without a waiter, hard loss, lost lock), each new holder's token is greater than all earlier ones", () => {
    const tokens = fencingTokens(watch.events()).get(consul.url) ?? [];
    expect(tokens.length).toBeGreaterThanOrEqual(3 * RUNS);
    const notIncreasing = tokens.filter((t, i) => i > 0 && t.token <= Math.max(...tokens.slice(0, i).map((e) => e.token)));
    expect(notIncreasing).toEqual([]);
    console.log(`fencing tokens (ModifyIndex) of ${tokens.length} holders, in order: ${tokens.map((t) => t.token).join(" < ")}; their LockIndex: ${tokens.map((t) => t.lockIndex).join(", ")}`);
  });
});

describe("Consul unavailable when the pod starts", () => {
  test("the wrapper waits without exiting, then takes the lock as soon as Consul and its token exist", () => withLogs(async () => {
    const delays: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const late = new ConsulServer(path.join(dir, `late-consul-${i}`), { httpPort: await freePort() });
      const rendered = await renderForTest(stackConfig(late.address));
      const secretId = randomUUID();
      const pod = startPod(rendered, secretId, images);
      await waitFor("the wrapper to log a failed check", () => /is not usable yet/.test(pod.main.tail(5)), 30_000);
      await late.start();
      const ready = Date.now();
      await late.tokenFor(`mogi-e2e-late-${i}`, rendered.aclRules, secretId);
      const started = await watch.nextStart(ready, 60_000);
      delays.push(started.t - ready);
      expect(started.pod).toBe(pod.name);
      expect(started.ppid).toBe(pod.main.pid); // the same process: the wrapper never exited
      expect(pod.main.alive).toBe(true);
      await pod.main.stop(10_000);
      await late.stop();
    }
    record("Consul late: token ready → Mogi start", delays, `wrapper started before Consul; checks every 3 s`);
    expect(watch.maxConcurrent).toBe(1);
  }), 5 * 60_000);
});
