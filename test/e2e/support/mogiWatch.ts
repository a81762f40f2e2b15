/**
 * The test Mogis' own records (fixtures/test-mogi.js): their fencing tokens, and which of them run
 * right now (their start/stop records and the kernel's process table), for tests that wait on a
 * state. Overlap is not judged from these but from what Mogi's parent observed (mogiIntervals.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { argvOf, hostPids, innermostPid, podOf, processAlive } from "../../support/container";
import type { MogiSampler } from "../../support/failover";
import { sleep } from "./processes";

export interface MogiEvent {
  /** start, stop; child (the child process it started); token (its fencing token), token-error (none given); forks-failed (the real nodes' test Mogi, told to use up its pod's pids). */
  event: "start" | "stop" | "child" | "token" | "token-error" | "forks-failed";
  pod: string;
  pid: number;
  ppid?: number;
  t: number;
  [key: string]: unknown;
}

/** How often `until` looks again. */
const POLL_MS = 50;

/**
 * The host PID of a test Mogi that recorded `pid` as seen inside its container's PID namespace
 * (the wrapper is PID 1 there): the process whose innermost NSpid is `pid`, running the test Mogi,
 * with the pod's POD_NAME. Undefined once it is gone.
 */
function hostPidOf(event: MogiEvent): number | undefined {
  // test-mogi.js, or the real nodes' binary
  return hostPids().find((pid) => (argvOf(pid)?.join(" ") ?? "").includes("test-mogi") && innermostPid(pid) === event.pid && podOf(pid) === event.pod);
}

export class MogiWatch implements MogiSampler {
  /** pod/pid of a start record → its host PID (null: it was already gone when first looked for). */
  private readonly hostPids = new Map<string, number | null>();

  constructor(readonly eventsFile: string) {}

  private running(event: MogiEvent): boolean {
    const key = `${event.pod}/${event.pid}`;
    if (!this.hostPids.has(key)) this.hostPids.set(key, hostPidOf(event) ?? null);
    const pid = this.hostPids.get(key);
    return pid !== null && pid !== undefined && processAlive(pid);
  }

  events(): MogiEvent[] {
    if (!existsSync(this.eventsFile)) return [];
    return readFileSync(this.eventsFile, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as MogiEvent);
  }

  /** Mogis started and neither recorded as stopped nor gone from the process table. */
  sample(): MogiEvent[] {
    const events = this.events();
    const stopped = new Set(events.filter((e) => e.event === "stop").map((e) => `${e.pod}/${e.pid}`));
    return events.filter((e) => e.event === "start" && !stopped.has(`${e.pod}/${e.pid}`) && this.running(e));
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
  // PIDs are the containers' own (each pod has its own PID namespace): a Mogi is its pod and PID.
  const started = events.filter((e) => e.event === "start").map((e) => `${e.pod}/${e.pid}`);
  const missing = started.filter((mogi) => !tokens.some((t) => `${t.pod}/${t.pid}` === mogi));
  if (missing.length) throw new Error(`Mogis (${missing.join(", ")}) ran without obtaining a fencing token`);
  const byConsul = new Map<string, { pod: string; token: number; t: number }[]>();
  for (const t of [...tokens].sort((a, b) => a.t - b.t)) {
    const list = byConsul.get(String(t.consul)) ?? [];
    list.push({ pod: t.pod, token: Number(t.fencingToken), t: t.t });
    byConsul.set(String(t.consul), list);
  }
  return byConsul;
}
