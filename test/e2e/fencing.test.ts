/**
 * Fail-closed fencing against a real Consul (1.14, built by `npm run engines`, ACLs on): two pods of
 * the rendered Deployment run as containers (the wrapper is PID 1 of its own PID namespace,
 * support/localPod.ts) around the test Mogi, which starts a child of its own. A fault hits one
 * piece of the holder's lock machinery, or the keys; whatever it is, the holder's Mogi tree must be
 * gone before any other Mogi starts (judged from the intervals Mogi's parent observed, and from the
 * host's /proc for Mogi's child), and a Mogi must run again once the rules allow. 3 runs each,
 * into test/e2e/results/fencing.json.
 */
import * as path from "node:path";
import { fenceKey, lockKey } from "../../components/lockWrapper";
import { FENCE_SECONDS, LOCK_DELAY_SECONDS } from "../../components/lockTiming";
import { containerInit, pidNamespace, processAlive, processesIn } from "../support/container";
import { ConsulServer } from "./support/consulServer";
import { inContainer, mogiChildrenOf, starvedInGrace } from "./support/faultMenu";
import { testImages } from "./support/localPod";
import { lockStackConfig, lockSuite } from "./support/lockSuite";
import { LockPods, TestPod } from "./support/lockPods";
import type { ScenarioResult } from "./support/mogiIntervals";
import { removeWorkDir, sleep, stopAll, waitFor } from "./support/processes";
import { renderForTest, TestRender } from "./support/renderedStack";
import { formatScenarios, writeResults } from "./support/results";

const RUNS = 3;
const suite = lockSuite("fencing");
const { dir, run, lockPrefix, watch, intervals } = suite;
const consul = new ConsulServer(path.join(dir, "consul"));
const results: Record<string, ScenarioResult> = {};
let render: TestRender;
let token: string;
let pods: LockPods;

beforeAll(async () => {
  await consul.start();
  render = await renderForTest(lockStackConfig(suite, consul.address));
  token = await consul.tokenFor(`mogi-e2e-fencing-${run}`, render.aclRules);
  pods = new LockPods({ dir, watch, intervals, images: testImages(dir), scheme: "http", holderPod: async () => (await consul.lockHolder(fenceKey(lockPrefix)))?.name });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await pods?.stopLinks();
  if (Object.keys(results).length) {
    console.log(`fencing, ${RUNS} runs each (ms)\n${formatScenarios(results)}`);
    writeResults("fencing.json", { overlapJudgedBy: "intervals observed by Mogi's parent (the wrapper's log lines, stamped on read; SIGKILL time for killed pods) and Mogi's child in the host's /proc", scenarios: results });
  }
  removeWorkDir(dir);
});

interface Fault {
  name: string;
  note: string;
  /** Acts on the holder; returns when the fault is in place. */
  act: (holder: TestPod) => Promise<void>;
  /** The next Mogi may not start before this long after the fault (ms). */
  notBeforeMs: number;
}

const killed = (pattern: RegExp) => async (holder: TestPod) => {
  process.kill(inContainer(holder, pattern), "SIGKILL");
};
const FAULTS: Fault[] = [
  { name: "consul lock SIGKILLed", note: "the holder's `consul lock` SIGKILLed while Mogi runs → its Mogi tree ended; the next Mogi after .lock's session expires", act: killed(/ lock -shell=false /), notBeforeMs: 0 },
  { name: "holder process SIGKILLed", note: "`consul lock`'s child SIGKILLed (consul lock releases .lock at once) → the next Mogi only after the fence key's lock-delay", act: killed(/^sleep 2147483647$/), notBeforeMs: LOCK_DELAY_SECONDS * 1000 },
  {
    name: "wrapper (PID 1) SIGKILLed",
    note: "the container's PID 1 SIGKILLed → the kernel ends the container; the next Mogi after TTL + lock-delay",
    act: async (holder) => {
      const init = containerInit(holder.main.pid) as number;
      const namespace = pidNamespace(init) as string;
      process.kill(init, "SIGKILL");
      // No wrapper is left to log Mogi's end: it ended when the kernel emptied the namespace (host view).
      const gone = await waitFor("the container's processes to end", () => (processesIn(namespace).length === 0 ? Date.now() : undefined), 10_000, 5);
      intervals.killed(holder.name, gone);
    },
    notBeforeMs: LOCK_DELAY_SECONDS * 1000,
  },
  { name: "lock key deleted", note: "`.lock` deleted → the other pod gets .lock, waits for the fence key until the holder's tree is gone", act: async () => void (await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`)), notBeforeMs: 0 },
  {
    name: "both keys deleted",
    note: "`.lock` and `.fence` deleted (kv delete -recurse) → the next holder waits the fence time",
    act: async () => {
      await consul.call("DELETE", `/v1/kv/${fenceKey(lockPrefix)}`);
      await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`);
    },
    notBeforeMs: FENCE_SECONDS * 1000,
  },
  {
    name: "graceful, holder starved 2 s",
    note: "SIGTERM to the holder's PID 1, which is then stopped (SIGSTOP) for 2 s during Mogi's grace → hand-over after it",
    act: (holder) => starvedInGrace(holder),
    notBeforeMs: 0,
  },
];

describe("a piece of the lock machinery dies, or a key is deleted: the holder's Mogi tree is gone before any other Mogi starts", () => {
  afterEach(() => pods.endTest(), 120_000);

  test.each(FAULTS.map((f) => [f.name, f] as const))("%s", async (_name, fault) => {
    const since = Date.now();
    await pods.start(render, token, consul.httpPort);
    await pods.start(render, token, consul.httpPort);
    const gaps: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await pods.currentHolder();
      const children = await mogiChildrenOf(holder);
      const at = Date.now();
      await fault.act(holder);
      const next = await intervals.nextStart(at, 120_000);
      gaps.push(next.start - at);
      expect(next.start - at).toBeGreaterThanOrEqual(fault.notBeforeMs);
      // Mogi's own child ended with it, before the next Mogi started (host view).
      expect(children.filter(processAlive)).toEqual([]);
      if (!holder.main.alive || !containerInit(holder.main.pid)) await pods.start(render, token, consul.httpPort); // keep two competing
    }
    await pods.currentHolder();
    results[fault.name] = intervals.scenario(fault.name, gaps, fault.note, since);
  }, 12 * 60_000);

  test("the lock lost and taken back: then no spurious stop for 60 s while Consul answers", async () => {
    const since = Date.now();
    const pod = await pods.start(render, token, consul.httpPort);
    const back: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await pods.currentHolder();
      const at = Date.now();
      await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`);
      const again = await intervals.nextStart(at, 60_000, { in: pod.name });
      back.push(again.start - at);
      await sleep(60_000);
      expect(intervals.running()).toEqual([pod.name]);
      expect(intervals.since(again.start).filter((i) => i.start >= again.start)).toHaveLength(1); // no stop, no restart
    }
    results["lost and taken back"] = intervals.scenario("lost and taken back", back, "`.lock` deleted with one pod → its Mogi back in the same container, then running 60 s with no stop", since);
  }, 12 * 60_000);
});
