/**
 * The test Mogis' own records (fixtures/test-mogi.js): their fencing tokens, and which of them run
 * right now (their start/stop records and the kernel's process table), for tests that wait on a
 * state. Overlap is not judged from these but from what Mogi's parent observed (mogiIntervals.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import type { MogiSampler } from "../../support/failover";
import { sleep } from "./processes";

export interface MogiEvent {
  /** start, stop; child (the child process it started); token (its fencing token), token-error (none given). */
  event: "start" | "stop" | "child" | "token" | "token-error";
  pod: string;
  pid: number;
  ppid?: number;
  t: number;
  [key: string]: unknown;
}

/** How often `until` looks again. */
const POLL_MS = 50;

/** True while the process exists and is not a zombie (an exited child nobody reaped yet). */
function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export class MogiWatch implements MogiSampler {
  constructor(readonly eventsFile: string) {}

  events(): MogiEvent[] {
    if (!existsSync(this.eventsFile)) return [];
    return readFileSync(this.eventsFile, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as MogiEvent);
  }

  /** Mogis started and neither recorded as stopped nor gone from the process table. */
  sample(): MogiEvent[] {
    const events = this.events();
    const stoppedPids = new Set(events.filter((e) => e.event === "stop").map((e) => e.pid));
    return events.filter((e) => e.event === "start" && !stoppedPids.has(e.pid) && processRunning(e.pid));
  }

  /** Waits until `condition` holds for the pods running Mogi now; returns ms since `since`. */
  async until(condition: (running: string[]) => boolean, timeoutMs: number, since = Date.now()): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.sample().map((e) => e.pod);
      if (condition(running)) return Date.now() - since;
      if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s; running Mogi: ${running.join(", ") || "none"}`);
      await sleep(POLL_MS);
    }
  }
}

/**
 * The fencing tokens the Mogis obtained, per Consul (a token only orders holders of one Consul),
 * in the order they were obtained; throws if a Mogi ran without getting one, or was refused one.
 */
export function fencingTokens(events: MogiEvent[]): Map<string, { pod: string; token: number; t: number }[]> {
  const problems = events.filter((e) => e.event === "token-error");
  if (problems.length) throw new Error(`Mogis without a fencing token: ${JSON.stringify(problems)}`);
  const tokens = events.filter((e) => e.event === "token");
  const started = events.filter((e) => e.event === "start").map((e) => e.pid);
  const missing = started.filter((pid) => !tokens.some((t) => t.pid === pid));
  if (missing.length) throw new Error(`Mogis (pids ${missing.join(", ")}) ran without obtaining a fencing token`);
  const byConsul = new Map<string, { pod: string; token: number; t: number }[]>();
  for (const t of [...tokens].sort((a, b) => a.t - b.t)) {
    const list = byConsul.get(String(t.consul)) ?? [];
    list.push({ pod: t.pod, token: Number(t.fencingToken), t: t.t });
    byConsul.set(String(t.consul), list);
  }
  return byConsul;
}
