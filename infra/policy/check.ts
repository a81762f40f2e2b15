/**
 * `npm run check -- <resources.json> [--production]`: the policy pack's verdict on a render, with
 * no engine. Prints each violation; exit 1 on any mandatory one, 0 otherwise, 2 on bad usage.
 */
import { readFileSync } from "node:fs";
import { evaluatePolicies, isMandatory, OfflineResource, productionConfig, Violation } from "./evaluate";

const USAGE = "usage: npm run check -- <out/<stack>/resources.json> [--production]";

export function formatViolation(v: Violation): string {
  return `${v.level.padEnd(9)} ${v.policy}  [${v.resource}]\n          ${v.message}`;
}

export async function main(argv: string[], log = console.log, logError = console.error): Promise<number> {
  const production = argv.includes("--production");
  const files = argv.filter((a) => a !== "--production");
  if (files.length !== 1 || files[0].startsWith("-")) {
    logError(USAGE);
    return 2;
  }
  let resources: OfflineResource[];
  try {
    resources = JSON.parse(readFileSync(files[0], "utf8"));
    if (!Array.isArray(resources)) throw new Error("expected a JSON array of {type, name, parent, inputs}");
  } catch (error) {
    logError(`${files[0]}: ${(error as Error).message}`);
    return 2;
  }
  const violations = await evaluatePolicies(resources, production ? productionConfig() : {});
  for (const v of violations) log(formatViolation(v));
  const mandatory = violations.filter(isMandatory).length;
  log(`${resources.length} resources, ${violations.length} violations (${mandatory} mandatory)${production ? ", production levels" : ""}`);
  return mandatory > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
