/**
 * The faults of issue 23 as one menu, for runs that draw from it (randomFaults.test.ts): SIGKILL in
 * turn of each process between a pod's PID 1 and Mogi (PID 1, `consul lock`, its child the holder)
 * while Mogi runs and while it is stopping, the lock key deleted, both keys deleted, the holder's
 * session destroyed, a graceful hand-over with the holder's PID 1 stopped 2 s in its grace, a
 * silent partition of the holder, the lock lost and taken back. Also: a seeded PRNG to draw them
 * with, and a stand-in for the ReplicaSet and kubelet that replaces a pod whose PID 1 ended.
 */
import { fenceKey, lockKey } from "../../../components/lockWrapper";
import { FENCE_SECONDS, LOCK_DELAY_SECONDS } from "../../../components/lockTiming";
import { containerInit, pidNamespace, processesIn } from "../../support/container";
import type { ConsulServer } from "./consulServer";
import type { LockPods, TestPod } from "./lockPods";
import type { MogiIntervals } from "./mogiIntervals";
import type { MogiWatch } from "./mogiWatch";
import { sleep, waitFor } from "./processes";

/** mulberry32: a small seeded PRNG, uniform in [0, 1). The same seed draws the same faults and delays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The run's seed: $MOGI_E2E_SEED (to replay a run), else a new one. */
export function runSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.MOGI_E2E_SEED;
  if (given !== undefined && given !== "") {
    if (!/^\d+$/.test(given)) throw new Error(`MOGI_E2E_SEED must be a non-negative integer, not ${JSON.stringify(given)}`);
    return Number(given) >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32);
}

/** `count` items: every item of `menu` equally often (as far as `count` allows), the rest drawn, all shuffled. */
export function drawDeck<T>(menu: T[], count: number, random: () => number): T[] {
  const deck: T[] = [];
  for (let i = 0; i < Math.floor(count / menu.length); i++) deck.push(...menu);
  while (deck.length < count) deck.push(menu[Math.floor(random() * menu.length)]);
  for (let i = deck.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [deck[i], deck[j]] = [deck[j], deck[i]];
  }
  return deck;
}

/** The host PID of a process of a pod's container whose command line matches (`^PID1$`: its PID 1). */
export function inContainer(pod: TestPod, pattern: RegExp): number {
  const init = containerInit(pod.main.pid) as number;
  if (pattern.source === "^PID1$") return init;
  const found = processesIn(pidNamespace(init) as string).find((p) => pattern.test(p.cmd));
  if (!found) throw new Error(`no process matching ${pattern} in ${pod.name}`);
  return found.hostPid;
}

/**
 * The host PIDs of Mogi's own child (the test Mogi starts `sleep 100000`) in a pod's container,
 * once it has started: what a fault must leave dead with the holder's Mogi.
 */
export async function mogiChildrenOf(pod: TestPod): Promise<number[]> {
  const namespace = pidNamespace(containerInit(pod.main.pid) as number) as string;
  const found = await waitFor("the holder's Mogi to start its child", () => {
    const children = processesIn(namespace).filter((p) => p.cmd === "sleep 100000");
    return children.length ? children : undefined;
  }, 10_000);
  return found.map((p) => p.hostPid);
}

/** What a fault's run needs. */
export interface FaultWorld {
  consul: ConsulServer;
  lockPrefix: string;
  intervals: MogiIntervals;
  watch: MogiWatch;
  replicaSet: StandInReplicaSet;
  random: () => number;
}

/** What a fault did: where the next Mogi is looked for, what to undo once it runs, and whether a kill landed while Mogi was stopping. */
export interface FaultEffect {
  next?: { in?: string; except?: string };
  undo?: () => Promise<void> | void;
  landedWhileStopping?: boolean;
}

export interface Fault {
  kind: string;
  /** Before the fault's clock starts (e.g. the other pods scaled away). */
  prepare?: (holder: TestPod) => Promise<void>;
  /** Acts on the holder; resolves once the fault is in place. */
  act: (holder: TestPod) => Promise<FaultEffect>;
  /** The next Mogi may not start before this long after the fault (ms): what the protocol promises. */
  notBeforeMs: number;
}

const PID1 = /^PID1$/;
const CONSUL_LOCK = / lock -shell=false /;
const HOLDER = /^sleep 2147483647$/;
const killIn = (pod: TestPod, pattern: RegExp) => process.kill(inContainer(pod, pattern), "SIGKILL");

/** Closes the pod's Mogi interval when the kernel has emptied its container (PID 1 killed: no wrapper is left to log Mogi's end). */
async function killedWithContainer(world: FaultWorld, pod: TestPod, namespace: string): Promise<void> {
  const gone = await waitFor("the container's processes to end", () => (processesIn(namespace).length === 0 ? Date.now() : undefined), 10_000, 5);
  world.intervals.killed(pod.name, gone);
}

/** SIGTERM to the holder's PID 1 (what the kubelet sends), then SIGKILL of one process of its chain while Mogi is stopping. */
function killWhileStopping(world: FaultWorld, pattern: RegExp) {
  return async (holder: TestPod): Promise<FaultEffect> => {
    const init = containerInit(holder.main.pid) as number;
    const namespace = pidNamespace(init) as string;
    const target = inContainer(holder, pattern);
    const mogi = world.watch.sample().find((e) => e.pod === holder.name);
    process.kill(init, "SIGTERM");
    await sleep(200 + Math.floor(world.random() * 1300)); // inside the test Mogi's 2 s stop
    const stopping = world.intervals.running().includes(holder.name) && world.watch.events().some((e) => e.event === "stop" && e.pod === holder.name && e.pid === mogi?.pid);
    process.kill(target, "SIGKILL");
    if (pattern === PID1) await killedWithContainer(world, holder, namespace);
    return { landedWhileStopping: stopping };
  };
}

export function faultMenu(world: FaultWorld): Fault[] {
  const { consul, lockPrefix } = world;
  const lockDelay = LOCK_DELAY_SECONDS * 1000;
  return [
    { kind: "PID 1 SIGKILLed, Mogi running", act: async (holder) => {
      const init = containerInit(holder.main.pid) as number;
      const namespace = pidNamespace(init) as string;
      process.kill(init, "SIGKILL");
      await killedWithContainer(world, holder, namespace);
      return {};
    }, notBeforeMs: lockDelay },
    { kind: "consul lock SIGKILLed, Mogi running", act: async (holder) => (killIn(holder, CONSUL_LOCK), {}), notBeforeMs: 0 },
    { kind: "holder child SIGKILLed, Mogi running", act: async (holder) => (killIn(holder, HOLDER), {}), notBeforeMs: lockDelay },
    { kind: "PID 1 SIGKILLed, Mogi stopping", act: killWhileStopping(world, PID1), notBeforeMs: lockDelay },
    { kind: "consul lock SIGKILLed, Mogi stopping", act: killWhileStopping(world, CONSUL_LOCK), notBeforeMs: 0 },
    { kind: "holder child SIGKILLed, Mogi stopping", act: killWhileStopping(world, HOLDER), notBeforeMs: 0 },
    { kind: "lock key deleted", act: async () => (await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`), {}), notBeforeMs: 0 },
    { kind: "both keys deleted", act: async () => {
      await consul.call("DELETE", `/v1/kv/${fenceKey(lockPrefix)}`);
      await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`);
      return {};
    }, notBeforeMs: FENCE_SECONDS * 1000 },
    { kind: "holder's session destroyed", act: async () => {
      const held = await consul.lockHolder(fenceKey(lockPrefix));
      if (!held) throw new Error("nobody holds the fence key");
      await consul.call("PUT", `/v1/session/destroy/${held.session}`);
      return {};
    }, notBeforeMs: lockDelay },
    { kind: "graceful, holder's PID 1 SIGSTOPped 2 s in the grace", act: async (holder) => {
      await starvedInGrace(holder);
      return {};
    }, notBeforeMs: 0 },
    { kind: "silent partition of the holder", act: async (holder) => {
      holder.link.set("blackhole"); // its processes run on; its packets to Consul vanish
      return { next: { except: holder.name }, undo: () => holder.link.set("up") };
    }, notBeforeMs: lockDelay },
    {
      kind: "lock lost and taken back",
      // The other pods scaled away first, so that the holder alone can take the lock back.
      prepare: async (holder) => {
        world.replicaSet.desired = 1;
        await Promise.all(world.replicaSet.live().filter((p) => p !== holder).map((p) => p.main.stop(20_000)));
      },
      act: async (holder) => {
        await consul.call("DELETE", `/v1/kv/${lockKey(lockPrefix)}`);
        return { next: { in: holder.name }, undo: () => void (world.replicaSet.desired = world.replicaSet.replicas) };
      },
      notBeforeMs: 0,
    },
  ];
}

/** SIGTERM to the holder's PID 1 (a graceful stop), which is then stopped (SIGSTOP) for 2 s during Mogi's grace: starvation. */
export async function starvedInGrace(holder: TestPod): Promise<void> {
  const init = containerInit(holder.main.pid) as number;
  process.kill(init, "SIGTERM");
  await sleep(50);
  process.kill(init, "SIGSTOP");
  await sleep(2000);
  process.kill(init, "SIGCONT");
}

/**
 * STAND-IN for the ReplicaSet and kubelet, as far as the run needs them (no Kubernetes at the lock
 * level): keeps `desired` pods whose PID 1 runs;
 * a pod whose PID 1 ended (killed, or exited after SIGTERM) is replaced by a new pod after a short
 * back-off. A pod's Mogi, if its wrapper did not log its end, ended no later than the moment its
 * PID 1's parent saw it exit (the kernel empties a PID namespace before its init is reaped).
 */
export class StandInReplicaSet {
  desired: number;
  /** Pods started to replace others. */
  replaced = 0;
  readonly errors: string[] = [];
  private pending = 0;
  private timer?: NodeJS.Timeout;
  private readonly seen = new Set<TestPod>();

  constructor(private readonly pods: LockPods, private readonly start: () => Promise<TestPod>, private readonly intervals: MogiIntervals, readonly replicas: number, private readonly backoffMs: number) {
    this.desired = replicas;
  }

  live(): TestPod[] {
    return this.pods.fleet.filter((p) => p.main.alive);
  }

  run(): void {
    this.timer = setInterval(() => this.tick(), 100);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Waits until `desired` pods run (replacements started). */
  settled(timeoutMs: number): Promise<boolean> {
    return waitFor(`${this.desired} pods running`, () => this.pending === 0 && this.live().length >= this.desired, timeoutMs, 50);
  }

  private tick(): void {
    for (const pod of this.pods.fleet) {
      if (this.seen.has(pod)) continue;
      this.seen.add(pod);
      void pod.main.exited.then(() => this.intervals.killed(pod.name, Date.now()));
    }
    while (this.live().length + this.pending < this.desired) {
      this.pending += 1;
      void sleep(this.backoffMs)
        .then(() => this.start())
        .then(() => void (this.replaced += 1), (error: Error) => void this.errors.push(error.message))
        .finally(() => (this.pending -= 1));
    }
  }
}
