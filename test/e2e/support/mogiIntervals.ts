/**
 * When each Mogi ran, as its parent saw it: the lock wrapper (the container's PID 1) logs
 * "starting Mogi" just before it starts Mogi and "Mogi (pid N) exited …; its process tree is gone"
 * once it has reaped Mogi and no process of Mogi's tree is left; the pod's runner stamps each line
 * the moment it reads it (as a container runtime stamps logs). A pod whose processes are SIGKILLed
 * with its node ends its Mogi at the kill (no process of a SIGKILLed group runs another
 * instruction). Both ends are therefore observed no earlier than they happened, except a start
 * line's read delay (milliseconds), which the README names.
 *
 * This, not Mogi's own records nor samples, is what the suites judge overlap by: every Mogi's
 * start must come after the previous holder's end, and the margin between them is recorded.
 */
import { minMedianMax } from "../../support/failover";
import { waitFor } from "./processes";

export interface MogiInterval {
  pod: string;
  /** When the wrapper's "starting Mogi" line was read (ms epoch). */
  start: number;
  /** When its exit line was read, or its pod's processes were SIGKILLed; undefined while it runs. */
  end?: number;
  endedBy?: "exit" | "killed";
}

export interface Handover {
  from: string;
  to: string;
  /** The new Mogi's start minus the previous one's end, in ms (negative: they overlapped). */
  marginMs: number;
}

/** What a suite records of a scenario: its measured runs, and what the intervals say of them. */
export interface ScenarioResult {
  runs: number[];
  min: number;
  median: number;
  max: number;
  maxConcurrent: number;
  /** New Mogi start minus the previous Mogi's end, per hand-over (parent-observed). */
  marginMs?: { runs: number[]; min: number; median: number; max: number };
  note: string;
}

const STARTING = /^consul-lock-wrapper: lock confirmed \(session [^,]*, fencing token \d+\); starting Mogi$/;
const EXITED = /^consul-lock-wrapper: Mogi \(pid \d+\) exited with status \d+; its process tree is gone$/;

export class MogiIntervals {
  private readonly all: MogiInterval[] = [];
  /** Output that contradicts the wrapper's contract (checked by the suites). */
  readonly problems: string[] = [];

  /** A line of a pod's main container output, as read at `t`. */
  observe(pod: string, line: string, t: number): void {
    if (STARTING.test(line)) {
      const open = this.open(pod);
      if (open) this.problems.push(`${pod} started a Mogi at ${t} while its previous one still ran`);
      this.all.push({ pod, start: t });
    } else if (EXITED.test(line)) {
      const open = this.open(pod);
      if (open) Object.assign(open, { end: t, endedBy: "exit" });
    }
  }

  /** The pod's processes were SIGKILLed at `t`: its Mogi, if any, ended then. */
  killed(pod: string, t: number): void {
    const open = this.open(pod);
    if (open) Object.assign(open, { end: t, endedBy: "killed" });
  }

  private open(pod: string): MogiInterval | undefined {
    return this.all.find((i) => i.pod === pod && i.end === undefined);
  }

  /** Intervals that were running at or started after `since`, by start. */
  since(since = 0): MogiInterval[] {
    return this.all.filter((i) => (i.end ?? Infinity) >= since).sort((a, b) => a.start - b.start);
  }

  /** Waits for the end (parent-observed) of the Mogi `pod` ran at or after `after`. */
  endAfter(pod: string, after: number, timeoutMs: number): Promise<number> {
    return waitFor(`${pod}'s Mogi to end`, () => (this.running().includes(pod) ? undefined : this.all.filter((i) => i.pod === pod && (i.end ?? 0) >= after).pop()?.end), timeoutMs, 20);
  }

  /** Waits for the first Mogi start (parent-observed) at or after `since`, in a given pod or outside one. */
  nextStart(since: number, timeoutMs: number, which: { in?: string; except?: string } = {}): Promise<MogiInterval> {
    const where = `${which.in ? ` in ${which.in}` : ""}${which.except ? ` outside ${which.except}` : ""}`;
    return waitFor(`a Mogi to start${where}`, () => this.since(since).find((i) => i.start >= since && (!which.in || i.pod === which.in) && i.pod !== which.except), timeoutMs, 20);
  }

  /** Pods whose Mogi runs now. */
  running(): string[] {
    return this.all.filter((i) => i.end === undefined).map((i) => i.pod);
  }

  /** The most Mogis running at one instant, among the intervals since `since` (the guarantee: 1). */
  maxConcurrent(since = 0): number {
    const edges = this.since(since).flatMap((i) => [{ t: i.start, d: 1 }, { t: i.end ?? Infinity, d: -1 }]);
    // At equal times an end comes before a start: touching intervals do not overlap.
    edges.sort((a, b) => a.t - b.t || a.d - b.d);
    let now = 0;
    let max = 0;
    for (const e of edges) max = Math.max(max, (now += e.d));
    return max;
  }

  /**
   * A scenario's result, after checking the guarantee on every Mogi that ran since it began: never
   * two at once, each start strictly after the previous end. Throws, naming the scenario, if not.
   */
  scenario(name: string, runs: number[], note: string, since: number): ScenarioResult {
    const handovers = this.handovers(since);
    const margins = handovers.map((h) => h.marginMs);
    const maxConcurrent = this.maxConcurrent(since);
    const overlapping = handovers.filter((h) => h.marginMs <= 0);
    if (this.problems.length || maxConcurrent !== 1 || overlapping.length) {
      throw new Error(`${name}: exclusion broken: maxConcurrent ${maxConcurrent}, hand-overs without a positive margin ${JSON.stringify(overlapping)}, problems ${JSON.stringify(this.problems)}`);
    }
    return { runs: runs.map(Math.round), ...minMedianMax(runs), maxConcurrent, ...(margins.length ? { marginMs: { runs: margins, ...minMedianMax(margins) } } : {}), note };
  }

  /** Each Mogi start after `since` against the end of the Mogi that ran before it. */
  handovers(since = 0): Handover[] {
    const list = this.since(since);
    const result: Handover[] = [];
    for (let i = 1; i < list.length; i++) {
      if (list[i].start < since) continue;
      const previous = list.slice(0, i).reduce((a, b) => ((b.end ?? Infinity) > (a.end ?? Infinity) ? b : a));
      result.push({ from: previous.pod, to: list[i].pod, marginMs: list[i].start - (previous.end ?? Infinity) });
    }
    return result;
  }
}
