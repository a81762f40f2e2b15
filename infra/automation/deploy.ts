/**
 * The deploy driver: a LocalWorkspace over this project (stack configuration from stacks/),
 * streaming the engine's output and ending with a summary of changes.
 */
import * as path from "node:path";
import { CommandError, EngineEvent, LocalWorkspace, OpType, PolicyEvent, Stack, StackNotFoundError, Workspace } from "@pulumi/pulumi/automation";
import { DeployArgs, DeployCommand, EXIT } from "./args";
import { consulTlsProblem } from "./consulTls";
import { pulumiCli } from "./pulumiCli";
import { ConfigError, Settings } from "../config";
import { loadStackConfig, loadStackSettings, PROJECT_DIR, STACKS_DIR } from "../stacks";

const POLICY_PACK = path.join(PROJECT_DIR, "infra", "policy");
const PRODUCTION_POLICY_CONFIG = path.join(POLICY_PACK, "production.json");

export class DeployRefused extends Error {}

/** The stack's `mogi:environment` from its file; throws UnknownStackError listing the known stacks. */
export function stackEnvironment(stack: string, stacksDir = STACKS_DIR): string {
  return loadStackConfig(stack, stacksDir).config["mogi:environment"] ?? "development";
}

/** The stack's settings when they are valid; undefined otherwise (the program reports every problem). */
export function validSettings(stack: string, stacksDir = STACKS_DIR, env: NodeJS.ProcessEnv = process.env): Settings | undefined {
  try {
    return loadStackSettings(stack, env, stacksDir);
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

/** Refuses to destroy a production stack unless `--yes` confirms it. */
export function guardDestroy(args: DeployArgs, environment: string): void {
  if (args.command === "destroy" && environment === "production" && !args.yes) {
    throw new DeployRefused(`refusing to destroy production stack "${args.stack}": it removes Mogi from that cluster and its Consul ACL token; re-run with --yes to confirm`);
  }
}

/** The engine's policy events at the mandatory level: these, not the CLI's wording, make exit code 2. */
export function mandatoryViolations(events: readonly EngineEvent[]): PolicyEvent[] {
  return events.map((e) => e.policyEvent).filter((p): p is PolicyEvent => p?.enforcementLevel === "mandatory");
}

/** One line per violation: policy, resource, and the policy's own message. */
export function describeViolation(violation: PolicyEvent): string {
  const resource = violation.resourceUrn ? ` (${violation.resourceUrn.split("::").pop()})` : "";
  return `${violation.policyName}${resource}: ${violation.message.replace(/\s+/g, " ").trim()}`;
}

/**
 * Why a command failed, in one line: the CLI's last `error:` line (not logged in, backend
 * unreachable, a resource that failed), else the last line it printed.
 */
export function failureLine(error: unknown): string {
  const text = error instanceof CommandError ? String((error as unknown as { commandResult?: { stderr?: string } }).commandResult?.stderr ?? error.message) : String((error as Error)?.message ?? error);
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const errorLine = [...lines].reverse().find((l) => l.startsWith("error:"));
  return (errorLine ?? lines.at(-1) ?? "unknown error").replace(/^error:\s*/, "");
}

export function formatChanges(changes: Partial<Record<OpType | string, number>> | undefined): string {
  const entries = Object.entries(changes ?? {}).filter(([, n]) => (n ?? 0) > 0);
  return entries.length ? entries.map(([op, n]) => `${op} ${n}`).join(", ") : "no changes";
}

/** A stack `preview`, `refresh` or `destroy` was asked for, but the backend does not have. */
export class StackMissingError extends Error {}

/**
 * `up` creates the stack on first use; the other commands only select an existing one, so that a
 * typo never creates an empty stack (and `destroy` never "succeeds" on nothing).
 */
export async function openStack(command: DeployCommand, name: string, workspace: Workspace): Promise<Stack> {
  if (command === "up") return Stack.createOrSelect(name, workspace);
  try {
    return await Stack.select(name, workspace);
  } catch (error) {
    if (!(error instanceof StackNotFoundError)) throw error;
    const known = await workspace.listStacks().then((stacks) => stacks.map((s) => s.name).sort(), () => undefined);
    const listed = known === undefined ? "" : `; stacks in this backend: ${known.join(", ") || "none"}`;
    throw new StackMissingError(`stack "${name}" does not exist in this backend${listed}; \`npm run deploy -- up --stack ${name}\` creates it`);
  }
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
  // Before the stack is opened (`up` would create it): a CA that cannot work stops every command.
  const settings = validSettings(args.stack, stacksDir);
  const tlsProblem = settings && (await consulTlsProblem(settings));
  if (tlsProblem) {
    io.log(`${args.command} ${args.stack} failed: ${tlsProblem}`);
    return EXIT.failed;
  }
  const events: EngineEvent[] = [];
  const streams = { onOutput: io.out, onEvent: (event: EngineEvent) => events.push(event) };
  const policy = args.policyPack
    ? { policyPacks: [POLICY_PACK], policyPackConfigs: environment === "production" ? [PRODUCTION_POLICY_CONFIG] : [] }
    : {};
  let changes: Record<string, number> | undefined;
  let failure: unknown;
  try {
    const stack = await openStack(args.command, args.stack, await LocalWorkspace.create({ workDir: PROJECT_DIR, pulumiCommand }));
    if (args.command === "preview") changes = (await stack.preview({ ...streams, ...policy })).changeSummary;
    else if (args.command === "up") changes = (await stack.up({ ...streams, ...policy })).summary.resourceChanges;
    else if (args.command === "refresh") changes = (await stack.refresh(streams)).summary.resourceChanges;
    else changes = (await stack.destroy(streams)).summary.resourceChanges;
  } catch (error) {
    if (!(error instanceof CommandError || error instanceof StackMissingError)) throw error;
    failure = error;
  }
  const violations = mandatoryViolations(events);
  if (violations.length > 0) {
    for (const violation of violations) io.log(`mandatory policy violation: ${describeViolation(violation)}`);
    io.log(`${args.command} ${args.stack}: ${violations.length} mandatory policy violation${violations.length === 1 ? "" : "s"}`);
    return EXIT.policyViolation;
  }
  if (failure !== undefined) {
    io.log(`${args.command} ${args.stack} failed: ${failureLine(failure)}`);
    return EXIT.failed;
  }
  io.log(`${args.command} ${args.stack} (${environment}): ${formatChanges(changes)}`);
  return EXIT.ok;
}
