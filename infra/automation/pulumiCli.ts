/**
 * The Automation API drives the `pulumi` CLI and does nothing without it (FACTS.md, Pulumi).
 * These checks turn its absence into one clear line before anything else happens.
 */
import { accessSync, constants } from "node:fs";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";

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

/** The CLI, checked against the SDK's minimum version; throws MissingCliError with what to do. */
export async function pulumiCli(searchPath = process.env.PATH ?? ""): Promise<PulumiCommand> {
  if (!findOnPath("pulumi", searchPath)) {
    throw new MissingCliError(`the Pulumi CLI (\`pulumi\`) is not on PATH; the Automation API needs it: ${INSTALL_HINT}`);
  }
  try {
    return await PulumiCommand.get();
  } catch (error) {
    throw new MissingCliError(`the Pulumi CLI on PATH cannot be used: ${(error as Error).message.trim()}; ${INSTALL_HINT}`);
  }
}
