/**
 * Runs the real lock wrapper (components/scripts) with the fake `consul` (test/fixtures/fake-consul)
 * first on PATH, as a container runs it: PID 1 of a PID namespace of its own with its own /proc
 * (`unshare --pid --fork --mount-proc`; with a user namespace too when not root). Each run is a
 * process group of its own, killed after the test, so that a broken script leaves nothing running.
 * Mogi's processes are judged from the host's /proc (their PIDs as Mogi records them), never from
 * Mogi's own word that it stopped.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { containerArgs, containerInit, UNSHARE } from "./container";
export { pidNamespace, processAlive, processesIn } from "./container";

export const SCRIPTS = path.join(__dirname, "..", "..", "components", "scripts");
export const FAKE_CONSUL_DIR = path.join(__dirname, "..", "fixtures", "fake-consul");
export const TOKEN = "s3cr3t-token-never-printed";

export interface Run {
  pid: number;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** A scratch directory per test, with a token file; call `setup()` in beforeEach and `teardown()` in afterEach. */
export class ScriptSandbox {
  dir = "";
  private readonly groups: number[] = [];

  setup(): void {
    this.dir = mkdtempSync(path.join(tmpdir(), "lock-scripts-"));
    writeFileSync(this.file("token"), `${TOKEN}\n`);
  }

  teardown(): void {
    for (const pgid of this.groups.splice(0)) killGroup(pgid);
    rmSync(this.dir, { recursive: true, force: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  exists(name: string): boolean {
    return existsSync(this.file(name));
  }

  read(name: string): string {
    return readFileSync(this.file(name), "utf8");
  }

  /** Writes a file of the sandbox (a bearer token, a state file an earlier container left). */
  write(name: string, text: string): void {
    writeFileSync(this.file(name), text);
  }

  /** Lines of a file (none when it does not exist yet). */
  lines(name: string): string[] {
    return this.exists(name) ? this.read(name).split("\n").filter(Boolean) : [];
  }

  /**
   * Starts `script` with `args` as a container's PID 1 (or, with `asPid1: false`, as a plain
   * process); `whileRunning` may act on the live run, given the host PID of the script. Anything
   * still holding its output after `limitMs` (a hang, or processes that outlived it) fails the test.
   */
  run(script: string, args: string[], env: NodeJS.ProcessEnv, whileRunning?: (scriptPid: number, stderr: () => string) => Promise<void>, limitMs = 5000, asPid1 = true): Promise<Run> {
    return new Promise((resolve, reject) => {
      const command = asPid1 ? [UNSHARE, ...containerArgs([path.join(SCRIPTS, script), ...args])] : [path.join(SCRIPTS, script), ...args];
      const child = spawn(command[0], command.slice(1), { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
      this.groups.push(child.pid as number);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => {
        killGroup(child.pid as number);
        reject(new Error(`${script}, or a process it started, was still running after ${limitMs / 1000} s; stderr: ${stderr}`));
      }, limitMs);
      child.on("error", reject);
      child.on("close", (status, signal) => {
        clearTimeout(timer);
        resolve({ pid: child.pid as number, status, signal, stdout, stderr });
      });
      if (whileRunning) {
        const started = asPid1 ? until(() => containerInit(child.pid as number) !== undefined, "the container's PID 1").then(() => containerInit(child.pid as number) as number) : Promise.resolve(child.pid as number);
        started.then((pid) => whileRunning(pid, () => stderr)).catch((error) => {
          killGroup(child.pid as number);
          reject(error);
        });
      }
    });
  }
}

export async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Environment with only what is given (undefined removes a variable). */
export function envOf(values: Record<string, string | undefined>): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
}

/** A Mogi that writes its argv (as JSON) to $MARKER and exits with `code`. */
export const argvMogi = (code = 0) => [process.execPath, "-e", `require("fs").writeFileSync(process.env.MARKER, JSON.stringify(process.argv.slice(1))); process.exit(${code})`];
/**
 * A Mogi as real services are: it starts a child of its own (`sleep 1000`) and on SIGTERM takes
 * $STOP_SECONDS (default 2) to stop. One line per start in $MARKER.ready, once its trap is set:
 * its PID and its child's as the container sees them, and the fencing token it was given.
 */
export const slowStopMogi = ["/bin/sh", "-c", [
  'sleep 1000 & child=$!',
  'trap \'sleep "${STOP_SECONDS:-2}"; kill "$child"; echo stopped >> "$MARKER"; exit 0\' TERM',
  'echo "$$ $child ${MOGI_FENCING_TOKEN:-none}" >> "$MARKER.ready"',
  'while :; do sleep 0.05; done',
].join("\n")];
/** A Mogi that marks $MARKER.ready and ignores SIGTERM (only SIGKILL ends it); its child too. */
export const ignoresTermMogi = ["/bin/sh", "-c", 'trap "" TERM; sleep 1000 & echo "$$ $!" >> "$MARKER.ready"; while :; do sleep 0.05; done'];

