/** `npm run deploy -- <preview|up|refresh|destroy> --stack <name> [--policy-pack] [--yes]` */

export const COMMANDS = ["preview", "up", "refresh", "destroy"] as const;
export type DeployCommand = (typeof COMMANDS)[number];

/** Exit codes a CI job can rely on. */
export const EXIT = { ok: 0, failed: 1, policyViolation: 2 } as const;

export interface DeployArgs {
  command: DeployCommand;
  stack: string;
  /** Run the CrossGuard pack (infra/policy); production stacks also get production levels. */
  policyPack: boolean;
  /** Confirms a destroy of a production stack. */
  yes: boolean;
}

export const USAGE = `usage: npm run deploy -- <${COMMANDS.join("|")}> --stack <name> [--policy-pack] [--yes]`;

export class UsageError extends Error {}

export function parseDeployArgs(argv: string[]): DeployArgs | "help" {
  let command: DeployCommand | undefined;
  let stack: string | undefined;
  let policyPack = false;
  let yes = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") return "help";
    if (arg === "--policy-pack") policyPack = true;
    else if (arg === "--yes") yes = true;
    else if (arg === "--stack") {
      stack = argv[++i];
      if (stack === undefined || stack.startsWith("-")) throw new UsageError(`--stack needs a stack name\n${USAGE}`);
    } else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
    else if ((COMMANDS as readonly string[]).includes(arg) && command === undefined) command = arg as DeployCommand;
    else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  if (!command) throw new UsageError(`a command is required: one of ${COMMANDS.join(", ")}\n${USAGE}`);
  if (!stack) throw new UsageError(`--stack is required\n${USAGE}`);
  return { command, stack, policyPack, yes };
}
