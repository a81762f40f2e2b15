/** `npm run deploy -- <preview|up|refresh|destroy> --stack <name> [--policy-pack] [--yes]` */
import { CommandLine, optionValue, UsageError } from "../cli";

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

export const USAGE = `usage: npm run deploy -- <${COMMANDS.join("|")}> --stack <name> [--policy-pack] [--yes]
  Runs one Pulumi command on a stack (needs the pulumi CLI).
  --stack <name>  the stack (stacks/Pulumi.<name>.yaml); only up creates it in the backend
  --policy-pack   run infra/policy (production levels for production stacks)
  --yes           confirms destroying a production stack
  -h, --help      this text
exit: 0 ok, 1 failed (bad usage included), 2 mandatory policy violation`;

export function parseDeployArgs(argv: string[]): DeployArgs {
  let command: DeployCommand | undefined;
  let stack: string | undefined;
  let policyPack = false;
  let yes = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const stackOption = optionValue(argv, i, "--stack");
    if (stackOption) {
      stack = stackOption.value;
      i = stackOption.next;
    } else if (arg === "--policy-pack") policyPack = true;
    else if (arg === "--yes") yes = true;
    else if ((COMMANDS as readonly string[]).includes(arg) && command === undefined) command = arg as DeployCommand;
    else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!command) throw new UsageError(`a command is required: one of ${COMMANDS.join(", ")}`);
  if (!stack) throw new UsageError("--stack is required");
  return { command, stack, policyPack, yes };
}

/**
 * A wrong argument exits 1 here, not 2: deploy's 2 means a mandatory policy violation, which CI
 * jobs tell apart from every other failure.
 */
export const DEPLOY_COMMAND_LINE: CommandLine<DeployArgs> = { name: "deploy", usage: USAGE, parse: parseDeployArgs, usageExitCode: EXIT.failed };
