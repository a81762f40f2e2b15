/**
 * Watches the test Mogis (fixtures/test-mogi.js) of a suite: which of them are running right now,
 * sampled every 50 ms from their start/stop records and the kernel's process table, and the
 * largest number ever seen running at once (`maxConcurrent`: the singleton guarantee says 1).
 */
import { existsSync, readFileSync } from "node:fs";
import type { MogiSampler } from "../../support/failover";
import { sleep } from "./processes";

export interface MogiEvent {
  /** start, stop; token (its fencing token), token-refused (the key's session was not its own), token-error. */
  event: "start" | "stop" | "token" | "token-refused" | "token-error";
  pod: string;
  pid: number;
  ppid?: number;
  t: number;
  [key: string]: unknown;
}

export const SAMPLE_INTERVAL_MS = 50;

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
  maxConcurrent = 0;
  samples = 0;
  /** Every sample that saw more than one Mogi running. */
  readonly overlaps: { t: number; pods: string[] }[] = [];
  private running: MogiEvent[] = [];
  private stopped = false;
  private loop?: Promise<void>;

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

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        this.running = this.sample();
        this.samples += 1;
        this.maxConcurrent = Math.max(this.maxConcurrent, this.running.length);
        if (this.running.length > 1) this.overlaps.push({ t: Date.now(), pods: this.running.map((e) => e.pod) });
        await sleep(SAMPLE_INTERVAL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Waits until `condition` holds for the pods running Mogi at a sample; returns ms since `since`. */
  async until(condition: (running: string[]) => boolean, timeoutMs: number, since = Date.now()): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const running = this.sample().map((e) => e.pod);
      if (condition(running)) return Date.now() - since;
      if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s; running Mogi: ${running.join(", ") || "none"}`);
      await sleep(SAMPLE_INTERVAL_MS);
    }
  }

  /** The Mogis running at the latest sample. */
  get current(): MogiEvent[] {
    return this.running;
  }

  /** The first start recorded after `since` (ms epoch) by a pod other than `except`, waiting for it. */
  async nextStart(since: number, timeoutMs: number, except?: string): Promise<MogiEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events().find((e) => e.event === "start" && e.t >= since && e.pod !== except);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no Mogi started within ${timeoutMs / 1000} s (running: ${this.running.map((e) => e.pod).join(", ") || "none"})`);
      await sleep(20);
    }
  }

  /** Waits until the Mogi with this PID is no longer running; returns when it recorded its stop (or was seen gone). */
  async stopOf(pid: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const stopRecord = () => this.events().find((e) => e.event === "stop" && e.pid === pid);
    for (;;) {
      const stop = stopRecord();
      if (stop) return stop.t;
      // Gone: it may have recorded its stop just before exiting (read again), or been killed.
      if (!processRunning(pid)) return stopRecord()?.t ?? Date.now();
      if (Date.now() > deadline) throw new Error(`Mogi ${pid} still running after ${timeoutMs / 1000} s`);
      await sleep(20);
    }
  }
}

/**
 * The fencing tokens the Mogis obtained, per Consul (a token only orders holders of one Consul),
 * in the order they were obtained; throws if a Mogi ran without getting one, or was refused one.
 */
export function fencingTokens(events: MogiEvent[]): Map<string, { pod: string; token: number; lockIndex: number; t: number }[]> {
  const problems = events.filter((e) => e.event === "token-refused" || e.event === "token-error");
  if (problems.length) throw new Error(`Mogis without a fencing token: ${JSON.stringify(problems)}`);
  const tokens = events.filter((e) => e.event === "token");
  const started = events.filter((e) => e.event === "start").map((e) => e.pid);
  const missing = started.filter((pid) => !tokens.some((t) => t.pid === pid));
  if (missing.length) throw new Error(`Mogis (pids ${missing.join(", ")}) ran without obtaining a fencing token`);
  const byConsul = new Map<string, { pod: string; token: number; lockIndex: number; t: number }[]>();
  for (const t of [...tokens].sort((a, b) => a.t - b.t)) {
    const list = byConsul.get(String(t.consul)) ?? [];
    list.push({ pod: t.pod, token: Number(t.fencingToken), lockIndex: Number(t.lockIndex), t: t.t });
    byConsul.set(String(t.consul), list);
  }
  return byConsul;
}
