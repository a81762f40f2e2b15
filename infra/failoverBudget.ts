/**
 * How long Mogi can be without an active instance, from the facts of `consul lock`
 * (FACTS.md, "`consul lock`"). These are upper bounds from configuration, not measurements.
 */

/** `consul lock` gives its child this long after SIGTERM before SIGKILL, then releases the lock. */
export const CHILD_GRACE_SECONDS = 5;
/** Session TTL `consul lock` uses; Consul may take up to twice it to invalidate (hashicorp/consul#4508). */
export const SESSION_TTL_SECONDS = 15;
/** Server default lock-delay after an invalidated session held the lock. */
export const LOCK_DELAY_SECONDS = 15;
/** How often waiters retry after a lock-delay. */
export const WAITER_RETRY_SECONDS = 5;

export interface FailoverBudget {
  /** Pod deleted, drained or rolled out: the old holder stops Mogi and releases at once. */
  gracefulHandoverMaxSeconds: number;
  /** Node lost or `consul lock` SIGKILLed: the session must expire, then lock-delay applies. */
  hardLossMaxSeconds: number;
  /** Added to both until traffic follows: the readiness probe's period. */
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
    hardLossMaxSeconds: 2 * SESSION_TTL_SECONDS + LOCK_DELAY_SECONDS + WAITER_RETRY_SECONDS,
    readinessPeriodSeconds,
  };
}
