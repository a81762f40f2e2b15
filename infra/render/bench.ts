/**
 * `npm run bench`: times the offline render of every shipped stack, then of a generated set of
 * clusters (default 50, `-- --clusters N`), and reports the cost per stack. A benchmark, not a
 * test: it asserts nothing and never runs in CI.
 */
// First: rendering loads @pulumi/pulumi, whose function serializer it never uses (../deferSdkModules.js).
import "../deferSdkModules.js";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { parse, stringify } from "yaml";
import { renderStack, validateStack } from "./render";
import { displayPath, listStacks, stackErrorLines, STACKS_DIR } from "../stacks";
import { CommandIO, CommandLine, consoleIO, onlyCountOption, parseCommandLine, runAsScript } from "../cli";

const DEFAULT_CLUSTERS = 50;
const USAGE = `usage: npm run bench [-- --clusters <n>]
  Times the offline render of every shipped stack, then of <n> generated clusters, and reports the
  cost per stack. A benchmark: it asserts nothing and never runs in CI.
  --clusters <n>  how many generated clusters (a whole number ≥ 1, default ${DEFAULT_CLUSTERS})
  -h, --help      this text
exit: 0 done, 1 a stack file that cannot be used or a stack that did not render cleanly, 2 bad usage`;

const BENCH_COMMAND_LINE: CommandLine<{ clusters: number }> = {
  name: "bench",
  usage: USAGE,
  parse: (argv) => ({ clusters: onlyCountOption(argv, "--clusters", DEFAULT_CLUSTERS) }),
};

async function timeRenders(stacks: string[], stacksDir: string, outDir: string): Promise<number[]> {
  const times: number[] = [];
  for (const stack of stacks) {
    const start = performance.now();
    const render = await renderStack(stack, { stacksDir, outDir });
    times.push(performance.now() - start);
    if (render.error || render.problems.length) throw new Error(`${stack} did not render cleanly: ${(render.error ?? render.problems.join("; ")).split("\n").join(" ")}`);
  }
  return times;
}

/** The stack the generated clusters copy. */
const TEMPLATE_STACK = "prod-eu-1";

/** Copies of a production stack, one per generated cluster, each with its own lock prefix. */
function generateClusters(count: number, stacksDir: string, dir: string): string[] {
  const template = parse(readFileSync(path.join(stacksDir, `Pulumi.${TEMPLATE_STACK}.yaml`), "utf8")) as { config: Record<string, Record<string, unknown>> };
  return Array.from({ length: count }, (_, i) => {
    const name = `cluster-${String(i + 1).padStart(3, "0")}`;
    const config = structuredClone(template.config);
    config["mogi:consul"] = { ...config["mogi:consul"], lockPrefix: `service/mogi/${name}/lock`, configPrefix: `service/mogi/${name}/config`, datacenter: name };
    writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), stringify({ config }));
    return name;
  });
}

const stats = (label: string, times: number[]) => {
  const total = times.reduce((a, b) => a + b, 0);
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `${label.padEnd(28)} ${String(times.length).padStart(3)} stacks  total ${total.toFixed(0).padStart(6)} ms  mean ${(total / times.length).toFixed(1).padStart(6)} ms  median ${median.toFixed(1).padStart(6)} ms  max ${sorted[sorted.length - 1].toFixed(1).padStart(6)} ms`;
};

/** Why the shipped stacks cannot be benchmarked (each stack file's problems, one line each), or none. */
function stackProblems(stacksDir: string): string[] {
  let shipped: string[];
  try {
    shipped = listStacks(stacksDir);
  } catch (error) {
    const lines = stackErrorLines(error);
    if (!lines) throw error;
    return lines;
  }
  const problems = shipped.flatMap((stack) => {
    try {
      validateStack(stack, { stacksDir });
      return [];
    } catch (error) {
      const lines = stackErrorLines(error);
      if (!lines) throw error;
      return lines;
    }
  });
  if (!shipped.includes(TEMPLATE_STACK)) problems.push(`${displayPath(path.join(stacksDir, `Pulumi.${TEMPLATE_STACK}.yaml`))}: not there; the generated clusters are copies of it`);
  return problems;
}

async function bench(clusters: number, stacksDir: string, log: (line: string) => void): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), "mogi-bench-"));
  try {
    const generatedDir = path.join(work, "stacks");
    mkdirSync(generatedDir);
    const shipped = listStacks(stacksDir);
    const first = await timeRenders([shipped[0]], stacksDir, path.join(work, "out"));
    const warm = await timeRenders(shipped, stacksDir, path.join(work, "out"));
    const generated = await timeRenders(generateClusters(clusters, stacksDir, generatedDir), generatedDir, path.join(work, "out-generated"));
    log(`node ${process.version}, ${process.platform}/${process.arch}`);
    log(stats("first render (cold modules)", first));
    log(stats("shipped stacks (warm)", warm));
    log(stats(`generated clusters`, generated));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function main(argv: string[], io: CommandIO = consoleIO, options: { stacksDir?: string } = {}): Promise<number> {
  const parsed = parseCommandLine(argv, BENCH_COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  const stacksDir = options.stacksDir ?? STACKS_DIR;
  // Every stack file before any timing: a broken one is its own line, not a failed render.
  const problems = stackProblems(stacksDir);
  if (problems.length > 0) {
    for (const line of problems) io.err(`bench: ${line}`);
    return 1;
  }
  try {
    await bench(parsed.args.clusters, stacksDir, io.out);
    return 0;
  } catch (error) {
    io.err(`bench: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

if (require.main === module) runAsScript((argv) => main(argv), "bench");
