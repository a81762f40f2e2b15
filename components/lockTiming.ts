/**
 * The timing the singleton's exclusion rests on: what `consul lock` and the Consul servers do
 * (FACTS.md, "`consul lock`"; hashicorp/consul api/lock.go), and the lock guard's periods, which
 * the pod gets as environment (components/scripts/consul-lock-guard.sh reads them).
 */

/** Session TTL `consul lock` uses (api.DefaultLockSessionTTL); it renews every TTL / 2. */
export const SESSION_TTL_SECONDS = 15;
/** Consul may take up to twice the TTL to invalidate a session that stopped renewing (hashicorp/consul#4508). */
export const SESSION_INVALIDATION_MAX_SECONDS = 2 * SESSION_TTL_SECONDS;
/** Server default lock-delay after an invalidated session held the lock: nobody can take it sooner. */
export const LOCK_DELAY_SECONDS = 15;
/** How often waiters retry after a lock-delay (api.DefaultLockRetryTime). */
export const WAITER_RETRY_SECONDS = 5;
/** `consul lock` gives its child this long after SIGTERM before SIGKILL (lockKillGracePeriod). */
export const CONSUL_LOCK_CHILD_GRACE_SECONDS = 5;

/** The guard reads the lock key this often. */
export const LOCK_CHECK_SECONDS = 2;
/**
 * Mogi is stopped when no read sent within this long confirmed the lock: three reads' worth, so
 * one slow or lost read does not stop a healthy Mogi.
 */
export const LOCK_DEADLINE_SECONDS = 6;
/** The guard notices a passed deadline within one tick of its loop. */
export const GUARD_TICK_SECONDS = 1;
/**
 * Mogi's grace between the guard's SIGTERM and SIGKILL. Below `consul lock`'s 5 s for the guard,
 * so the guard always outlives Mogi and nothing runs on after the lock is released.
 */
export const MOGI_GRACE_SECONDS = 4;

/**
 * Worst case from the last read that confirmed the lock (sent at q) to Mogi being gone: the
 * deadline passes, the guard notices within a tick, Mogi gets its grace.
 */
export const MOGI_GONE_AFTER_CONFIRMATION_SECONDS = LOCK_DEADLINE_SECONDS + GUARD_TICK_SECONDS + MOGI_GRACE_SECONDS;

/**
 * Seconds between the holder's Mogi being gone and the earliest moment another pod can hold the
 * lock, in the worst case: the session was valid after q, so nobody can hold the lock before
 * q + LOCK_DELAY_SECONDS. Must be positive (and is tested to be at least 3 s).
 */
export const EXCLUSION_MARGIN_SECONDS = LOCK_DELAY_SECONDS - MOGI_GONE_AFTER_CONFIRMATION_SECONDS;
