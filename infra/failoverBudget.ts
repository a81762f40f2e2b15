/**
 * How long Mogi can be without an active instance, from the facts of `consul lock`
 * (FACTS.md, "`consul lock`" and "Real clusters"). These are upper bounds from configuration;
 * the README puts the measured hand-over times beside them.
 */
import { CONSUL_RETRY_SECONDS } from "../components/lockWrapper";

/** `consul lock` gives its child this long after SIGTERM before SIGKILL, then releases the lock. */
export const CHILD_GRACE_SECONDS = 5;
/** Session TTL `consul lock` uses; Consul may take up to twice it to invalidate (hashicorp/consul#4508). */
export const SESSION_TTL_SECONDS = 15;
/** Server default lock-delay after an invalidated session held the lock. */
export const LOCK_DELAY_SECONDS = 15;
/** How often waiters retry after a lock-delay. */
export const WAITER_RETRY_SECONDS = 5;
/** The kubelet's first restart delay after a container exits (it doubles up to 300 s, reset after 10 min running). */
export const FIRST_RESTART_BACKOFF_SECONDS = 10;

/**
 * Hard loss (node lost, `consul lock` killed): nothing is released, the session is invalidated
 * within 2 × TTL, then the lock-delay passes, then a waiter's retry takes the lock.
 */
export const HARD_LOSS_MAX_SECONDS = 2 * SESSION_TTL_SECONDS + LOCK_DELAY_SECONDS + WAITER_RETRY_SECONDS;

export interface FailoverBudget {
  /** Pod deleted, drained or rolled out: the old holder stops Mogi and releases at once. */
  gracefulHandoverMaxSeconds: number;
  /** Node lost or `consul lock` SIGKILLed: the session must expire, then lock-delay applies. */
  hardLossMaxSeconds: number;
  /**
   * A Consul server restarts: the holder's session (bound to that server's serfHealth) is
   * invalidated, Mogi is stopped, the container restarts once and takes the lock after lock-delay.
   */
  consulServerRestartMaxSeconds: number;
  /**
   * Consul unreachable, then back (counted from its return): the wrapper notices within one retry,
   * then the old session must expire as in a hard loss. Without the wrapper's wait, the kubelet's
   * back-off would add up to 300 s.
   */
  consulOutageRecoveryMaxSeconds: number;
  /** Added to all of them until traffic follows: the readiness probe's period. */
  readinessPeriodSeconds: number;
}

/**
 * Graceful: the old holder's child gets at most CHILD_GRACE_SECONDS, then the lock is released
 * and the waiter, blocked on the key, acquires it immediately (plus the new pod's own start-up).
 * Hard loss: 2 × TTL + lock-delay + one retry interval ≈ 50 s.
 */
export function failoverBudget(readinessPeriodSeconds: number): FailoverBudget {
  return {
    gracefulHandoverMaxSeconds: CHILD_GRACE_SECONDS,
    hardLossMaxSeconds: HARD_LOSS_MAX_SECONDS,
    consulServerRestartMaxSeconds: FIRST_RESTART_BACKOFF_SECONDS + LOCK_DELAY_SECONDS + WAITER_RETRY_SECONDS,
    consulOutageRecoveryMaxSeconds: CONSUL_RETRY_SECONDS + HARD_LOSS_MAX_SECONDS,
    readinessPeriodSeconds,
  };
}
