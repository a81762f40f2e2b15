/**
 * The lock protocol's model (test/model/, `npm run model`): its constants are the code's; each
 * known flaw switched back on gives a counterexample for the invariant it breaks; the protocol
 * passes. Quint's simulator runs in Node.js (its TypeScript evaluator), one child process per
 * run, two at a time (each takes a core: about 5 s to load the model, then the simulation); a
 * flaw is found within a few samples. test/model/README.md explains the model and its numbers.
 */
import { isCurrent } from "./model/constants";
import { counterexample, Invariant, ModelResult, ModelRun, runModels } from "./model/quint";

test("test/model/lockTiming.qnt is what test/model/constants.ts makes from components/lockTiming.ts", () => {
  const { expected, actual } = isCurrent();
  expect(actual).toBe(expected);
});

interface Flaw {
  main: string;
  breaks: Invariant;
  what: string;
}

const FLAWS: Flaw[] = [
  { main: "noFence", breaks: "atMostOneMogi", what: "no fence key (the old design): an early release of .lock or a deleted key" },
  { main: "noFenceWaitAfterDelete", breaks: "atMostOneMogi", what: "the fence wait skipped after a deleted .fence" },
  { main: "leakedTimers", breaks: "noSpuriousStop", what: "a deadline timer of an earlier round fires in the next one" },
  { main: "mogiUnderGuard", breaks: "atMostOneMogi", what: "Mogi supervised by a process other than PID 1, whose death orphans it" },
  {
    main: "stoppedDropsFence",
    breaks: "atMostOneMogi",
    what: "the protocol as first written: a holder stopping in its fence wait released .fence as `stopped … 0`",
  },
];

/**
 * Runs that must pass. Fewer samples than `npm run model` (test/model/run.ts): enough for runs
 * that go through every step of the round and the faults, not a long search.
 */
const PASSING = [
  { main: "shipped", what: "random faults, 2 pods" },
  { main: "shippedScripts", what: "every fault script, 3 pods" },
];

const RUNS: ModelRun[] = [
  ...FLAWS.map(({ main, breaks }) => ({ main, samples: 600, steps: 300, invariants: [breaks] })),
  ...PASSING.map(({ main }) => ({ main, samples: 25, steps: 250 })),
];

let results: Map<string, ModelResult>;
beforeAll(async () => {
  const done = await runModels(RUNS, 2);
  results = new Map(done.map((result) => [result.run.main, result]));
}, 240_000);

/** A run's verdict and counterexample, for a failing expectation. */
function story(result: ModelResult): string {
  const head = `${result.run.main} (seed ${result.seed}): ${result.ok ? "no violation" : result.violated.join(", ")}`;
  return [head, ...counterexample(result)].join("\n");
}

describe("each known flaw gives a counterexample", () => {
  test.each(FLAWS)("$main breaks $breaks: $what", ({ main, breaks }) => {
    const result = results.get(main)!;
    if (result.ok) throw new Error(`${story(result)}: no counterexample in ${result.run.samples} samples`);
    expect(result.violated).toEqual([breaks]);
    expect(result.traceLength).toBeGreaterThan(1);
    expect(counterexample(result)).toHaveLength(result.traceLength ?? 0);
  });
});

describe("the protocol passes", () => {
  test.each(PASSING)("$main ($what)", ({ main }) => {
    const result = results.get(main)!;
    if (!result.ok) throw new Error(story(result));
  });
});
