/**
 * A real node's pod logs, as containerd writes them for the kubelet (the CRI log format: one
 * `<RFC 3339 time> <stream> <F|P> <text>` line per line of output, the time being when containerd
 * read it from the container). Read back every 50 ms:
 * - the main container's lines go to the Mogi intervals (support/mogiIntervals.ts) with
 *   containerd's own time stamp, so a start or exit line is placed when the runtime saw it;
 * - the test Mogi's `mogi-event {json}` records go to the events file support/mogiWatch.ts reads.
 * Layout: <podLogsDir>/<namespace>_<pod>_<uid>/<container>/<restart count>.log.
 */
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import * as path from "node:path";
import type { MogiIntervals } from "./mogiIntervals";

/** Containers whose output is not Mogi's parent's (the init container that copies `consul`). */
const NOT_MAIN = new Set(["install-consul"]);
const POLL_MS = 50;

interface Tailed {
  pod: string;
  offset: number;
  partial: string;
  lines: string[];
}

export class PodLogs {
  private readonly files = new Map<string, Tailed>();
  private timer?: NodeJS.Timeout;

  constructor(readonly dir: string, private readonly intervals?: MogiIntervals, private readonly eventsFile?: string) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.poll();
  }

  /** Pods that have a main container log here. */
  pods(): string[] {
    return [...new Set([...this.files.values()].map((f) => f.pod))];
  }

  /** The last lines of the pod's main container output (every container of it, in the order read). */
  tail(pod: string, lines = 40): string {
    this.poll();
    const all = [...this.files.values()].filter((f) => f.pod === pod).flatMap((f) => f.lines);
    return all.slice(-lines).join("\n");
  }

  private poll(): void {
    if (!existsSync(this.dir)) return;
    for (const podDir of readdirSync(this.dir)) {
      const pod = podDir.split("_")[1];
      for (const container of safeList(path.join(this.dir, podDir))) {
        if (NOT_MAIN.has(container)) continue;
        for (const log of safeList(path.join(this.dir, podDir, container))) {
          if (!log.endsWith(".log")) continue;
          const file = path.join(this.dir, podDir, container, log);
          if (!this.files.has(file)) this.files.set(file, { pod, offset: 0, partial: "", lines: [] });
          this.read(file, this.files.get(file) as Tailed);
        }
      }
    }
  }

  private read(file: string, tailed: Tailed): void {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size <= tailed.offset) return;
    const fd = openSync(file, "r");
    const buffer = Buffer.alloc(size - tailed.offset);
    readSync(fd, buffer, 0, buffer.length, tailed.offset);
    closeSync(fd);
    tailed.offset = size;
    const chunks = buffer.toString("utf8").split("\n");
    const last = chunks.pop() as string;
    for (const raw of chunks) this.line(tailed, raw);
    if (last) tailed.offset -= Buffer.byteLength(last); // an unfinished record: read again next time
  }

  private line(tailed: Tailed, raw: string): void {
    const match = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(raw);
    if (!match) return;
    const [, time, , tag, text] = match;
    tailed.partial += text;
    if (tag === "P") return;
    const line = tailed.partial;
    tailed.partial = "";
    tailed.lines.push(line);
    if (tailed.lines.length > 2000) tailed.lines.splice(0, 1000);
    const t = Date.parse(time);
    if (line.startsWith("mogi-event ")) {
      if (this.eventsFile) appendFileSync(this.eventsFile, `${line.slice("mogi-event ".length)}\n`);
    } else this.intervals?.observe(tailed.pod, line, t);
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
