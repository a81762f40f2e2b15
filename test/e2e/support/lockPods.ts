/**
 * The lock suites' pods: the rendered Deployment's pod run as local processes (support/localPod.ts,
 * a stand-in for the kubelet) around the test Mogi, each reaching Consul through a link of its own
 * (support/tcpService.ts) that a test can cut; and the two hand-overs every lock suite measures.
 * Shared by lock.test.ts (plain HTTP) and lockTls.test.ts (HTTPS, the production shape).
 */
import * as path from "node:path";
import { LocalPod } from "./localPod";
import type { MogiIntervals } from "./mogiIntervals";
import type { MogiWatch } from "./mogiWatch";
import { Proc, waitFor } from "./processes";
import type { TestRender } from "./renderedStack";
import { TcpService } from "./tcpService";

export interface TestPod {
  name: string;
  /** The main process: the wrapper (it stays PID 1 of the container). */
  main: Proc;
  local: LocalPod;
  /** The pod's own way to Consul: cut it to partition this pod alone. */
  link: TcpService;
}

export interface LockWorld {
  dir: string;
  watch: MogiWatch;
  intervals: MogiIntervals;
  images: Record<string, string>;
  /** The scheme of the pods' CONSUL_HTTP_ADDR (https: the render gives them CONSUL_CACERT). */
  scheme: "http" | "https";
  /** The pod named by the session holding the lock, if any. */
  holderPod: () => Promise<string | undefined>;
}

export class LockPods {
  /** The pods the current test started with start(); endTest() stops them. */
  readonly fleet: TestPod[] = [];
  private readonly links: TcpService[] = [];
  private count = 0;

  constructor(private readonly world: LockWorld) {}

  /**
   * Starts one pod of the rendered Deployment as local processes, reaching Consul (at `consulPort`)
   * through a link of its own, as a pod on its own node would.
   */
  async startPod(rendered: TestRender, secretToken: string, consulPort: number): Promise<TestPod> {
    this.count += 1;
    const name = `mogi-7d9c5-${String(this.count).padStart(5, "0")}`;
    const link = new TcpService(() => [consulPort]);
    await link.start();
    this.links.push(link);
    const tokenSecret = rendered.deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === "consul-token").secret.secretName;
    const local = new LocalPod(rendered.deployment.spec.template.spec, {
      podName: name,
      namespace: "mogi-dev",
      root: path.join(this.world.dir, "pods", name),
      images: this.world.images,
      sources: { configMap: (n) => rendered.configMaps[n], secret: (n) => (n === tokenSecret ? { token: secretToken } : undefined) },
      extraEnv: { MOGI_EVENTS: this.world.watch.eventsFile, CONSUL_HTTP_ADDR: `${this.world.scheme}://${link.address}` },
      logFile: path.join(this.world.dir, "pods", `${name}.log`),
      intervals: this.world.intervals,
    });
    return { name, main: local.start(), local, link };
  }

  /** startPod, kept in the fleet until endTest(). */
  async start(rendered: TestRender, secretToken: string, consulPort: number): Promise<TestPod> {
    const pod = await this.startPod(rendered, secretToken, consulPort);
    this.fleet.push(pod);
    return pod;
  }

  /**
   * The pod whose Mogi runs now, once exactly one runs, Consul's lock is held by that pod's session,
   * and its Mogi has obtained its fencing token (it is at work).
   */
  async currentHolder(): Promise<TestPod> {
    const { watch, intervals, holderPod } = this.world;
    const running = await waitFor("exactly one Mogi running, in the pod holding the lock, with its token", async () => {
      const now = watch.sample();
      if (now.length !== 1 || intervals.running().join() !== now[0].pod || (await holderPod()) !== now[0].pod) return undefined;
      return watch.events().some((e) => e.event === "token" && e.pod === now[0].pod && e.pid === now[0].pid) ? now[0] : undefined;
    }, 120_000, 20);
    return this.fleet.find((p) => p.name === running.pod) as TestPod;
  }

  /** After each test: links restored, the fleet stopped, the lock free. */
  async endTest(): Promise<void> {
    for (const pod of this.fleet) pod.link.set("up");
    await Promise.all(this.fleet.splice(0).map(async (p) => {
      await p.main.stop(20_000);
      // A SIGTERM that reached PID 1 before its trap was set is ignored (as in a real container):
      // stop() then SIGKILLed the group, and a Mogi it had started ended then.
      this.world.intervals.killed(p.name, Date.now());
    }));
    await waitFor("the lock to be free", async () => (await this.world.holderPod()) === undefined, 90_000);
  }

  async stopLinks(): Promise<void> {
    await Promise.all(this.links.map((l) => l.stop()));
  }
}

/** Graceful hand-overs, three wrappers competing: SIGTERM to the holder's wrapper → the next Mogi's start, ms. */
export async function gracefulHandovers(pods: LockPods, start: () => Promise<TestPod>, runs: number, intervals: MogiIntervals): Promise<number[]> {
  for (let i = 0; i < 3; i++) await start();
  const handovers: number[] = [];
  for (let i = 0; i < runs; i++) {
    const holder = await pods.currentHolder();
    const signalled = Date.now();
    holder.main.signal("SIGTERM"); // what the kubelet does: to the container's PID 1, the wrapper
    const next = await intervals.nextStart(signalled, 30_000, { except: holder.name });
    handovers.push(next.start - signalled);
    expect((await holder.main.exited).code).toBe(0);
    await start(); // keep three competing
  }
  await pods.currentHolder();
  return handovers;
}

/** Hard losses, two wrappers: the holder's processes SIGKILLed (nothing released) → the other's Mogi start, ms. */
export async function hardLossTakeovers(pods: LockPods, start: () => Promise<TestPod>, runs: number, intervals: MogiIntervals): Promise<number[]> {
  await start();
  await start();
  const takeovers: number[] = [];
  for (let i = 0; i < runs; i++) {
    const holder = await pods.currentHolder();
    const killed = Date.now();
    holder.local.kill(); // the node is gone: nothing is released
    const next = await intervals.nextStart(killed, 120_000, { except: holder.name });
    takeovers.push(next.start - killed);
    await start();
  }
  await pods.currentHolder();
  return takeovers;
}

/** The notes both lock suites record these two scenarios with. */
export const HANDOVER_NOTES = {
  graceful: "SIGTERM to the holder's wrapper → next Mogi start",
  hardLoss: "SIGKILL of the holder's processes → next Mogi start (bound: 2×TTL + lock-delay + retry = 50 s)",
};
