/**
 * `npm start [-- --stack <name> | --all] [--out <dir>]`: renders stacks offline (no Pulumi CLI,
 * cluster or Consul), checks it with the policy pack, and prints a summary per stack. Every stack
 * named is read and validated before any is rendered, and nothing is written unless all are
 * valid. Exit 0 when every stack rendered cleanly, 1 when a stack file cannot be used or any has
 * invalid configuration, invalid objects or a mandatory policy violation, 2 on bad usage or an
 * unknown stack. What is wrong with the input is one line each on stderr, never a stack trace.
 */
// First: rendering loads @pulumi/pulumi, whose function serializer it never uses (../deferSdkModules.js).
import "../deferSdkModules.js";
import { accessSync, constants, statSync } from "node:fs";
import * as path from "node:path";
import { RenderOptions, renderStack, StackRender, validateStack, writeRender } from "./render";
import { isMandatory } from "../policy/evaluate";
import { formatViolation } from "../policy/check";
import { displayPath, listStacks, stackErrorLines, STACKS_DIR, UnknownStackError } from "../stacks";
import { type FailoverBudget, MEASURED } from "../failoverBudget";
import { CommandLine, optionValue, parseCommandLine, runAsScript, UsageError } from "../cli";

export const DEFAULT_STACK = "dev";
export const USAGE = `usage: npm start [-- --stack <name> | --all] [--out <dir>]
  Renders stacks offline (no Pulumi CLI, cluster or Consul), validates every object and checks it
  with the policy pack; prints a summary per stack.
  --stack <name>  one stack of stacks/ (default: ${DEFAULT_STACK})
  --all           every stack in stacks/
  --out <dir>     where <stack>/kubernetes.yaml and <stack>/resources.json go (default: out)
  -h, --help      this text
exit: 0 rendered cleanly, 1 a stack file that cannot be used, invalid configuration, invalid
      objects or a mandatory policy violation (nothing written unless every stack is valid),
      2 bad usage, an unknown stack or an --out that cannot be written`;

export interface RenderArgs {
  stacks: string[] | "all";
  outDir: string;
}

export function parseRenderArgs(argv: string[]): RenderArgs {
  let stack: string | undefined;
  let all = false;
  let outDir = "out";
  for (let i = 0; i < argv.length; i++) {
    const stackOption = optionValue(argv, i, "--stack");
    const outOption = optionValue(argv, i, "--out");
    if (stackOption) {
      stack = stackOption.value;
      i = stackOption.next;
    } else if (outOption) {
      outDir = outOption.value;
      i = outOption.next;
    } else if (argv[i] === "--all") all = true;
    else throw new UsageError(`unknown argument ${JSON.stringify(argv[i])}`);
  }
  if (all && stack !== undefined) throw new UsageError("--stack and --all exclude each other");
  return { stacks: all ? "all" : [stack ?? DEFAULT_STACK], outDir };
}

const RENDER_COMMAND_LINE: CommandLine<RenderArgs> = { name: "start", usage: USAGE, parse: parseRenderArgs };

function count<T>(items: T[], key: (item: T) => string): string {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(", ");
}

/** A few readable lines for one stack. */
export function summarize(render: StackRender, outDir: string): string {
  if (render.error) return `✗ ${render.stack}: not rendered\n${render.error.replace(/^/gm, "    ")}`;
  const consul = render.resources.filter((r) => r.type.startsWith("consul:"));
  const budget = render.outputs.failoverBudget as FailoverBudget;
  const mandatory = render.violations.filter(isMandatory).length;
  const lines = [
    `${render.problems.length || mandatory ? "✗" : "✓"} ${render.stack} (${String(render.outputs.environment)}) → ${path.join(outDir, render.stack)}/`,
    `    Kubernetes: ${count(render.objects, (o) => o.kind)}`,
    `    Consul:     ${count(consul, (r) => r.type.split(":").pop() as string)} · policy ${String(render.outputs.consulPolicy)} · lock ${String(render.outputs.lockKey)}`,
    `    Failover:   bound (measured median): graceful ≤ ${budget.gracefulHandoverMaxSeconds} s (${MEASURED.gracefulSeconds} s), holder cut off from Consul: Mogi stopped ≤ ${budget.partitionedHolderStopsMogiSeconds} s (${MEASURED.partitionedHolderStopsMogiSeconds} s),`,
    `                hard loss ≤ ${budget.hardLossMaxSeconds} s (${MEASURED.hardLossSeconds} s), node lost ≤ ${budget.nodeLossMaxSeconds} s after its last heartbeat (${MEASURED.nodeLossSeconds} s), Consul server restart ≤ ${budget.consulServerRestartMaxSeconds} s (${MEASURED.consulServerRestartSeconds} s); + ${budget.readinessPeriodSeconds} s readiness`,
    `    Problems:   ${render.problems.length === 0 ? "none" : render.problems.length}`,
    ...render.problems.map((p) => `      - ${p}`),
    `    Policies:   ${render.violations.length === 0 ? "no violations" : `${mandatory} mandatory, ${render.violations.length - mandatory} advisory`}`,
    ...render.violations.map((v) => formatViolation(v).replace(/^/gm, "      ")),
  ];
  return lines.join("\n");
}

/** Why `--out <dir>` cannot take the render (checked before anything is written), or undefined. */
export function outDirProblem(outDir: string): string | undefined {
  // The directory itself, or the nearest parent that exists: mkdir -p starts there.
  for (let probe = path.resolve(outDir); ; probe = path.dirname(probe)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(probe).isDirectory();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT" && path.dirname(probe) !== probe) continue;
      return `--out ${outDir}: ${displayPath(probe)} cannot be read (${(error as NodeJS.ErrnoException).code})`;
    }
    if (!isDirectory) return `--out ${outDir}: ${displayPath(probe)} is not a directory`;
    try {
      accessSync(probe, constants.W_OK);
      return undefined;
    } catch (error) {
      return `--out ${outDir}: ${displayPath(probe)} is not writable (${(error as NodeJS.ErrnoException).code})`;
    }
  }
}

/** Where the render reads stacks from (tests point it at a copy). */
export type RenderCliOptions = Pick<RenderOptions, "stacksDir" | "projectDir">;

export async function main(argv: string[], log = console.log, logError = console.error, render = renderStack, options: RenderCliOptions = {}): Promise<number> {
  const parsed = parseCommandLine(argv, RENDER_COMMAND_LINE, { out: log, err: logError });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { args } = parsed;
  const say = (lines: string[]) => lines.forEach((line) => logError(`start: ${line}`));
  // Every stack's file and settings first: with --all, one broken stack stops all before any is written.
  let stacks: string[];
  const refused: string[] = [];
  let unknown = false;
  try {
    stacks = args.stacks === "all" ? listStacks(options.stacksDir ?? STACKS_DIR) : args.stacks;
  } catch (error) {
    const lines = stackErrorLines(error);
    if (!lines) throw error;
    say(lines);
    return 1;
  }
  for (const stack of stacks) {
    try {
      validateStack(stack, options);
    } catch (error) {
      const lines = stackErrorLines(error);
      if (!lines) throw error;
      refused.push(...lines);
      unknown ||= error instanceof UnknownStackError;
    }
  }
  if (refused.length > 0) {
    say(refused);
    return unknown ? 2 : 1;
  }
  const outProblem = outDirProblem(args.outDir);
  if (outProblem) {
    say([outProblem]);
    return 2;
  }
  const renders: StackRender[] = [];
  for (const stack of stacks) renders.push(await render(stack, options));
  let failed = false;
  for (const rendered of renders) {
    failed ||= rendered.error !== undefined || rendered.problems.length > 0 || rendered.violations.some(isMandatory);
    if (rendered.error) {
      say(rendered.error.split("\n").filter((line) => line.trim()).map((line) => `${rendered.stack}: ${line.trim()}`));
      continue;
    }
    try {
      writeRender(rendered, args.outDir);
    } catch (error) {
      say([`--out ${args.outDir}: cannot write ${rendered.stack}'s render (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
      return 1;
    }
    log(summarize(rendered, args.outDir));
  }
  return failed ? 1 : 0;
}

if (require.main === module) runAsScript((argv) => main(argv), "start");
