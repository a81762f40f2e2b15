/**
 * The verdict `npm run status` gives, from what it observed (facts.ts): one check per question an
 * operator asks, and `healthy` (exit 0) only when exactly one pod holds the lock, that pod is
 * Ready and no other pod is. Pure: no I/O, so every case is unit-tested.
 */
import { HARD_LOSS_MAX_SECONDS, LOCK_DELAY_SECONDS, MEASURED, SESSION_TTL_SECONDS } from "../failoverBudget";
import type { Facts, PodFacts } from "./facts";

export type CheckName = "deployment" | "lock-held" | "holder-pod" | "holder-ready" | "pod-node" | "one-ready-pod";

export interface Check {
  check: CheckName;
  ok: boolean;
  message: string;
}

export interface Assessment {
  verdict: "healthy" | "degraded";
  /** 0 healthy, 1 degraded (2, usage or unreachable, is the CLI's). */
  exitCode: 0 | 1;
  /** The pod holding the lock, when its session names an existing pod. */
  holder?: string;
  checks: Check[];
}

/** When a problem was first seen (by `--watch`), so that "for how long" can be said. */
export type FirstSeen = Partial<Record<CheckName, number>>;

const ago = (since: number | undefined, now: number) => (since === undefined ? "" : ` (for ${Math.round((now - since) / 1000)} s)`);
const clock = (t: number) => new Date(t).toISOString().slice(11, 19);

export function assess(facts: Facts, firstSeen: FirstSeen = {}): Assessment {
  const now = facts.observedAt;
  const checks: Check[] = [];
  const check = (name: CheckName, ok: boolean, message: string) => checks.push({ check: name, ok, message: ok ? message : `${message}${ago(firstSeen[name], now)}` });

  if (!facts.deployment) {
    check("deployment", false, `Deployment ${facts.deploymentName} does not exist in namespace ${facts.namespace}: is the stack deployed?`);
  } else {
    check("deployment", facts.deployment.replicas === 1, `Deployment ${facts.deploymentName}: replicas ${facts.deployment.replicas ?? "?"} (a singleton has 1)`);
  }

  const { lock, session } = facts;
  if (!session) {
    const why = !lock.present
      ? "the key is absent (released with nobody waiting, or never taken)"
      : `the key has no session (released, or the holder's session expired or was invalidated: then a waiting pod takes it after the ${LOCK_DELAY_SECONDS} s lock-delay)`;
    const waiting = facts.pods.filter((p) => !p.terminating && p.nodeReady !== false).map((p) => p.name);
    check("lock-held", false, `nobody holds ${lock.key}: ${why}${waiting.length ? `; waiting for it: ${waiting.join(", ")}` : ""}`);
  } else {
    check("lock-held", true, `${lock.key} held by session ${session.id.slice(0, 8)} "${session.name}" on node ${session.node} (TTL ${session.ttl}, lock-delay ${session.lockDelaySeconds} s; LockIndex ${lock.lockIndex}, ModifyIndex ${lock.modifyIndex})`);
  }

  const holder: PodFacts | undefined = session ? facts.pods.find((p) => p.name === session.name) : undefined;
  if (session && !holder) {
    const seen = firstSeen["holder-pod"];
    const eta = seen === undefined ? `within about ${HARD_LOSS_MAX_SECONDS} s of the loss` : `by about ${clock(seen + HARD_LOSS_MAX_SECONDS * 1000)} UTC`;
    check("holder-pod", false, `the lock's session is named after pod ${session.name}, which no longer exists: a hard loss (node lost, or consul lock killed). Its session expires within 2 × ${SESSION_TTL_SECONDS} s of its last renewal, then the ${LOCK_DELAY_SECONDS} s lock-delay passes: expect a new holder ${eta} (measured: ${MEASURED.hardLossSeconds} s)`);
  } else if (holder) {
    check("holder-pod", true, `pod ${holder.name} holds the lock`);
  }

  if (holder) {
    if (holder.terminating) check("holder-ready", false, `holder ${holder.name} is terminating: a hand-over is under way`);
    else if (!holder.ready) check("holder-ready", false, `holder ${holder.name} is not Ready: Mogi is starting or failing its health check, or its lock wrapper stopped it because the pod cannot confirm the lock with Consul (cut off from Consul); it runs Mogi again once it can`);
    else check("holder-ready", true, `holder ${holder.name} is Ready${holder.readySince ? ` since ${holder.readySince}` : ""}`);
  }

  for (const pod of facts.pods.filter((p) => p.nodeReady === false)) {
    const since = pod.nodeNotReadySince ? ` since ${pod.nodeNotReadySince}` : "";
    check("pod-node", false, pod.terminating
      ? `pod ${pod.name} is terminating on node ${pod.node}, which is not Ready${since}: its kubelet stopped reporting, so the pod stays listed until the node returns; if its processes still run, its lock wrapper stopped Mogi when it lost Consul`
      : `pod ${pod.name} is on node ${pod.node}, which is not Ready${since}: its kubelet stopped reporting (node lost or cut off). Kubernetes evicts the pod once its node-loss toleration runs out and starts a replacement, which takes the lock once the old session has expired (measured: the replacement's Mogi ${MEASURED.nodeLossSeconds} s after the node's last heartbeat)`);
  }

  const ready = facts.pods.filter((p) => p.ready);
  if (ready.length > 1) {
    check("one-ready-pod", false, `MORE THAN ONE POD IS READY (${ready.map((p) => p.name).join(", ")}): this must never happen. Check that every pod runs Mogi through the lock wrapper (policy singleton-runs-under-consul-lock) and that they share one lock prefix`);
  } else if (ready.length === 1 && ready[0].name !== holder?.name) {
    check("one-ready-pod", false, `pod ${ready[0].name} is Ready but does not hold the lock: it serves without the lock`);
  } else {
    check("one-ready-pod", true, ready.length === 1 ? "one pod Ready, the holder" : "no pod Ready");
  }

  const healthy = checks.every((c) => c.ok) && holder !== undefined;
  return { verdict: healthy ? "healthy" : "degraded", exitCode: healthy ? 0 : 1, holder: holder?.name, checks };
}

/** Carries forward when each failing check was first seen, for `--watch`. */
export function updateFirstSeen(previous: FirstSeen, assessment: Assessment, now: number): FirstSeen {
  const next: FirstSeen = {};
  for (const c of assessment.checks) if (!c.ok) next[c.check] = previous[c.check] ?? now;
  return next;
}
