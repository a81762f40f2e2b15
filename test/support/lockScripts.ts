/**
 * Runs the real lock scripts (components/scripts) with the fake `consul` (test/fixtures/fake-consul)
 * first on PATH, each in a process group of its own that is killed after the test, so that a broken
 * script leaves nothing running. Used by the wrapper's and the guard's suites.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

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

  /** Lines of a file the fake consul appends to (0 when it does not exist yet). */
  count(name: string): number {
    return this.exists(name) ? this.read(name).split("\n").filter(Boolean).length : 0;
  }

  /**
   * Starts `script` with `args`; `whileRunning` may act on the live process. Anything still holding
   * its output after `limitMs` (a hang, or processes that outlived it) fails the test.
   */
  run(script: string, args: string[], env: NodeJS.ProcessEnv, whileRunning?: (pid: number, stderr: () => string) => Promise<void>, limitMs = 5000): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(SCRIPTS, script), args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
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
      if (whileRunning) whileRunning(child.pid as number, () => stderr).catch((error) => {
        killGroup(child.pid as number);
        reject(error);
      });
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
 * A Mogi that appends a line to $MARKER.ready once its SIGTERM trap is set (one line per start),
 * runs until SIGTERM, then writes "stopped" to $MARKER and exits 0.
 */
export const untilTermMogi = ["/bin/sh", "-c", 'trap \'echo stopped >> "$MARKER"; exit 0\' TERM; echo ready >> "$MARKER.ready"; while :; do sleep 0.05; done'];
/** A Mogi that marks $MARKER.ready and ignores SIGTERM (only SIGKILL ends it). */
export const ignoresTermMogi = ["/bin/sh", "-c", 'trap "" TERM; : > "$MARKER.ready"; while :; do sleep 0.05; done'];
