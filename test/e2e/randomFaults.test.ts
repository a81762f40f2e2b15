/**
 * A randomized run against a real Consul (1.14, built by `npm run engines`, ACLs on), issue 23's
 * last test: three pods of the rendered Deployment compete (each wrapper PID 1 of its own PID
 * namespace, support/localPod.ts) around the test Mogi, which starts a child of its own and takes
 * 2 s to stop. 40 faults are drawn from support/faultMenu.ts with a seeded PRNG (the seed is
 * printed and recorded; MOGI_E2E_SEED replays the same draw of faults and delays), each aimed at
 * the pod whose Mogi runs. After each, a Mogi must run again within a bound (a wait that times out
 * fails the run); a pod whose PID 1 ended is replaced after a short back-off, as a ReplicaSet and kubelet would (a stand-in for them).
 *
 * Overlap is judged only from the intervals Mogi's parent observed (support/mogiIntervals.ts),
 * never from Mogi's own records: never two at once, each start after the previous end. Per fault
 * kind: count, time to the next Mogi and margin (next start − previous end), into
 * test/e2e/results/randomFaults.json with the seed and the load average.
 */
import { loadavg } from "node:os";
import * as path from "node:path";
import { fenceKey } from "../../components/lockWrapper";
import { processAlive } from "../support/container";
import { minMedianMax } from "../support/failover";
import { ConsulServer } from "./support/consulServer";
import { drawDeck, Fault, faultMenu, mogiChildrenOf, runSeed, seededRandom, StandInReplicaSet } from "./support/faultMenu";
import { testImages } from "./support/localPod";
import { lockStackConfig, lockSuite } from "./support/lockSuite";
import { LockPods } from "./support/lockPods";
import type { ScenarioResult } from "./support/mogiIntervals";
import { removeWorkDir, sleep, stopAll } from "./support/processes";
import { renderForTest, TestRender } from "./support/renderedStack";
import { writeResults } from "./support/results";

/** The test Mogi's stop time after SIGTERM, as real services take (the wrapper grants 4 s). */
const MOGI_STOP_MS = 2000;
const FAULTS = Number(process.env.MOGI_E2E_FAULTS ?? 40);
const PODS = 3;
/** The back-off (the kubelet's, here the stand-in's) before a pod whose PID 1 ended is replaced. */
const BACKOFF_MS = 2000;
/** The longest wait for a Mogi after a fault: the slowest kinds need 2 × TTL + lock-delay + a waiter's retry (50 s), here with margin for load. */
const NEXT_MOGI_BOUND_MS = 120_000;
const SEED = runSeed();

const suite = lockSuite("random");
const { dir, run, lockPrefix, watch, intervals } = suite;
const consul = new ConsulServer(path.join(dir, "consul"));
const random = seededRandom(SEED);
let render: TestRender;
let token: string;
let pods: LockPods;
let replicaSet: StandInReplicaSet;

/** One fault of the run, as measured. */
interface FaultRecord {
  n: number;
  kind: string;
  /** ms since the run began. */
  at: number;
  holder: string;
  next: string;
  nextMogiMs: number;
  marginMs: number;
  load1: number;
  landedWhileStopping?: boolean;
}
const records: FaultRecord[] = [];
const load = { atStart: loadavg(), atEnd: [] as number[], samples: [] as number[] };
let outcome: { status: "passed" | "failed" | "not run"; wallMs?: number; overall?: ScenarioResult; error?: string } = { status: "not run" };

beforeAll(async () => {
  console.log(`randomized fault run: seed ${SEED} (replay with MOGI_E2E_SEED=${SEED}), ${FAULTS} faults, load average ${load.atStart.map((l) => l.toFixed(2)).join(" ")}`);
  await consul.start();
  render = await renderForTest(lockStackConfig(suite, consul.address, { mogiArgs: [`--stop-after-ms=${MOGI_STOP_MS}`] }));
  token = await consul.tokenFor(`mogi-e2e-random-${run}`, render.aclRules);
  pods = new LockPods({ dir, watch, intervals, images: testImages(dir), scheme: "http", holderPod: async () => (await consul.lockHolder(fenceKey(lockPrefix)))?.name });
  replicaSet = new StandInReplicaSet(pods, () => pods.start(render, token, consul.httpPort), intervals, PODS, BACKOFF_MS);
}, 120_000);

afterAll(async () => {
  replicaSet?.stop();
  await pods?.endTest().catch((error: Error) => console.log(`cleanup: ${error.message}`));
  await stopAll();
  await pods?.stopLinks();
  load.atEnd = loadavg();
  if (records.length) {
    const kinds = summarize(records);
    console.log(`randomized fault run, seed ${SEED}: ${outcome.status}, ${records.length} faults in ${((outcome.wallMs ?? 0) / 1000).toFixed(0)} s; load ${load.atStart.map((l) => l.toFixed(2)).join(" ")} → ${load.atEnd.map((l) => l.toFixed(2)).join(" ")}\n${formatKinds(kinds)}`);
    writeResults("randomFaults.json", {
      seed: SEED,
      replay: `MOGI_E2E_SEED=${SEED} npx jest -c jest.e2e.config.js test/e2e/randomFaults.test.ts`,
      ...outcome,
      faults: records.length,
      pods: PODS,
      mogiStopMs: MOGI_STOP_MS,
      backoffMs: BACKOFF_MS,
      podsReplaced: replicaSet.replaced,
      loadAverage: { atStart: load.atStart.map(round2), atEnd: load.atEnd.map(round2), oneMinuteAtEachFault: loadSummary(load.samples) },
      overlapJudgedBy: "intervals observed by Mogi's parent (the wrapper's log lines, stamped on read; for a pod whose PID 1 was killed, the moment its container was empty or its PID 1 was reaped) and Mogi's child in the host's /proc",
      kinds,
      sequence: records,
    });
  }
  removeWorkDir(dir);
}, 180_000);

const round2 = (n: number) => Math.round(n * 100) / 100;
/** min / median / max of load averages, to 2 decimals. */
function loadSummary(values: number[]): { min: number; median: number; max: number } | undefined {
  if (!values.length) return undefined;
  const { min, median, max } = minMedianMax(values.map((v) => v * 100));
  return { min: min / 100, median: median / 100, max: max / 100 };
}

/** Per fault kind: count, time to the next Mogi and margin (min/median/max, ms). */
function summarize(list: FaultRecord[]) {
  const kinds = [...new Set(list.map((r) => r.kind))].sort();
  return Object.fromEntries(kinds.map((kind) => {
    const of = list.filter((r) => r.kind === kind);
    const stopping = of.filter((r) => r.landedWhileStopping !== undefined);
    return [kind, {
      count: of.length,
      nextMogiMs: minMedianMax(of.map((r) => r.nextMogiMs)),
      marginMs: minMedianMax(of.map((r) => r.marginMs)),
      ...(stopping.length ? { killLandedWhileMogiStopping: stopping.filter((r) => r.landedWhileStopping).length } : {}),
    }];
  }));
}

function formatKinds(kinds: ReturnType<typeof summarize>): string {
  const s = (ms: number) => (ms / 1000).toFixed(2).padStart(6);
  return Object.entries(kinds).map(([kind, k]) => `  ${kind.padEnd(54)} ${String(k.count).padStart(2)}×  next Mogi ${s(k.nextMogiMs.min)} ${s(k.nextMogiMs.median)} ${s(k.nextMogiMs.max)} s  margin min ${s(k.marginMs.min)} s`).join("\n");
}

/** One fault on the current holder; returns what it measured. Fails if no Mogi runs again in time, or if one overlapped. */
async function inflict(n: number, fault: Fault, runStart: number): Promise<FaultRecord> {
  await replicaSet.settled(60_000);
  const holder = await pods.currentHolder();
  const children = await mogiChildrenOf(holder);
  await sleep(Math.floor(random() * 3000)); // somewhere in the holder's run
  await fault.prepare?.(holder);
  const at = Date.now();
  const previous = intervals.since(at).find((i) => i.pod === holder.name && i.start <= at);
  if (!previous) throw new Error(`fault ${n} (${fault.kind}): ${holder.name}'s Mogi ended before the fault`);
  const load1 = loadavg()[0];
  load.samples.push(load1);
  const effect = await fault.act(holder);
  let next;
  try {
    next = await intervals.nextStart(at, NEXT_MOGI_BOUND_MS, effect.next);
  } catch (error) {
    throw new Error(`fault ${n} (${fault.kind}, seed ${SEED}): no Mogi again: ${(error as Error).message}`);
  }
  await effect.undo?.();
  const record: FaultRecord = {
    n, kind: fault.kind, at: at - runStart, holder: holder.name, next: next.pod, nextMogiMs: next.start - at,
    marginMs: next.start - (previous.end ?? Infinity), load1: round2(load1),
    ...(effect.landedWhileStopping === undefined ? {} : { landedWhileStopping: effect.landedWhileStopping }),
  };
  records.push(record);
  console.log(`fault ${String(n).padStart(2)}/${FAULTS} ${fault.kind.padEnd(54)} ${holder.name} → ${next.pod}: next Mogi ${(record.nextMogiMs / 1000).toFixed(2)} s, margin ${(record.marginMs / 1000).toFixed(2)} s, load ${load1.toFixed(2)}`);
  // Exclusion, per fault (the run is checked as a whole at the end too).
  expect({ n, kind: fault.kind, overlap: record.marginMs <= 0 }).toEqual({ n, kind: fault.kind, overlap: false });
  expect({ n, kind: fault.kind, earlyMs: Math.min(0, record.nextMogiMs - fault.notBeforeMs) }).toEqual({ n, kind: fault.kind, earlyMs: 0 });
  // Mogi's own child ended with it, before the next Mogi started (host view).
  expect({ n, kind: fault.kind, childrenAlive: children.filter(processAlive) }).toEqual({ n, kind: fault.kind, childrenAlive: [] });
  return record;
}

describe("a randomized run of the lock machinery's faults", () => {
  test(`${FAULTS} faults drawn with a seeded PRNG: after each a Mogi runs again, and never two at once (parent-observed)`, async () => {
    const menu = faultMenu({ consul, lockPrefix, intervals, watch, replicaSet, random });
    const deck = drawDeck(menu, FAULTS, random);
    console.log(`seed ${SEED}: ${deck.map((f) => f.kind).join(" | ")}`);
    for (let i = 0; i < PODS; i++) await pods.start(render, token, consul.httpPort);
    replicaSet.run();
    await pods.currentHolder();
    const since = Date.now();
    try {
      for (const [i, fault] of deck.entries()) await inflict(i + 1, fault, since);
      await replicaSet.settled(60_000);
      await pods.currentHolder(); // the last fault's Mogi at work, with the lock
      outcome.wallMs = Date.now() - since;
      expect(records).toHaveLength(FAULTS); // every fault followed by a Mogi again
      expect(replicaSet.errors).toEqual([]);
      // The whole run, from the intervals Mogi's parent observed: never two at once, every start
      // strictly after the previous end (throws otherwise), and no start that no fault caused.
      outcome.overall = intervals.scenario("randomized run", records.map((r) => r.nextMogiMs), `${FAULTS} faults, seed ${SEED}`, since);
      expect(outcome.overall.maxConcurrent).toBe(1);
      expect(intervals.since(since).filter((i) => i.start >= since)).toHaveLength(FAULTS);
      outcome = { ...outcome, status: "passed" };
    } catch (error) {
      outcome = { ...outcome, status: "failed", wallMs: Date.now() - since, error: (error as Error).message.slice(0, 2000) };
      throw error;
    }
  }, 45 * 60_000);
});
