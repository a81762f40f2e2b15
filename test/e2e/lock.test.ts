/**
 * The lock against a real Consul (1.14, MPL, built by `npm run engines`), with ACLs on and
 * default deny: the stack's own ACL rules and the real wrapper exactly as the render ships it, run
 * as local pods (support/localPod.ts, a stand-in for the kubelet) around a test Mogi.
 *
 * Each pod reaches Consul through a link of its own (support/tcpService.ts), which a test can cut
 * silently (a partition) or make refuse connections, while the pod's processes keep running.
 *
 * Proves: never two Mogis at once, judged from
 * the intervals Mogi's parent observed (support/mogiIntervals.ts), through graceful hand-overs,
 * hard losses, lost locks, a silently partitioned holder and a holder cut off from Consul for
 * 20 s; the wrapper waiting for a Consul that starts late, and for the lock again after losing
 * it. Measures each scenario 3 times into test/e2e/results/lock.json.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as path from "node:path";
import { promisify } from "node:util";
import { fenceKey, lockKey } from "../../components/lockWrapper";
import { engine } from "../engines/paths";
import { ConsulServer } from "./support/consulServer";
import { gracefulHandovers, hardLossTakeovers, HANDOVER_NOTES, LockPods } from "./support/lockPods";
import { testImages } from "./support/localPod";
import { lockStackConfig, lockSuite } from "./support/lockSuite";
import { fencingTokens } from "./support/mogiWatch";
import type { ScenarioResult } from "./support/mogiIntervals";
import { freePort, removeWorkDir, sleep, stopAll, waitFor } from "./support/processes";
import { renderForTest, TestRender } from "./support/renderedStack";
import { writeResults } from "./support/results";

const execFileAsync = promisify(execFile);
const RUNS = 3;

const suite = lockSuite("lock");
const { dir, run, lockPrefix, watch, intervals } = suite;
// Its node is consul-server-0, as the consul-k8s chart names servers, which the default
// mogi:consul.sessionNodePrefix covers (consulAcl.test.ts proves the token needs it).
const consul = new ConsulServer(path.join(dir, "consul"));
const results: Record<string, ScenarioResult> = {};
let render: TestRender;
let token: string;
let consulVersion = "";

/** The stack's configuration for a Consul at `address` (the pod reaches it there too). */
function stackConfig(address: string): Record<string, string> {
  return lockStackConfig(suite, address, { consul: { kv: { "log-level": "debug", "feature/dry-run": "true" } } });
}

const holderPod = async () => (await consul.lockHolder(lockKey(lockPrefix)))?.name;
/** The pods, once the images exist (beforeAll). */
let pods: LockPods;
const startPod = (rendered: TestRender, secretToken: string, consulPort: number) => pods.startPod(rendered, secretToken, consulPort);

/** Runs a test body; on failure the error carries Consul's log tail. */
async function withLogs(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    (error as Error).message += `\n--- consul log (tail) ---\n${consul.tail(30)}`;
    throw error;
  }
}

/** Records a scenario, once the intervals since it began show never two Mogis and positive margins. */
function record(scenario: string, runs: number[], note: string, since: number): void {
  results[scenario] = intervals.scenario(scenario, runs, note, since);
}

beforeAll(async () => {
  consulVersion = (await execFileAsync(engine("consul"), ["version"])).stdout.split("\n")[0];
  await consul.start();
  render = await renderForTest(stackConfig(consul.address));
  pods = new LockPods({ dir, watch, intervals, images: testImages(dir), scheme: "http", holderPod });
  token = await consul.tokenFor(`mogi-e2e-${run}`, render.aclRules);
  for (const [key, value] of Object.entries(render.kv)) await consul.call("PUT", `/v1/kv/${key}`, { body: value });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await pods?.stopLinks();
  const rows = Object.entries(results).map(([scenario, r]) => `${scenario.padEnd(48)} ${String(r.min).padStart(7)} ${String(r.median).padStart(7)} ${String(r.max).padStart(7)}   ${r.maxConcurrent}   ${r.marginMs ? `${r.marginMs.min}/${r.marginMs.median}/${r.marginMs.max}` : "-"}`);
  if (rows.length) {
    console.log([`${consulVersion}: ms (${RUNS} runs each)`, `${"scenario".padEnd(48)} ${"min".padStart(7)} ${"median".padStart(7)} ${"max".padStart(7)}   maxConcurrent   margin min/median/max`, ...rows].join("\n"));
    writeResults("lock.json", { consul: consulVersion, overlapJudgedBy: "intervals observed by Mogi's parent (the wrapper's log lines, stamped on read; SIGKILL time for killed pods)", scenarios: results });
  }
  removeWorkDir(dir);
});

describe("exclusion and hand-over, never two Mogis at once (parent-observed)", () => {
  const start = () => pods.start(render, token, consul.httpPort);
  const currentHolder = () => pods.currentHolder();
  afterEach(() => pods.endTest(), 120_000);

  test("graceful, three wrappers competing: SIGTERM to the holder's wrapper hands over at once", () => withLogs(async () => {
    const since = Date.now();
    record("graceful (SIGTERM, 3 wrappers)", await gracefulHandovers(pods, start, RUNS, intervals), HANDOVER_NOTES.graceful, since);
  }));

  test("hard loss: the holder's processes SIGKILLed, taken over after TTL and lock-delay", () => withLogs(async () => {
    const since = Date.now();
    const takeovers = await hardLossTakeovers(pods, start, RUNS, intervals);
    record("hard loss (SIGKILL, 2 wrappers)", takeovers, HANDOVER_NOTES.hardLoss, since);
    for (const t of takeovers) expect(t).toBeLessThanOrEqual(60_000);
  }), 15 * 60_000);

  // Which wrapper takes the lock after the lock-delay is a race: each retries every 5 s from its
  // own phase (consul lock's DefaultLockRetryTime), and the old holder's wrapper is back waiting
  // within a second. Either is right; what must hold is that nobody runs Mogi before the lock-delay.
  test("lost lock: the holder's session destroyed; its Mogi stops, its wrapper waits again (same process), one Mogi runs again after lock-delay", () => withLogs(async () => {
    const since = Date.now();
    await start();
    await start();
    const stops: number[] = [];
    const takeovers: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await currentHolder();
      const { session } = (await consul.lockHolder(lockKey(lockPrefix))) as { session: string };
      const destroyed = Date.now();
      await consul.call("PUT", `/v1/session/destroy/${session}`);
      stops.push((await intervals.endAfter(holder.name, destroyed, 10_000)) - destroyed);
      const next = await intervals.nextStart(destroyed, 120_000);
      takeovers.push(next.start - destroyed);
      expect(next.start - destroyed).toBeGreaterThanOrEqual(15_000); // the lock-delay kept everyone out
      expect(holder.main.alive).toBe(true); // no container exit, so no restart back-off
    }
    await currentHolder();
    record("lost lock: Mogi stopped", stops, "session destroyed → the holder's Mogi ended (bound: the next read or consul lock's monitor + 4 s grace)", since);
    record("lost lock: taken over", takeovers, "session destroyed → the next Mogi start, in whichever wrapper won the lock (lock-delay 15 s)", since);
    for (const t of stops) expect(t).toBeLessThanOrEqual(10_000);
  }), 10 * 60_000);

  test("lost lock with nobody waiting: Mogi back after the lock-delay in the same wrapper process", () => withLogs(async () => {
    const since = Date.now();
    const pod = await start();
    const back: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await currentHolder();
      const { session } = (await consul.lockHolder(lockKey(lockPrefix))) as { session: string };
      const destroyed = Date.now();
      await consul.call("PUT", `/v1/session/destroy/${session}`);
      await intervals.endAfter(pod.name, destroyed, 10_000);
      const again = await intervals.nextStart(destroyed, 60_000, { in: pod.name });
      back.push(again.start - destroyed);
      expect(pod.main.alive).toBe(true);
      expect(again.start - destroyed).toBeGreaterThanOrEqual(15_000); // the lock-delay
    }
    record("lost lock, nobody waiting: Mogi back", back, "session destroyed → Mogi started again by the same wrapper (lock-delay 15 s + a waiter's retry)", since);
  }), 10 * 60_000);

  test("silent partition of the holder: its Mogi stops before another pod's Mogi starts, by more than 3 s", () => withLogs(async () => {
    const since = Date.now();
    await start();
    await start();
    const stopped: number[] = [];
    const takeovers: number[] = [];
    const margins: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await currentHolder();
      const cut = Date.now();
      holder.link.set("blackhole"); // the holder's processes run on; its packets to Consul vanish
      const end = await intervals.endAfter(holder.name, cut, 30_000);
      stopped.push(end - cut);
      const next = await intervals.nextStart(cut, 120_000, { except: holder.name });
      takeovers.push(next.start - cut);
      margins.push(next.start - end);
      expect(holder.main.alive).toBe(true);
      holder.link.set("up");
    }
    await currentHolder();
    record("silent partition: holder's Mogi stopped", stopped, "holder's link black-holed → its Mogi tree ended (bound: deadline 6 s + tick 1 s + grace 4 s + starvation 2 s = 13 s)", since);
    record("silent partition: taken over", takeovers, "holder's link black-holed → the other pod's Mogi start (session expiry ≤ 30 s + lock-delay 15 s + retry)", since);
    for (const m of margins) expect(m).toBeGreaterThanOrEqual(3_000);
  }), 15 * 60_000);

  test("Consul unreachable for the holder for 20 s, then back: Mogi stops within the deadline, one Mogi runs again afterwards", () => withLogs(async () => {
    const since = Date.now();
    await start();
    await start();
    const stopped: number[] = [];
    const back: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await currentHolder();
      const cut = Date.now();
      holder.link.set("refuse");
      stopped.push((await intervals.endAfter(holder.name, cut, 30_000)) - cut);
      await sleep(Math.max(0, cut + 20_000 - Date.now()));
      holder.link.set("up");
      const next = await intervals.nextStart(cut, 120_000);
      back.push(next.start - cut);
      expect(holder.main.alive).toBe(true);
    }
    await currentHolder();
    record("Consul unreachable 20 s: holder's Mogi stopped", stopped, "holder's connections refused → its Mogi tree ended (consul lock's monitor retries, or the wrapper's deadline)", since);
    record("Consul unreachable 20 s: a Mogi back", back, "holder's connections refused for 20 s → the next Mogi start in either pod (the old session expires, then lock-delay)", since);
  }), 15 * 60_000);
});

describe("fencing: a token Mogi can trust", () => {
  test("graceful with nobody waiting: consul lock deletes .lock, the fence key stays (released as stopped), and the next token is greater", () => withLogs(async () => {
    const since = Date.now();
    const first = await startPod(render, token, consul.httpPort);
    const firstToken = await waitFor("the first Mogi's token", () => watch.events().find((e) => e.event === "token" && e.pod === first.name), 30_000);
    first.main.signal("SIGTERM");
    await first.main.exited;
    // consul lock's cleanup (api.Lock.Destroy) removes .lock when nobody else holds it; LockIndex
    // therefore restarts at 1 and cannot order holders. The fence key is released, never deleted.
    await waitFor("the lock key to be deleted", async () => (await consul.api("GET", `/v1/kv/${lockKey(lockPrefix)}`)).status === 404, 10_000);
    const [fence] = (await consul.call("GET", `/v1/kv/${fenceKey(lockPrefix)}`)) as { Session?: string; Value: string }[];
    expect(fence.Session ?? "").toBe("");
    expect(Buffer.from(fence.Value, "base64").toString()).toMatch(new RegExp(`^stopped ${first.name} `));
    const second = await startPod(render, token, consul.httpPort);
    const secondToken = await waitFor("the next Mogi's token", () => watch.events().find((e) => e.event === "token" && e.pod === second.name), 30_000);
    expect(Number(secondToken.fencingToken)).toBeGreaterThan(Number(firstToken.fencingToken)); // ModifyIndex only grows
    await second.main.stop(10_000);
    await waitFor("the lock to be free", async () => (await holderPod()) === undefined, 30_000);
    expect(intervals.maxConcurrent(since)).toBe(1);
  }));

  test("across every hand-over above (graceful with and without a waiter, hard loss, lost lock), each new holder's token is greater than all earlier ones", () => {
    // One Consul server: every pod's link leads to it.
    const tokens = [...fencingTokens(watch.events()).values()].flat().sort((a, b) => a.t - b.t);
    expect(tokens.length).toBeGreaterThanOrEqual(3 * RUNS);
    const notIncreasing = tokens.filter((t, i) => i > 0 && t.token <= Math.max(...tokens.slice(0, i).map((e) => e.token)));
    expect(notIncreasing).toEqual([]);
    console.log(`fencing tokens (the fence key's ModifyIndex) of ${tokens.length} holders, in order: ${tokens.map((t) => t.token).join(" < ")}`);
  });
});

describe("Consul unavailable when the pod starts", () => {
  test("the wrapper waits without exiting, then takes the lock as soon as Consul and its token exist", () => withLogs(async () => {
    const since = Date.now();
    const delays: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const late = new ConsulServer(path.join(dir, `late-consul-${i}`), { httpPort: await freePort() });
      const rendered = await renderForTest(stackConfig(late.address));
      const secretId = randomUUID();
      const pod = await startPod(rendered, secretId, late.httpPort);
      await waitFor("the wrapper to log a failed check", () => /is not usable yet/.test(pod.main.tail(5)), 30_000);
      await late.start();
      const ready = Date.now();
      await late.tokenFor(`mogi-e2e-late-${i}`, rendered.aclRules, secretId);
      const started = await intervals.nextStart(ready, 60_000);
      delays.push(started.start - ready);
      expect(started.pod).toBe(pod.name);
      expect(pod.main.alive).toBe(true); // the same wrapper process waited: it never exited
      await pod.main.stop(10_000);
      await late.stop();
    }
    record("Consul late: token ready → Mogi start", delays, `wrapper started before Consul; checks every 3 s`, since);
  }), 5 * 60_000);
});
