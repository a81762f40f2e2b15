/**
 * The deploy driver: one Pulumi command on one stack of this project (stack configuration from
 * stacks/), streaming the engine's output and ending with a summary of changes. The engine's
 * structured events (the Automation API's EngineEvent) decide the outcome, not the CLI's wording.
 */
import * as path from "node:path";
import type { DiagnosticEvent, EngineEvent, OpType, PolicyEvent } from "@pulumi/pulumi/automation";
import { DeployArgs, EXIT } from "./args";
import { consulTlsProblem } from "../consulTls";
import { localPulumi, PulumiCli } from "./pulumiCli";
import { resourceChanges, runStackCommand, StackMissingError } from "./stackCommand";
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

/** Runs one command; returns the exit code. Expected failures are one line on `log`. */
export async function runDeploy(args: DeployArgs, io: DeployIO, stacksDir = STACKS_DIR, cli?: PulumiCli): Promise<number> {
  const environment = stackEnvironment(args.stack, stacksDir);
  guardDestroy(args, environment);
  const pulumi = cli ?? localPulumi(PROJECT_DIR);
  // Before the stack is touched (`up` would create it): a CA that cannot work stops every command.
  const settings = validSettings(args.stack, stacksDir);
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
    if (!(error instanceof StackMissingError)) throw error;
    io.log(`${args.command} ${args.stack} failed: ${error.message}`);
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
