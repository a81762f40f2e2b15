/**
 * A shared failover scenario (test/support/failover.ts) run several times through Kubernetes, with
 * `npm run status` asserted healthy, with the right holder, before and after each run; the result
 * judged by the intervals Mogi's parent observed (never two at once, positive margins).
 */
import type { FailoverCluster, Measurement, ScenarioHooks } from "../../support/failover";
import type { DeployEnvironment } from "./deployEnvironment";
import type { ScenarioResult } from "./mogiIntervals";
import type { MogiWatch } from "./mogiWatch";
import type { StatusCli } from "./statusCli";

export type Scenario = (cluster: FailoverCluster, sampler: MogiWatch, hooks: ScenarioHooks) => Promise<Measurement>;

export interface FailoverRunOptions {
  /** The name results are recorded under (default: the scenario's own). */
  name?: (scenario: string) => string;
  /** After each run, before status is checked again (e.g. a lost node brought back). */
  afterRun?: (holderBefore: string) => Promise<void>;
}

/** Runs `scenario` `runs` times; returns the name and result to record. */
export async function measureFailover(env: DeployEnvironment, status: StatusCli, scenario: Scenario, runs: number, options: FailoverRunOptions = {}): Promise<[string, ScenarioResult]> {
  const { target, watch, intervals } = env;
  const since = Date.now();
  const measured: Measurement[] = [];
  for (let i = 0; i < runs; i++) {
    const before = await target.holderPod();
    await status.expectHealthy(before);
    measured.push(await scenario(target, watch, {}));
    await options.afterRun?.(before as string);
    const after = await target.holderPod();
    expect(after).toBeDefined();
    await status.expectHealthy(after);
  }
  const name = options.name?.(measured[0].scenario) ?? measured[0].scenario;
  const result = intervals.scenario(name, measured.map((r) => r.ms), "disruption → the replacement pod's Mogi start", since);
  expect(intervals.handovers(since).length).toBeGreaterThanOrEqual(runs);
  return [name, result];
}
