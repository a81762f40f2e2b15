/** Measurements of the e2e suites: test/e2e/results/<file> (gitignored, rewritten by every run). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { ScenarioResult } from "./mogiIntervals";

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

/** The suites' console summary of their scenarios: one row each, min/median/max, maxConcurrent, margin. */
export function formatScenarios(results: Record<string, ScenarioResult>): string {
  const width = Math.max(0, ...Object.keys(results).map((k) => k.length));
  const ms = (n: number) => String(n).padStart(6);
  return Object.entries(results).map(([name, r]) => `  ${name.padEnd(width)}  min ${ms(r.min)}  median ${ms(r.median)}  max ${ms(r.max)}  maxConcurrent ${r.maxConcurrent}  margin ${r.marginMs ? `${r.marginMs.min}/${r.marginMs.median}/${r.marginMs.max}` : "-"}`).join("\n");
}

/** The deploy suites' console summary of their operations' durations (ms). */
export function formatDurations(durations: Record<string, number>): string {
  return Object.entries(durations).map(([k, v]) => `  ${k.padEnd(36)} ${String(v).padStart(7)}`).join("\n");
}

function machine(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require("node:os") as typeof import("node:os");
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`;
}
