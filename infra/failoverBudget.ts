/**
 * How long Mogi can be without an active instance, from the facts of `consul lock` and of
 * Kubernetes' node lifecycle (components/lockTiming.ts, with its sources). These are upper bounds
 * from configuration; README.md#failover-budget puts the measured times (test/e2e/results) beside them.
 */
import { CONSUL_RETRY_SECONDS } from "../components/lockWrapper";
import {
  LOCK_DELAY_SECONDS, MOGI_GONE_AFTER_CONFIRMATION_SECONDS, MOGI_GRACE_SECONDS, SESSION_INVALIDATION_MAX_SECONDS, WAITER_RETRY_SECONDS,
} from "../components/lockTiming";

export { LOCK_DELAY_SECONDS, SESSION_TTL_SECONDS } from "../components/lockTiming";

/**
 * kube-controller-manager's node-lifecycle controller marks a node that stopped reporting after
 * `--node-monitor-grace-period` (default 50 s since Kubernetes 1.32), checked every
 * `--node-monitor-period` (5 s); taint eviction then deletes pods whose toleration ran out.
 */
export const NODE_MONITOR_GRACE_SECONDS = 50;
export const NODE_MONITOR_PERIOD_SECONDS = 5;

/**
 * Hard loss (the holder's processes killed with its node, or cut off from Consul): nothing is
 * released, the session is invalidated within 2 × TTL of the last renewal, then the lock-delay
 * passes, then a waiter's retry takes the lock.
 */
export const HARD_LOSS_MAX_SECONDS = SESSION_INVALIDATION_MAX_SECONDS + LOCK_DELAY_SECONDS + WAITER_RETRY_SECONDS;

export interface FailoverBudget {
  /** Pod deleted, drained or rolled out: the wrapper gives Mogi's tree its grace, then releases the fence key and the lock. */
  gracefulHandoverMaxSeconds: number;
  /** Another pod waiting (lock level): the holder's processes killed, or the holder cut off from Consul. */
  hardLossMaxSeconds: number;
  /** The holder cut off from Consul: its wrapper stops Mogi's tree within the deadline, its tick, Mogi's grace and the starvation bound. */
  partitionedHolderStopsMogiSeconds: number;
  /**
   * Node lost (through Kubernetes, from its last heartbeat): the node is marked after the grace
   * period, the pod evicted when its toleration runs out, the replacement takes the lock once the
   * old session has expired (whichever comes last), plus a waiter's retry.
   */
  nodeLossMaxSeconds: number;
  /**
   * A Consul server restarts: the holder's session (bound to that server's serfHealth) is
   * invalidated, Mogi is stopped, the same container waits out the lock-delay and takes the lock
   * again (no container restart, so no back-off). Assumes Consul's production Raft timing
   * (`raft_multiplier = 1`): with the default 5, losing a server that also leads makes reads fail
   * longer than the guard's deadline, Mogi stops before the session is invalidated, and the gap
   * grows by up to ~10 s (components/README.md#limits-of-the-guarantee).
   */
  consulServerRestartMaxSeconds: number;
  /** Consul unreachable, then back (counted from its return): one retry, then as a hard loss. */
  consulOutageRecoveryMaxSeconds: number;
  /** Added to all of them until traffic follows: the readiness probe's period. */
  readinessPeriodSeconds: number;
}

export function failoverBudget(readinessPeriodSeconds: number, nodeLossTolerationSeconds: number): FailoverBudget {
  const evictedAfter = NODE_MONITOR_GRACE_SECONDS + NODE_MONITOR_PERIOD_SECONDS + nodeLossTolerationSeconds;
  return {
    gracefulHandoverMaxSeconds: MOGI_GRACE_SECONDS,
    hardLossMaxSeconds: HARD_LOSS_MAX_SECONDS,
    partitionedHolderStopsMogiSeconds: MOGI_GONE_AFTER_CONFIRMATION_SECONDS,
    nodeLossMaxSeconds: Math.max(evictedAfter, HARD_LOSS_MAX_SECONDS) + WAITER_RETRY_SECONDS,
    consulServerRestartMaxSeconds: LOCK_DELAY_SECONDS + WAITER_RETRY_SECONDS + CONSUL_RETRY_SECONDS,
    consulOutageRecoveryMaxSeconds: CONSUL_RETRY_SECONDS + HARD_LOSS_MAX_SECONDS,
    readinessPeriodSeconds,
  };
}

/**
 * What the real-engine tier measured (`npm run test:e2e`, test/e2e/results; medians of 3 runs on
 * the 2-core machine, seconds, after the fail-closed wrapper; through Kubernetes on real kubelets,
 * containerd and runc; test/README.md#measured-failover).
 * Printed beside the bounds by `npm start` and used in
 * `npm run status`' expectations; test/README.md#measured-failover has every run and margin.
 */
export const MEASURED = {
  /** Lock level: SIGTERM to the holder's wrapper → the next Mogi's start. */
  gracefulSeconds: 0.77,
  /** Lock level: the holder's link black-holed → its Mogi ended. */
  partitionedHolderStopsMogiSeconds: 6.0,
  /** Lock level: the holder's processes SIGKILLed → the waiting pod's Mogi start. */
  hardLossSeconds: 45.1,
  /** Through Kubernetes, real nodes: the node's last heartbeat → the replacement's Mogi start (processes dead). */
  nodeLossSeconds: 63.6,
  /** Through Kubernetes, real nodes: Mogi's end → its start again, the holder's Consul server restarted (3 in a row). */
  consulServerRestartSeconds: 18.6,
} as const;

