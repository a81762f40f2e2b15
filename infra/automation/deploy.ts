/**
 * The deploy driver: one Pulumi command on one stack of this project (stack configuration from
 * stacks/), streaming the engine's output and ending with a summary of changes. The engine's
 * structured events (the Automation API's EngineEvent) decide the outcome, not the CLI's wording.
 */
import * as path from "node:path";
import type { DiagnosticEvent, EngineEvent, OpType, PolicyEvent } from "@pulumi/pulumi/automation";
import { DeployArgs, EXIT } from "./args";
import { consulTlsProblem } from "../consulTls";
import { INSTALL_HINT, localPulumi, PulumiCli } from "./pulumiCli";
import { resourceChanges, runStackCommand, StackMissingError } from "./stackCommand";
import { readStack, stackSettings, StackSource, PROJECT_DIR, STACKS_DIR } from "../stacks";
import { chooseKubeconfig } from "../config/kubeconfig";

const POLICY_PACK = path.join(PROJECT_DIR, "infra", "policy");
const PRODUCTION_POLICY_CONFIG = path.join(POLICY_PACK, "production.json");

export class DeployRefused extends Error {}

/** The stack's `mogi:environment` from its file; throws UnknownStackError listing the known stacks. */
export function stackEnvironment(stack: string, stacksDir = STACKS_DIR): string {
  return readStack(stack, { stacksDir }).config["mogi:environment"] ?? "development";
}

/** True when Pulumi adds configuration the stack file does not hold (ESC environments, project-level config). */
const resolvedByCli = (source: StackSource) => source.environments.length > 0 || source.projectConfig.length > 0;

/**
 * The environment the driver picks the policy levels and the destroy guard from. Read from the
 * stack file; where Pulumi adds configuration the file does not hold, the file must still say it.
 */
function environmentOf(source: StackSource): string {
  const written = source.config["mogi:environment"];
  if (written !== undefined) return written;
  if (!resolvedByCli(source)) return "development";
  const elsewhere = source.environments.length > 0 ? `imports the ESC environment${source.environments.length === 1 ? "" : "s"} ${source.environments.join(", ")}` : "takes project-level config from Pulumi.yaml";
  throw new DeployRefused(`${source.file} ${elsewhere} but does not set mogi:environment itself: write it into the stack file (the driver chooses the policy levels and the destroy guard from it before pulumi runs)`);
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

/** A diagnostic's text on one line: stack frames left out (an unhandled exception's), the rest joined. */
function oneLine(message: string): string {
  return message.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("at ")).join(" ");
}

/**
 * Why a command failed, in one line. A failed update prints nothing on stderr: its cause is the
 * engine's first error diagnostic on a resource (`<resource>: <the provider's or program's
 * words>`), not the stack's closing "update failed". Before the engine starts (not logged in,
 * backend unreachable, stack missing) it is the CLI's last `error:` line on stderr, else its last
 * line.
 */
export function failureLine(stderr: string, events: readonly EngineEvent[] = []): string {
  const errors = events.map((e) => e.diagnosticEvent).filter((d): d is DiagnosticEvent => d?.severity === "error");
  const cause = errors.find((d) => d.urn);
  if (cause?.urn) {
    const [, , type, name] = cause.urn.split("::");
    return type === "pulumi:pulumi:Stack" ? oneLine(cause.message) : `${name}: ${oneLine(cause.message)}`;
  }
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const errorLine = [...lines].reverse().find((l) => l.startsWith("error:"));
  if (errorLine) return errorLine.replace(/^error:\s*/, "");
  if (errors.length > 0) return oneLine(errors[errors.length - 1].message);
  return lines.at(-1) ?? "unknown error";
}

export function formatChanges(changes: Partial<Record<OpType | string, number>> | undefined): string {
  const entries = Object.entries(changes ?? {}).filter(([, n]) => (n ?? 0) > 0);
  return entries.length ? entries.map(([op, n]) => `${op} ${n}`).join(", ") : "no changes";
}

export interface DeployIO {
  out: (text: string) => void;
  log: (line: string) => void;
}

/**
 * Runs one command; returns the exit code. Expected failures are one line on `log`; a stack file
 * or settings that cannot be used throw (UnknownStackError, StackFileError, ConfigError, one line
 * per problem; KubeconfigProblem) before the CLI is asked for anything, so that nothing is created
 * or changed.
 */
export async function runDeploy(args: DeployArgs, io: DeployIO, stacksDir = STACKS_DIR, cli?: PulumiCli, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const source = readStack(args.stack, { stacksDir });
  const environment = environmentOf(source);
  // Validated as the program will validate them, before the backend is touched (`up` would create
  // the stack). Where Pulumi adds configuration the file does not hold, the program validates.
  const settings = resolvedByCli(source) ? undefined : stackSettings(source, env);
  guardDestroy(args, environment);
  const pulumi = cli ?? localPulumi(PROJECT_DIR);
  // The cluster the provider would target, found the way it finds it: a missing kubeconfig or
  // context is one line here, not an engine error after `up` has created the stack.
  if (settings) chooseKubeconfig(settings.kubernetes, env, PROJECT_DIR);
  // A CA that cannot work stops every command, before the stack is touched.
  const tlsProblem = settings && (await consulTlsProblem(settings));
  if (tlsProblem) {
    io.log(`${args.command} ${args.stack} failed: ${tlsProblem}`);
    return EXIT.failed;
  }
  const policy = args.policyPack ? { packs: [POLICY_PACK], configs: environment === "production" ? [PRODUCTION_POLICY_CONFIG] : [] } : undefined;
  let result;
  try {
    result = await runStackCommand(pulumi.run, args.command, args.stack, policy, io.out);
  } catch (error) {
    if (error instanceof StackMissingError) {
      io.log(`${args.command} ${args.stack} failed: ${error.message}`);
      return EXIT.failed;
    }
    // The CLI could not be started at all (removed or not executable since the PATH check).
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code !== "string") throw error;
    io.log(`${args.command} ${args.stack} failed: cannot run pulumi (${code}): ${INSTALL_HINT}`);
    return EXIT.failed;
  }
  const violations = mandatoryViolations(result.events);
  if (violations.length > 0) {
    for (const violation of violations) io.log(`mandatory policy violation: ${describeViolation(violation)}`);
    io.log(`${args.command} ${args.stack}: ${violations.length} mandatory policy violation${violations.length === 1 ? "" : "s"}`);
    return EXIT.policyViolation;
  }
  if (result.code !== 0) {
    // An outdated CLI fails in its own words (an unknown flag): say what is actually wrong.
    io.log(`${args.command} ${args.stack} failed: ${(await pulumi.versionProblem()) ?? failureLine(result.stderr, result.events)}`);
    return EXIT.failed;
  }
  io.log(`${args.command} ${args.stack} (${environment}): ${formatChanges(resourceChanges(result.events))}`);
  return EXIT.ok;
}
