/**
 * One engine operation on one stack, run as the Automation API's `Stack` runs it (`pulumi <op>
 * --stack <name> --non-interactive`, `--yes --skip-preview` for the updating ones, `--event-log`
 * for the engine's structured events) but without the calls around it that the driver does not
 * need: no `stack select` first (`--stack` names it; the user's selected stack is left alone), and
 * after `up` no `stack output` twice and `stack history` (`automation/stack.js` `Stack.up`), about
 * 1 to 2.5 s per `up`: the change summary is the engine's own `summaryEvent`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { DeployCommand } from "./args";
import { CliResult, PulumiRunner } from "./pulumiCli";

/** The CLI's words for a stack the backend does not have (as the Automation API's StackNotFoundError matches them). */
const NO_SUCH_STACK = /no stack named.*found/;

/** A stack `preview`, `refresh` or `destroy` was asked for, but the backend does not have. */
export class StackMissingError extends Error {}

export interface PolicyPacks {
  packs: readonly string[];
  configs: readonly string[];
}

export interface StackCommandResult extends CliResult {
  /** The engine's events, in order (empty when the CLI failed before the engine started). */
  events: EngineEvent[];
}

/** The CLI arguments of one operation; the event log goes to `eventLog`. */
export function stackCommandArgs(command: DeployCommand, stack: string, eventLog: string, policy: PolicyPacks = { packs: [], configs: [] }): string[] {
  const args: string[] = [command, "--stack", stack, "--event-log", eventLog];
  if (command !== "preview") args.push("--yes", "--skip-preview");
  if (command === "preview" || command === "up") {
    for (const pack of policy.packs) args.push("--policy-pack", pack);
    for (const config of policy.configs) args.push("--policy-pack-config", config);
  }
  return args;
}

/** Events of a JSON-lines event log; a line cut short by a crash is left out. */
export function parseEventLog(text: string): EngineEvent[] {
  const events: EngineEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as EngineEvent);
    } catch {
      // the last line of an interrupted run
    }
  }
  return events;
}

/** The engine's count of resources per operation (create, update, same, …), from its summary event. */
export function resourceChanges(events: readonly EngineEvent[]): Record<string, number> | undefined {
  const summary = [...events].reverse().find((event) => event.summaryEvent)?.summaryEvent;
  return summary?.resourceChanges as Record<string, number> | undefined;
}

async function runWithEventLog(run: PulumiRunner, command: DeployCommand, stack: string, policy: PolicyPacks | undefined, onStdout: (text: string) => void): Promise<StackCommandResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "mogi-deploy-events-"));
  const eventLog = path.join(dir, "events.jsonl");
  try {
    const result = await run(stackCommandArgs(command, stack, eventLog, policy), onStdout);
    let log = "";
    try {
      log = readFileSync(eventLog, "utf8");
    } catch {
      // the CLI failed before it opened the log
    }
    return { ...result, events: parseEventLog(log) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one line for a missing stack: what the backend has (when it can say), and how to create it. */
async function missingStackMessage(run: PulumiRunner, stack: string): Promise<string> {
  const listing = await run(["stack", "ls", "--json"]);
  let known: string[] | undefined;
  try {
    known = listing.code === 0 ? (JSON.parse(listing.stdout) as { name: string }[]).map((s) => s.name).sort() : undefined;
  } catch {
    known = undefined;
  }
  const listed = known === undefined ? "" : `; stacks in this backend: ${known.join(", ") || "none"}`;
  return `stack "${stack}" does not exist in this backend${listed}; \`npm run deploy -- up --stack ${stack}\` creates it`;
}

/**
 * Runs `command` on `stack`. `up` creates the stack on first use (`stack init`, then the `up`
 * again); the other commands throw StackMissingError instead, so that a typo never creates an
 * empty stack (and `destroy` never "succeeds" on nothing).
 */
export async function runStackCommand(run: PulumiRunner, command: DeployCommand, stack: string, policy: PolicyPacks | undefined, onStdout: (text: string) => void): Promise<StackCommandResult> {
  const result = await runWithEventLog(run, command, stack, policy, onStdout);
  if (result.code === 0 || !NO_SUCH_STACK.test(result.stderr)) return result;
  if (command !== "up") throw new StackMissingError(await missingStackMessage(run, stack));
  const created = await run(["stack", "init", stack]);
  if (created.code !== 0) return { ...created, events: [] };
  return runWithEventLog(run, command, stack, policy, onStdout);
}
