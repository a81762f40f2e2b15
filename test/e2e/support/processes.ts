/**
 * Processes the e2e suites start: each in its own process group, its output in a log file, all
 * of them stopped at the end even when a test fails (nothing is left running after a suite).
 */
import { ChildProcess, spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { containerArgs, containerInit, UNSHARE } from "../../support/container";

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Removes a suite's work directory, or keeps it (logs, pod output) when MOGI_E2E_KEEP is set. */
export function removeWorkDir(dir: string): void {
  if (process.env.MOGI_E2E_KEEP) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

/**
 * Ports for the servers a suite starts, below Linux's default ephemeral range (32768–60999): the
 * kernel's own pick (`listen(0)`) came from that range, where any outgoing connection on the
 * machine may take it between its release and the server's bind (seen: a Consul server's RPC port,
 * "address already in use", and a cluster without quorum). Each jest worker gets its own part, so
 * two suites never pick the same port; this process never hands one out twice.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the tier's own setting, not a copy of it
const E2E_WORKERS: number = require("../../../jest.e2e.config.js").maxWorkers;
const PORTS = (() => {
  const [from, to] = [20_000, 32_000];
  const worker = Number(process.env.JEST_WORKER_ID ?? 0);
  if (!worker) return { from, to }; // a benchmark, alone
  const part = (worker - 1) % E2E_WORKERS;
  const size = Math.floor((to - from) / E2E_WORKERS);
  return { from: from + part * size, to: from + (part + 1) * size };
})();
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 (see PORTS), released before the caller binds it. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORTS.from + Math.floor(Math.random() * (PORTS.to - PORTS.from));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free TCP port in ${PORTS.from}-${PORTS.to - 1} on 127.0.0.1 after 100 tries`);
}

/** Polls `condition` until it returns a value (not undefined/false) or the deadline passes. */
export async function waitFor<T>(what: string, condition: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(intervalMs);
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output goes here (appended); `tail()` reads it back. */
  logFile: string;
  /**
   * Each output line as it arrives, with the time it was read (as a container runtime stamps its
   * logs). Output then passes through this process, and each line is logged with that time.
   */
  onLine?: (line: string, t: number) => void;
  /**
   * Run as a container (test/support/container.ts): PID 1 of a PID namespace of its own, which
   * `signal` reaches as a container runtime does.
   */
  container?: boolean;
}

/** One started process. */
export class Proc {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null | undefined;
  private readonly child: ChildProcess;

  constructor(readonly name: string, command: string, args: string[], readonly options: StartOptions) {
    const log = openSync(options.logFile, "a");
    const onLine = options.onLine;
    if (options.container) [command, args] = [UNSHARE, containerArgs([command, ...args])];
    this.child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: onLine ? ["ignore", "pipe", "pipe"] : ["ignore", log, log], detached: true });
    if (onLine) {
      const stamped = (stream: NodeJS.ReadableStream | null) => {
        let partial = "";
        stream?.setEncoding("utf8");
        stream?.on("data", (chunk: string) => {
          const t = Date.now();
          const lines = (partial + chunk).split("\n");
          partial = lines.pop() as string;
          for (const line of lines) {
            appendFileSync(log, `${new Date(t).toISOString()} ${line}\n`);
            onLine(line, t);
          }
        });
        stream?.on("end", () => (partial ? appendFileSync(log, `${partial}\n`) : undefined));
      };
      stamped(this.child.stdout);
      stamped(this.child.stderr);
      this.child.on("close", () => closeSync(log));
    } else {
      closeSync(log);
    }
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exitCode = code;
        resolve({ code, signal });
      });
      this.child.on("error", () => resolve({ code: null, signal: null }));
    });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Signals the process itself (not its group); for a container, its PID 1. */
  signal(signal: NodeJS.Signals): void {
    if (!this.alive) return;
    let target: number | undefined = this.pid;
    if (this.options.container) {
      // `unshare` forks the container's PID 1 as it starts: wait the few milliseconds that takes.
      const until = Date.now() + 2000;
      while ((target = containerInit(this.pid)) === undefined && this.alive && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
    if (target !== undefined) process.kill(target, signal);
  }

  /** Signals its whole process group (a node lost: everything it started dies with it). */
  signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // the group is gone
    }
  }

  /** SIGTERM (or `signal`), then SIGKILL to the group after `graceMs`; resolves once it exited. */
  async stop(graceMs = 10_000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.alive) {
      this.signal(signal);
      const timer = setTimeout(() => this.signalGroup("SIGKILL"), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.signalGroup("SIGKILL"); // anything it left behind
  }

  /** The last lines of its log. */
  tail(lines = 40): string {
    try {
      return readFileSync(this.options.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

const running = new Set<Proc>();

/** Stops every process still running: for afterAll, so that a failing test leaves nothing behind. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2_000)));
}
