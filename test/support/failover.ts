/**
 * The failover scenarios, written once for every environment that can run them: the real-engine
 * suite (test/e2e: local control plane, test kubelet, local Consul) and the kind suite
 * (test/integration: Docker, kind, the Consul Helm chart). Each environment says how to disrupt
 * a pod and how to see which pods run Mogi; the scenarios say what to do and what must hold.
 */

/** How a scenario acts on the cluster. */
export interface FailoverCluster {
  /** The pod named by the Consul session that holds the lock, if any. */
  holderPod(): Promise<string | undefined>;
  /** Deletes the pod as `kubectl delete pod` does (graceful). */
  deletePod(pod: string): Promise<void>;
  /** Asks the eviction API to evict the pod (what a drain does); returns the HTTP status. */
  evictPod(pod: string): Promise<number>;
  /** The pod's node is lost: its processes die at once (SIGKILL) and the pod object is force-deleted. */
  loseNode(pod: string): Promise<void>;
  /** Restarts the Consul server(s), as a Helm upgrade or node drain under Consul would. */
  restartConsulServers(): Promise<RestartedServer | void>;
}

/** The server a restart took down, where the environment restarts one (the kind suite rolls them all). */
export interface RestartedServer {
  node: string;
  /** It was the Raft leader: an election came before its sessions could be invalidated. */
  wasLeader: boolean;
}

/** Which pods run Mogi, as the scenarios wait on it. */
export interface MogiSampler {
  /** Waits until `condition` holds for the pods running Mogi; returns the ms since `since`. */
  until(condition: (running: string[]) => boolean, timeoutMs: number, since?: number): Promise<number>;
}

/** Optional checks an environment runs while a scenario's hand-over is still under way. */
export interface ScenarioHooks {
  /** Right after the disruption, while nobody can hold the lock yet (hard loss, Consul restart). */
  duringOutage?: (scenario: string, holderBefore: string) => Promise<void>;
}

export interface Measurement {
  scenario: string;
  /** Milliseconds without an active Mogi (or until the new one ran), per the scenario's definition. */
  ms: number;
}

const MINUTE = 60_000;
const only = (pod: string | undefined) => (running: string[]) => running.length === 1 && running[0] === pod;
const another = (pod: string | undefined) => (running: string[]) => running.length === 1 && running[0] !== pod;

async function currentHolder(cluster: FailoverCluster, sampler: MogiSampler): Promise<string> {
  let holder: string | undefined;
  await sampler.until(() => true, 1); // a fresh sample exists
  for (let i = 0; i < 600 && (holder === undefined); i++) {
    const candidate = await cluster.holderPod();
    try {
      await sampler.until(only(candidate), 500);
      holder = candidate;
    } catch {
      // not settled yet
    }
  }
  if (holder === undefined) throw new Error("no pod both holds the lock and runs Mogi");
  return holder;
}

/**
 * Each scenario disrupts the current holder and returns the hand-over time; the caller checks that
 * never two Mogis ran at once, by its own evidence (the kind suite: its sampler's maximum; the
 * e2e tier: the intervals Mogi's parent observed).
 */
export const SCENARIOS = {
  /** `kubectl delete pod`: the ReplicaSet replaces it at once, the old one is still terminating. */
  async podDeleted(cluster: FailoverCluster, sampler: MogiSampler): Promise<Measurement> {
    const before = await currentHolder(cluster, sampler);
    const t0 = Date.now();
    await cluster.deletePod(before);
    const ms = await sampler.until(another(before), 3 * MINUTE, t0);
    return { scenario: "pod deleted (graceful)", ms };
  },

  /** The eviction API, as a drain uses it, where the PDB allows it (maxUnavailable 1). */
  async podEvicted(cluster: FailoverCluster, sampler: MogiSampler): Promise<Measurement> {
    const before = await currentHolder(cluster, sampler);
    const t0 = Date.now();
    const status = await cluster.evictPod(before);
    if (status !== 201 && status !== 200) throw new Error(`eviction of ${before} refused with HTTP ${status}; the PDB should allow it`);
    const ms = await sampler.until(another(before), 3 * MINUTE, t0);
    return { scenario: "pod evicted (allow-drain)", ms };
  },

  /** Node lost: nothing is released; the lock moves after the session's TTL and the lock-delay. */
  async nodeLost(cluster: FailoverCluster, sampler: MogiSampler, hooks: ScenarioHooks = {}): Promise<Measurement> {
    const before = await currentHolder(cluster, sampler);
    const t0 = Date.now();
    await cluster.loseNode(before);
    await hooks.duringOutage?.("node lost (hard)", before);
    const ms = await sampler.until(another(before), 3 * MINUTE, t0);
    return { scenario: "node lost (hard)", ms };
  },

  /**
   * Consul servers restarted under a running Mogi: the holder's session dies with its server, so
   * Mogi is stopped and the lock is taken again after the lock-delay. Measured: the time without
   * any Mogi (0 if the session survived).
   */
  async consulRestarted(cluster: FailoverCluster, sampler: MogiSampler, hooks: ScenarioHooks = {}): Promise<Measurement> {
    const before = await currentHolder(cluster, sampler);
    const t0 = Date.now();
    await cluster.restartConsulServers();
    let stoppedAt: number | undefined;
    try {
      stoppedAt = t0 + (await sampler.until((running) => running.length === 0, 30_000, t0));
    } catch {
      return { scenario: "Consul servers restarted", ms: 0 }; // Mogi kept running
    }
    await hooks.duringOutage?.("Consul servers restarted", before);
    const back = await sampler.until((running) => running.length === 1, 3 * MINUTE, t0);
    return { scenario: "Consul servers restarted", ms: t0 + back - stoppedAt };
  },
};

/** min / median / max of a list of numbers, rounded to ms. */
export function minMedianMax(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { min: Math.round(sorted[0]), median: Math.round(median), max: Math.round(sorted[sorted.length - 1]) };
}
