/**
 * `npm start [-- --stack <name> | --all] [--out <dir>]`: renders stacks offline (no Pulumi CLI,
 * cluster or Consul), checks it with the policy pack, and prints a summary per stack. Exit 0 when
 * every stack rendered cleanly, 1 when any has invalid configuration, invalid objects or a
 * mandatory policy violation, 2 on bad usage or an unknown stack.
 */
import * as path from "node:path";
import { renderStack, StackRender } from "./render";
import { isMandatory } from "../policy/evaluate";
import { formatViolation } from "../policy/check";
import { listStacks, STACKS_DIR, UnknownStackError } from "../stacks";
import { type FailoverBudget, MEASURED } from "../failoverBudget";

export const DEFAULT_STACK = "dev";
const USAGE = "usage: npm start [-- --stack <name> | --all] [--out <dir>]   (default: --stack dev --out out)";

export interface RenderArgs {
  stacks: string[] | "all";
  outDir: string;
}

export class UsageError extends Error {}

export function parseRenderArgs(argv: string[]): RenderArgs | "help" {
  let stack: string | undefined;
  let all = false;
  let outDir = "out";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${arg} needs a value\n${USAGE}`);
      return next;
    };
    if (arg === "--help" || arg === "-h") return "help";
    else if (arg === "--all") all = true;
    else if (arg === "--stack") stack = value();
    else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
    else if (arg === "--out") outDir = value();
    else if (arg.startsWith("--out=")) outDir = arg.slice("--out=".length);
    else throw new UsageError(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  if (all && stack !== undefined) throw new UsageError(`--stack and --all exclude each other\n${USAGE}`);
  return { stacks: all ? "all" : [stack ?? DEFAULT_STACK], outDir };
}

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
    `    Failover:   bound (measured median, ${MEASURED.on}): graceful ≤ ${budget.gracefulHandoverMaxSeconds} s (${MEASURED.gracefulSeconds} s), holder cut off from Consul: Mogi stopped ≤ ${budget.partitionedHolderStopsMogiSeconds} s (${MEASURED.partitionedHolderStopsMogiSeconds} s),`,
    `                hard loss ≤ ${budget.hardLossMaxSeconds} s (${MEASURED.hardLossSeconds} s), node lost ≤ ${budget.nodeLossMaxSeconds} s after its last heartbeat (${MEASURED.nodeLossSeconds} s), Consul server restart ≤ ${budget.consulServerRestartMaxSeconds} s (${MEASURED.consulServerRestartSeconds} s); + ${budget.readinessPeriodSeconds} s readiness`,
    `    Problems:   ${render.problems.length === 0 ? "none" : render.problems.length}`,
    ...render.problems.map((p) => `      - ${p}`),
    `    Policies:   ${render.violations.length === 0 ? "no violations" : `${mandatory} mandatory, ${render.violations.length - mandatory} advisory`}`,
    ...render.violations.map((v) => formatViolation(v).replace(/^/gm, "      ")),
  ];
  return lines.join("\n");
}

export async function main(argv: string[], log = console.log, logError = console.error, render = renderStack): Promise<number> {
  let args: RenderArgs | "help";
  try {
    args = parseRenderArgs(argv);
  } catch (error) {
    logError(String((error as Error).message));
    return 2;
  }
  if (args === "help") {
    log(USAGE);
    return 0;
  }
  const stacks = args.stacks === "all" ? listStacks(STACKS_DIR) : args.stacks;
  let failed = false;
  for (const stack of stacks) {
    let rendered: StackRender;
    try {
      rendered = await render(stack, { outDir: args.outDir });
    } catch (error) {
      if (error instanceof UnknownStackError) {
        logError(error.message);
        return 2;
      }
      throw error;
    }
    failed ||= rendered.error !== undefined || rendered.problems.length > 0 || rendered.violations.some(isMandatory);
    (rendered.error ? logError : log)(summarize(rendered, args.outDir));
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
