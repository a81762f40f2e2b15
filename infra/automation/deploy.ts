/**
 * The deploy driver: a LocalWorkspace over this project (stack configuration from stacks/),
 * streaming the engine's output and ending with a summary of changes.
 */
import * as path from "node:path";
import { LocalWorkspace, OpType } from "@pulumi/pulumi/automation";
import { DeployArgs, EXIT } from "./args";
import { pulumiCli } from "./pulumiCli";
import { loadStackConfig, STACKS_DIR } from "../render/stacks";

export const PROJECT_DIR = path.join(__dirname, "..", "..");
const POLICY_PACK = path.join(PROJECT_DIR, "infra", "policy");
const PRODUCTION_POLICY_CONFIG = path.join(POLICY_PACK, "production.json");

export class DeployRefused extends Error {}

/** The stack's `mogi:environment` from its file; throws UnknownStackError listing the known stacks. */
export function stackEnvironment(stack: string, stacksDir = STACKS_DIR): string {
  return loadStackConfig(stack, stacksDir).config["mogi:environment"] ?? "development";
}

/** Refuses to destroy a production stack unless `--yes` confirms it. */
export function guardDestroy(args: DeployArgs, environment: string): void {
  if (args.command === "destroy" && environment === "production" && !args.yes) {
    throw new DeployRefused(`refusing to destroy production stack "${args.stack}": it removes Mogi from that cluster and its Consul ACL token; re-run with --yes to confirm`);
  }
}

/**
 * The CLI reports mandatory policy violations in its error output; there is no structured field
 * for it in the Automation API's error, so the text is matched (exit code 2 for CI).
 */
export function isPolicyViolation(message: string): boolean {
  return /mandatory policy violation|policy violations? (were|was) (found|reported)|policy pack .* reported/i.test(message);
}

export function formatChanges(changes: Partial<Record<OpType | string, number>> | undefined): string {
  const entries = Object.entries(changes ?? {}).filter(([, n]) => (n ?? 0) > 0);
  return entries.length ? entries.map(([op, n]) => `${op} ${n}`).join(", ") : "no changes";
}

export interface DeployIO {
  out: (text: string) => void;
  log: (line: string) => void;
}

/** Runs one command; returns the exit code. Expected failures are one line on `log`. */
export async function runDeploy(args: DeployArgs, io: DeployIO, stacksDir = STACKS_DIR): Promise<number> {
  const environment = stackEnvironment(args.stack, stacksDir);
  guardDestroy(args, environment);
  const pulumiCommand = await pulumiCli();
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: args.stack, workDir: PROJECT_DIR }, { pulumiCommand });
  const policy = args.policyPack
    ? { policyPacks: [POLICY_PACK], policyPackConfigs: environment === "production" ? [PRODUCTION_POLICY_CONFIG] : [] }
    : {};
  const onOutput = io.out;
  try {
    let changes: Record<string, number> | undefined;
    if (args.command === "preview") changes = (await stack.preview({ onOutput, ...policy })).changeSummary;
    else if (args.command === "up") changes = (await stack.up({ onOutput, ...policy })).summary.resourceChanges;
    else if (args.command === "refresh") changes = (await stack.refresh({ onOutput })).summary.resourceChanges;
    else changes = (await stack.destroy({ onOutput })).summary.resourceChanges;
    io.log(`${args.command} ${args.stack} (${environment}): ${formatChanges(changes)}`);
    return EXIT.ok;
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    if (isPolicyViolation(message)) {
      io.log(`${args.command} ${args.stack}: mandatory policy violation (see above)`);
      return EXIT.policyViolation;
    }
    io.log(`${args.command} ${args.stack} failed: ${message.split("\n").filter(Boolean).slice(-3).join(" | ")}`);
    return EXIT.failed;
  }
}
