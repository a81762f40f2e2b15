/**
 * The `pulumi` CLI, which every stack operation needs (the Automation API, too, only drives it:
 * FACTS.md, Pulumi). Its absence is one clear line before anything else happens; its version is
 * checked only when a command has failed, to tell an outdated CLI from any other failure without
 * a `pulumi version` call (≈ 0.2 s) on every run.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import * as path from "node:path";
import type { PulumiCommand } from "@pulumi/pulumi/automation";

export const INSTALL_HINT = "install it with `curl -fsSL https://get.pulumi.com | sh` (see https://www.pulumi.com/docs/install/) and make sure it is on PATH";

export class MissingCliError extends Error {}

/** The first executable `name` on `searchPath`, or undefined. */
export function findOnPath(name: string, searchPath = process.env.PATH ?? ""): string | undefined {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws MissingCliError, with what to do, when `pulumi` is not on `searchPath`. */
export function requireCli(searchPath = process.env.PATH ?? ""): void {
  if (!findOnPath("pulumi", searchPath)) {
    throw new MissingCliError(`the Pulumi CLI (\`pulumi\`) is not on PATH; the deploy driver and the Automation API need it: ${INSTALL_HINT}`);
  }
}

/**
 * The CLI for the Automation API (LocalWorkspace), checked against the SDK's minimum version;
 * throws MissingCliError with what to do. Loads the Automation API's CLI module only when called.
 */
export async function pulumiCli(searchPath = process.env.PATH ?? ""): Promise<PulumiCommand> {
  requireCli(searchPath);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only here, not on every run
  const { PulumiCommand } = require("@pulumi/pulumi/automation/cmd") as typeof import("@pulumi/pulumi/automation/cmd");
  try {
    return await PulumiCommand.get();
  } catch (error) {
    throw new MissingCliError(`the Pulumi CLI on PATH cannot be used: ${(error as Error).message.trim()}; ${INSTALL_HINT}`);
  }
}

/** Why the CLI on PATH is not one this SDK supports, or undefined when it is. */
export async function cliVersionProblem(): Promise<string | undefined> {
  try {
    await pulumiCli();
    return undefined;
  } catch (error) {
    if (error instanceof MissingCliError) return error.message;
    throw error;
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pulumi <args>`; stdout is also streamed to `onStdout`. Never throws for an exit code. */
export type PulumiRunner = (args: string[], onStdout?: (text: string) => void) => Promise<CliResult>;

/** What the deploy driver needs of the CLI. */
export interface PulumiCli {
  run: PulumiRunner;
  /** Why the CLI cannot be used (too old, broken), asked after a failure; undefined when it is fine. */
  versionProblem: () => Promise<string | undefined>;
}

/**
 * The `pulumi` on PATH, run in `cwd`; throws MissingCliError when there is none. A Ctrl-C reaches
 * the CLI from the terminal (same process group) and the CLI cancels the operation cleanly, which
 * takes a while: the driver stays until it has, so that its last line and exit code are the CLI's,
 * not an interrupted Node.js process's.
 */
export function localPulumi(cwd: string): PulumiCli {
  requireCli();
  const run: PulumiRunner = (args, onStdout) =>
    new Promise((resolve, reject) => {
      // PULUMI_DEBUG_COMMANDS enables `--event-log`, as the Automation API's Stack sets it.
      const child = spawn("pulumi", [...args, "--non-interactive"], { cwd, env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_DEBUG_COMMANDS: "true" }, stdio: ["ignore", "pipe", "pipe"] });
      const stay = () => undefined;
      process.on("SIGINT", stay);
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (text: string) => {
        stdout += text;
        onStdout?.(text);
      });
      child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
      child.on("error", (error) => {
        process.off("SIGINT", stay);
        reject(error);
      });
      child.on("close", (code, signal) => {
        process.off("SIGINT", stay);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  return { run, versionProblem: cliVersionProblem };
}
