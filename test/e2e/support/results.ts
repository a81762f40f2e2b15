/** Measurements of the e2e suites: test/e2e/results/<file> (gitignored, rewritten by every run). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export const RESULTS_DIR = path.join(__dirname, "..", "results");

export function writeResults(file: string, data: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const target = path.join(RESULTS_DIR, file);
  writeFileSync(target, `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: machine(), ...data }, null, 2)}\n`);
  return target;
}

/**
 * Adds `data` to a results file several suites write (each its own keys, and its own entries under
 * `scenarios`), keeping what the others wrote in the same run.
 */
export function mergeResults(file: string, data: { scenarios?: Record<string, unknown> } & Record<string, unknown>): string {
  const target = path.join(RESULTS_DIR, file);
  const existing = existsSync(target) ? (JSON.parse(readFileSync(target, "utf8")) as { scenarios?: Record<string, unknown> }) : {};
  const scenarios = existing.scenarios || data.scenarios ? { scenarios: { ...existing.scenarios, ...data.scenarios } } : {};
  return writeResults(file, { ...existing, ...data, ...scenarios });
}

function machine(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require("node:os") as typeof import("node:os");
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
}
