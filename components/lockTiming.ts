/**
 * The timing the singleton's exclusion rests on: what `consul lock` and the Consul servers do
 * (FACTS.md, "`consul lock`"; hashicorp/consul api/lock.go), and the lock wrapper's periods, which
 * the pod gets as environment (components/scripts/consul-lock-wrapper.sh reads them and refuses
 * values that break the inequalities below; components/scripts/README.md says why they hold, and
 * test/model/ checks the protocol with these values).
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

/** The wrapper reads the fence key this often while Mogi runs. */
export const LOCK_CHECK_SECONDS = 2;
/**
 * Mogi is stopped when no read sent within this long confirmed the lock: three reads' worth, so
 * one slow or lost read does not stop a healthy Mogi.
 */
export const LOCK_DEADLINE_SECONDS = 6;
/** The wrapper notices a passed deadline within one tick of its loop (fixed in the wrapper). */
export const GUARD_TICK_SECONDS = 1;
/** Mogi's whole process tree gets SIGTERM, then SIGKILL after this long. */
export const MOGI_GRACE_SECONDS = 4;
/**
 * The longest the protocol assumes a process of the chain is starved (stopped, descheduled) at one
 * time (fixed in the wrapper; the model delays any step by up to this much).
 */
export const STARVATION_BOUND_SECONDS = 2;

/**
 * Worst case from the last read that confirmed the lock (sent at q) to Mogi's tree being gone:
 * the deadline passes, the wrapper notices within a tick, Mogi gets its grace, and the wrapper
 * may have been starved meanwhile.
 */
export const MOGI_GONE_AFTER_CONFIRMATION_SECONDS = LOCK_DEADLINE_SECONDS + GUARD_TICK_SECONDS + MOGI_GRACE_SECONDS + STARVATION_BOUND_SECONDS;

/**
 * A new holder that finds the fence key deleted (or never written) waits this long before it
 * starts Mogi: the earlier holder's Mogi, whose last confirming read came before the deletion,
 * is gone by then. Inequality: MOGI_GONE_AFTER_CONFIRMATION_SECONDS (13) < FENCE_SECONDS (14).
 */
export const FENCE_SECONDS = MOGI_GONE_AFTER_CONFIRMATION_SECONDS + 1;

/**
 * Seconds between the holder's Mogi tree being gone and the earliest moment another pod can hold
 * the fence key after an invalidation, in the worst case: the session was valid after q, so
 * nobody can hold the key before q + LOCK_DELAY_SECONDS. Inequality:
 * MOGI_GONE_AFTER_CONFIRMATION_SECONDS (13) < LOCK_DELAY_SECONDS (15); tested to be positive.
 */
export const EXCLUSION_MARGIN_SECONDS = LOCK_DELAY_SECONDS - MOGI_GONE_AFTER_CONFIRMATION_SECONDS;
/** The same margin for a deleted fence key (the fence wait instead of the lock-delay). */
export const FENCE_MARGIN_SECONDS = FENCE_SECONDS - MOGI_GONE_AFTER_CONFIRMATION_SECONDS;
