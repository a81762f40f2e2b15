/** How `npm run status` prints an assessment: a compact table for people, one JSON object for scripts. */
import type { Facts } from "./facts";
import type { Assessment } from "./verdict";

function age(since: string | undefined, now: number): string {
  if (!since) return "-";
  const s = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86400)}d`;
}

export function humanReport(facts: Facts, assessment: Assessment): string {
  const now = facts.observedAt;
  const rows = [["POD", "PHASE", "READY", "NODE", "AGE", ""]];
  for (const pod of facts.pods) {
    const notes = [pod.name === assessment.holder ? "holds the lock" : "", pod.terminating ? "terminating" : ""].filter(Boolean).join(", ");
    rows.push([pod.name, pod.phase, pod.ready ? "yes" : "no", pod.node ?? "-", age(pod.createdAt, now), notes]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const table = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  const verdict = assessment.verdict === "healthy" ? "healthy" : "DEGRADED";
  return [
    `${facts.stack}: ${facts.namespace}/${facts.deploymentName}, lock ${facts.lock.key} at ${new Date(now).toISOString()}`,
    ...(facts.pods.length ? table : ["(no pods)"]),
    ...assessment.checks.map((c) => `${c.ok ? "ok " : "!! "} ${c.check.padEnd(13)} ${c.message}`),
    `verdict: ${verdict}${assessment.holder ? ` (active: ${assessment.holder})` : ""}`,
  ].join("\n");
}

/** Everything observed and concluded, for monitors (`--json`). */
export function jsonReport(facts: Facts, assessment: Assessment): string {
  return JSON.stringify({
    stack: facts.stack,
    observedAt: new Date(facts.observedAt).toISOString(),
    verdict: assessment.verdict,
    exitCode: assessment.exitCode,
    holder: assessment.holder ?? null,
    checks: assessment.checks,
    lock: facts.lock,
    session: facts.session ?? null,
    pods: facts.pods,
  });
}
