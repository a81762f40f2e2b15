/**
 * `npm run bench:deploy`: times the deploy loop a user and CI go through, against the real engines
 * (`npm run engines`) in the deploy suite's world (support/deployEnvironment.ts: control plane,
 * Consul, real nodes): `preview --policy-pack` of a stack with nothing deployed, `up
 * --policy-pack` creating everything (waiting for the Deployment, as `pulumi up` does), and `up`
 * with nothing to change, each through `npm run deploy` as the deploy suite runs them, `--runs`
 * times (default 3; a `destroy`, not timed, empties the stack between rounds).
 *
 * Every operation gets a fresh TMPDIR: ts-node and tsx keep their compile caches there (keyed by
 * file contents), so a run neither benefits from an earlier one nor from other suites on the
 * machine, as on a fresh CI runner. A benchmark, not a test: it asserts no time and never runs in
 * CI. Results (each run, min/median/max, the 1-minute load average before each run) are merged
 * into test/e2e/results/deploy.json; test/e2e/bench/README.md ("Measured") has the numbers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import * as path from "node:path";
import { minMedianMax } from "../../support/failover";
import { CommandIO, CommandLine, consoleIO, onlyCountOption, parseCommandLine, runAsScript } from "../../../infra/cli";
import { DeployEnvironment, STACK } from "../support/deployEnvironment";
import { waitFor } from "../support/processes";
import { mergeResults } from "../support/results";

const DEFAULT_RUNS = 3;
const USAGE = `usage: npm run bench:deploy [-- --runs <n>]
  Times \`npm run deploy\` against the real engines (npm run engines): preview --policy-pack,
  up --policy-pack of a stack with nothing deployed, up with nothing to change; <n> runs each
  (default ${DEFAULT_RUNS}), each with cold compile caches. Writes test/e2e/results/deploy.json.
  A benchmark: it asserts no time and never runs in CI.
  --runs <n>   runs per operation (a whole number ≥ 1)
  -h, --help   this text
exit: 0 done, 1 an operation failed, 2 bad usage`;

const COMMAND_LINE: CommandLine<{ runs: number }> = {
  name: "bench:deploy",
  usage: USAGE,
  parse: (argv) => ({ runs: onlyCountOption(argv, "--runs", DEFAULT_RUNS) }),
};

/** The timed operations, in the order a deploy goes through them. */
export const OPERATIONS = [
  { name: "preview --policy-pack", args: ["preview", "--stack", STACK, "--policy-pack"] },
  { name: "up --policy-pack (nothing deployed)", args: ["up", "--stack", STACK, "--policy-pack"] },
  { name: "up (nothing to change)", args: ["up", "--stack", STACK] },
] as const;

interface Timed {
  runsMs: number[];
  /** The 1-minute load average just before each run (the machine is shared). */
  loadBefore: number[];
}

/** `npm run deploy -- <args>` in the environment's project copy with a TMPDIR of its own; fails with the output's tail. */
async function deploy(env: DeployEnvironment, label: string, args: readonly string[]): Promise<number> {
  const tmp = mkdtempSync(path.join(env.work, "tmp-"));
  const run = await env.project.run(["run", "--silent", "deploy", "--", ...args], { TMPDIR: tmp });
  rmSync(tmp, { recursive: true, force: true });
  if (run.code !== 0) throw new Error(`${label}: exit ${run.code}:\n${run.output.split("\n").slice(-30).join("\n")}`);
  return run.ms;
}

export async function main(argv: string[], io: CommandIO = consoleIO): Promise<number> {
  const parsed = parseCommandLine(argv, COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  const timed: Record<string, Timed> = Object.fromEntries(OPERATIONS.map((op) => [op.name, { runsMs: [], loadBefore: [] }]));
  const env = new DeployEnvironment();
  try {
    io.err(`bench:deploy: starting the control plane, Consul and two real nodes in ${env.work}`);
    await env.start();
    for (let round = 1; round <= parsed.args.runs; round++) {
      for (const op of OPERATIONS) {
        const load = loadavg()[0];
        const ms = await deploy(env, op.name, op.args);
        timed[op.name].runsMs.push(ms);
        timed[op.name].loadBefore.push(Math.round(load * 100) / 100);
        io.err(`bench:deploy: run ${round}, ${op.name}: ${ms} ms (load average before: ${load.toFixed(2)})`);
      }
      await deploy(env, "destroy", ["destroy", "--stack", STACK]);
      await waitFor("the pods' processes to end", () => env.watch.sample().length === 0, 60_000);
    }
  } catch (error) {
    io.err(`bench:deploy: ${(error as Error).message}`);
    return 1;
  } finally {
    await env.stop();
    if (process.env.MOGI_E2E_KEEP) io.err(`kept ${env.work}`);
    else rmSync(env.work, { recursive: true, force: true });
  }
  const scenarios = Object.fromEntries(OPERATIONS.map((op) => [`bench: ${op.name}`, { ...timed[op.name], ...minMedianMax(timed[op.name].runsMs) }]));
  mergeResults("deploy.json", { consul: env.consulVersion, scenarios });
  io.out(Object.entries(scenarios).map(([name, s]) => `${name.padEnd(48)} min ${String(s.min).padStart(6)}  median ${String(s.median).padStart(6)}  max ${String(s.max).padStart(6)} ms  (load before: ${s.loadBefore.join(", ")})`).join("\n"));
  return 0;
}

if (require.main === module) runAsScript((argv) => main(argv), "bench:deploy");
