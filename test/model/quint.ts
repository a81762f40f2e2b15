/**
 * Runs Quint's simulator on the lock model (test/model/lockProtocol.qnt) and reads its verdict.
 * Used by `npm run model` (test/model/run.ts) and test/model.test.ts. Always the TypeScript
 * evaluator: the default Rust one is a binary Quint downloads at first use, which this machine
 * cannot reach.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { readTrace, summarize } from "./trace";

export const MODEL_FILE = path.join(__dirname, "lockProtocol.qnt");
const QUINT_CLI = require.resolve("@informalsystems/quint/dist/src/cli.js");

/** Every invariant of the model (lockProtocol.qnt, "Properties"). */
export const INVARIANTS = ["atMostOneMogi", "mogiOnlyWhileConfirmed", "noSpuriousStop", "progress"] as const;
export type Invariant = (typeof INVARIANTS)[number];

export interface ModelRun {
  /** The module of lockProtocol.qnt to simulate (shipped, shippedScripts, noFence, ...). */
  main: string;
  samples: number;
  steps: number;
  invariants?: readonly Invariant[];
  seed?: string;
  /** Lower the simulator's CPU priority (default; the machine has 2 cores and other work). */
  nice?: boolean;
}

export interface ModelResult {
  run: ModelRun;
  ok: boolean;
  /** The invariants the counterexample's last state violates. */
  violated: string[];
  /** The counterexample (Informal Trace Format), when there is one. */
  traceFile?: string;
  /** Its states (the initial one included). */
  traceLength?: number;
  seed?: string;
  seconds: number;
  output: string;
}

export function runModel(run: ModelRun): Promise<ModelResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "lock-model-"));
  const traceFile = path.join(dir, `${run.main}.itf.json`);
  const invariants = run.invariants ?? INVARIANTS;
  // Always a seed of our own: quint prints it only for --invariant, not for --invariants.
  const seed = run.seed ?? `0x${randomBytes(6).toString("hex")}`;
  const args = [
    QUINT_CLI, "run", "--backend=typescript", `--main=${run.main}`,
    "--invariants", ...invariants,
    `--max-samples=${run.samples}`, `--max-steps=${run.steps}`,
    "--verbosity=1", `--out-itf=${traceFile}`,
    `--seed=${seed}`,
    MODEL_FILE,
  ];
  const [command, commandArgs] = run.nice === false ? [process.execPath, args] : ["nice", [process.execPath, ...args]];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (Date.now() - started) / 1000;
      const violation = output.includes("[violation]");
      if (!violation && !(code === 0 && output.includes("[ok]"))) {
        reject(new Error(`quint run --main=${run.main} failed (exit ${code}):\n${output}`));
        return;
      }
      // quint names the violated ones (❌) only when it checks more than one
      const named = [...output.matchAll(/❌ (\w+)/g)].map((m) => m[1]);
      const violated = violation && invariants.length === 1 ? [...invariants] : named;
      const result: ModelResult = { run, ok: !violation, violated, seed, seconds, output };
      if (violation && existsSync(traceFile)) {
        result.traceFile = traceFile;
        result.traceLength = readTrace(traceFile).states.length;
      } else {
        rmSync(dir, { recursive: true, force: true }); // kept only for a counterexample
      }
      resolve(result);
    });
  });
}

/** Runs the simulations `width` at a time (one per core: each is CPU-bound), results in order. */
export async function runModels(runs: readonly ModelRun[], width = 2): Promise<ModelResult[]> {
  const results: ModelResult[] = new Array(runs.length);
  let next = 0;
  const worker = async () => {
    while (next < runs.length) {
      const i = next++;
      results[i] = await runModel(runs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, runs.length) }, worker));
  return results;
}

/** The counterexample, one line per step (test/model/README.md, "Reading a counterexample"). */
export function counterexample(result: ModelResult): string[] {
  return result.traceFile ? summarize(readTrace(result.traceFile)) : [];
}
