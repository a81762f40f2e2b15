/**
 * The faults a real cluster produces, through Kubernetes: the stack deployed with `npm run deploy`
 * on a real control plane (two nodes run by test kubelets, the one stand-in with the test
 * scheduler), three real Consul servers, each node reaching Consul through a link of its own.
 * Nothing is force-deleted: a lost node is found by kube-controller-manager's node-lifecycle
 * controller (default periods: 50 s grace, 5 s monitor period) and its pod evicted by the
 * taint-eviction controller when the pod's toleration (the stack's default, 10 s) runs out.
 *
 * Overlap is judged from the intervals Mogi's parent observed (support/mogiIntervals.ts), per
 * scenario, and every `npm run status` run is asserted (verdict and reason). Runs side by side
 * with the deploy and lock suites (its own control plane, Consul and project copy).
 */
import { minMedianMax } from "../support/failover";
import { DeployEnvironment, STACK } from "./support/deployEnvironment";
import { removeWorkDir, sleep, waitFor } from "./support/processes";
import type { ScenarioResult } from "./support/mogiIntervals";
import { formatScenarios, mergeResults } from "./support/results";
import { StatusCli } from "./support/statusCli";
import { NODE_TEST_MOGI } from "./support/nodeImages";
import { POD_PIDS_LIMIT } from "./support/nodeConfig";
import { podInit, podPidsMax, podProcess } from "./support/runningContainer";

const RUNS = 3;
const env = new DeployEnvironment();
const { intervals, target, watch } = env;
const statusCli = new StatusCli(env);
const results: Record<string, ScenarioResult> = {};

/** Records a scenario, once the intervals since it began show never two Mogis and positive margins. */
function record(scenario: string, runs: number[], note: string, since: number): void {
  results[scenario] = intervals.scenario(scenario, runs, note, since);
}

const restarts = async (pod: string) => (await env.api.call("GET", env.ns(`/pods/${pod}`))).status?.containerStatuses?.[0]?.restartCount as number;
const runningIn = (pod: string) => intervals.running().join() === pod;

/** The holder, once status says it is the healthy single holder. */
async function healthyHolder(): Promise<string> {
  const holder = await waitFor("a holder running Mogi", async () => {
    const pod = await target.holderPod();
    return pod && runningIn(pod) ? pod : undefined;
  }, 180_000, 200);
  await statusCli.expectHealthy(holder, 120_000);
  return holder;
}

beforeAll(async () => {
  await env.start();
  const run = await env.project.deploy(["up", "--stack", STACK]);
  if (run.code !== 0) throw new Error(`up failed (exit ${run.code}):\n${run.output.split("\n").slice(-30).join("\n")}`);
}, 15 * 60_000);

afterAll(async () => {
  await env.stop();
  if (Object.keys(results).length) {
    mergeResults("failover.json", { consul: env.consulVersion, scenarios: results });
    console.log(`faults through Kubernetes, ms (${RUNS} runs each):\n${formatScenarios(results)}\nstatus runs: ${statusCli.runs.length}`);
  }
  removeWorkDir(env.work);
}, 5 * 60_000);

describe("faults a real cluster produces, never two Mogis (parent-observed), status right at each step", () => {
  test("silent partition of the holder's node from Consul (its node still reports): Mogi stops, the pod turns not Ready, status says why; healed, Mogi is back in the same container", async () => {
    const since = Date.now();
    const stopped: number[] = [];
    const back: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await healthyHolder();
      const node = env.nodeOf(holder);
      const restartsBefore = await restarts(holder);
      const cut = Date.now();
      node.link.set("blackhole");
      stopped.push((await intervals.endAfter(holder, cut, 30_000)) - cut);
      // With one replica nobody takes over: status must say the holder is not Ready (its guard
      // stopped Mogi), then, once its session expired, that nobody holds the lock.
      // (Readiness fails after 3 probes, 15 s; the session expires 22.5-30 s after the cut: status
      // may see either first.)
      const waiting = (f: Record<string, string>) => new RegExp(`nobody holds .*waiting for it: ${holder}$`).test(f["lock-held"] ?? "");
      await statusCli.expectDegraded("the holder not Ready, or nobody holding the lock", (f) => /is not Ready: .*lock wrapper stopped it/.test(f["holder-ready"] ?? "") || waiting(f), 60_000);
      await statusCli.expectDegraded("the session expired, the pod waiting for the lock", waiting, 60_000);
      expect(intervals.running()).toEqual([]);
      const healed = Date.now();
      node.link.set("up");
      const again = await intervals.nextStart(healed, 90_000, { in: holder });
      back.push(again.start - healed);
      await statusCli.expectHealthy(holder, 60_000);
      expect(await restarts(holder)).toBe(restartsBefore); // the same container waited for the lock
    }
    record("silent partition (K8s): holder's Mogi stopped", stopped, "node's link to Consul black-holed → the holder's Mogi ended (bound 11 s)", since);
    record("silent partition (K8s): Mogi back after heal", back, "link restored → Mogi started again in the same container (no restart)", since);
    for (const t of stopped) expect(t).toBeLessThanOrEqual(13_000); // deadline + tick + grace + starvation (components/lockTiming.ts)
  }, 20 * 60_000);

  for (const processes of ["dead", "alive but partitioned"] as const) {
    test(`node lost, processes ${processes}: the real node-lifecycle and taint-eviction controllers replace the pod; the replacement runs Mogi within ~90 s of the last heartbeat`, async () => {
      const since = Date.now();
      const takeovers: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const holder = await healthyHolder();
        const node = env.nodeOf(holder);
        await node.node.stopReporting();
        if (processes === "dead") await node.node.killAll();
        else node.link.set("blackhole");
        const lastHeartbeat = node.node.lastHeartbeatAt;
        const t0 = Date.now();
        // Once Kubernetes has noticed (node not Ready), status must say where the problem is.
        await statusCli.expectDegraded("the node not Ready", (f) => new RegExp(`on node ${node.node.nodeName}, which is not Ready`).test(f["pod-node"] ?? ""), 120_000);
        const next = await intervals.nextStart(t0, 240_000, { except: holder });
        expect(env.nodeOf(next.pod)).not.toBe(node);
        takeovers.push(next.start - lastHeartbeat);
        if (processes === "alive but partitioned") expect(intervals.running()).toEqual([next.pod]);
        await env.recoverNode(node, holder);
        await statusCli.expectHealthy(next.pod, 60_000);
      }
      record(`node lost, processes ${processes}: replacement's Mogi`, takeovers, "last heartbeat → the replacement's Mogi start on the other node (node-monitor grace 50 s + period 5 s + toleration 10 s, or the old session's expiry + lock-delay)", since);
      expect(minMedianMax(takeovers).median).toBeLessThanOrEqual(90_000);
    }, 25 * 60_000);
  }

  test(`the holder's pod out of pids (podPidsLimit ${POD_PIDS_LIMIT}, a real pids cgroup): its container ends with every process of it; the next Mogi starts only after`, async () => {
    const since = Date.now();
    const takeovers: number[] = [];
    const outcomes: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const holder = await healthyHolder();
      const wrapper = podInit(holder) as number;
      expect(podPidsMax(wrapper)).toBe(String(POD_PIDS_LIMIT));
      const mogi = podProcess(holder, NODE_TEST_MOGI) as number;
      expect(mogi).toBeDefined();
      const t0 = Date.now();
      process.kill(mogi, "SIGUSR2"); // Mogi starts children until a fork fails
      const end = await intervals.endAfter(holder, t0, 60_000);
      const next = await intervals.nextStart(end, 180_000);
      takeovers.push(next.start - t0);
      const forks = watch.events().find((e) => e.pod === holder && e.event === "forks-failed" && e.t >= t0);
      outcomes.push(`Mogi gone ${end - t0} ms after the fork bomb (${forks ? `${String(forks.started)} children before a fork failed` : "no fork failure recorded"}), next Mogi in ${next.pod === holder ? "the same pod's restarted container" : "the other pod"}`);
      await statusCli.expectHealthy(next.pod, 120_000);
    }
    record(`pids limit reached in the holder's pod: next Mogi`, takeovers, `Mogi forks until the pod's pids cgroup (${POD_PIDS_LIMIT}) refuses → the wrapper's next fork fails and PID 1 ends, and the container with it → the next Mogi: ${outcomes.join("; ")}`, since);
  }, 15 * 60_000);

  test("Consul servers restarted 3 times in a row: each gap ≤ 30 s, the third no longer than the first + 5 s, no container restart", async () => {
    const since = Date.now();
    const holder = await healthyHolder();
    const restartsBefore = await restarts(holder);
    const gaps: number[] = [];
    const restarted: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      await waitFor("Mogi running in the holder", () => runningIn(holder) || undefined, 120_000, 100);
      await sleep(2_000); // the lock confirmed by a few reads
      const t0 = Date.now();
      const { node, wasLeader } = await target.restartConsulServers();
      restarted.push(`${node}${wasLeader ? " (leader)" : ""}`);
      const end = await intervals.endAfter(holder, t0, 60_000);
      const again = await intervals.nextStart(t0, 120_000);
      gaps.push(again.start - end);
      expect(again.pod).toBe(holder);
    }
    expect(await restarts(holder)).toBe(restartsBefore); // no container restart, so no back-off
    record("Consul servers restarted 3× in a row: time without Mogi", gaps, `the holder's server restarted (its session invalidated) → Mogi back in the same container after the lock-delay; restarted in turn: ${restarted.join(", ")}`, since);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(30_000);
    expect(gaps[2]).toBeLessThanOrEqual(gaps[0] + 5_000);
  }, 15 * 60_000);
});
