/**
 * `npm run model`: checks the lock protocol's model (test/model/lockProtocol.qnt) with Quint's
 * simulator. Two runs side by side (one per core): `shipped` (random faults, 2 pods) and
 * `shippedScripts` (every fault script, 3 pods), each against every invariant. Exits 1 on a
 * violation, printing the counterexample one line per step; 2 when the model's constants are out
 * of date with components/lockTiming.ts.
 *
 *   npm run model                              the two runs, random seeds
 *   npm run model -- --seed=0x1234             reproduce a run (the seed is printed)
 *   npm run model -- --only=stoppedDropsFence  one module of lockProtocol.qnt
 *   npm run model -- --samples=2000 --steps=400
 *
 * test/model/README.md says why these numbers and how to read a counterexample.
 */
import { isCurrent } from "./constants";
import { counterexample, ModelResult, ModelRun, runModel } from "./quint";

/** The runs `npm run model` makes (test/model/README.md, "Numbers"). */
export const MODEL_RUNS: readonly ModelRun[] = [
  { main: "shipped", samples: 200, steps: 300 },
  { main: "shippedScripts", samples: 200, steps: 250 },
];

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

function report(result: ModelResult): void {
  const { run } = result;
  const head = `${run.main}: ${run.samples} samples × ${run.steps} steps, ${result.seconds.toFixed(1)} s, seed ${result.seed ?? "?"}`;
  if (result.ok) {
    console.log(`ok        ${head}`);
    return;
  }
  console.log(`VIOLATION ${head}: ${result.violated.join(", ")}`);
  console.log(`  counterexample (${result.traceLength} states, ${result.traceFile}):`);
  for (const line of counterexample(result)) console.log(`  ${line}`);
  console.log(`  reproduce: npm run model -- --only=${run.main} --seed=${result.seed} --samples=${run.samples} --steps=${run.steps}`);
}

async function main(): Promise<number> {
  const timing = isCurrent();
  if (!timing.current) {
    console.error("test/model/lockTiming.qnt is out of date with components/lockTiming.ts: run npx tsx test/model/constants.ts");
    return 2;
  }
  const only = option("only");
  const samples = option("samples");
  const steps = option("steps");
  const seed = option("seed");
  const runs = (only ? [{ main: only, samples: 300, steps: 300 }] : MODEL_RUNS).map((run) => ({
    ...run,
    samples: samples ? Number(samples) : run.samples,
    steps: steps ? Number(steps) : run.steps,
    seed,
  }));
  const started = Date.now();
  const results = await Promise.all(runs.map(runModel));
  results.forEach(report);
  console.log(`${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  return results.every((result) => result.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
