/**
 * `npm run check -- <resources.json> [--production]`: the policy pack's verdict on a render, with
 * no engine. Prints each violation; exit 1 on any mandatory one, 0 otherwise, 2 on bad usage.
 */
// First: @pulumi/policy loads @pulumi/pulumi, whose function serializer a check never uses (../deferSdkModules.js).
import "../deferSdkModules.js";
import { readFileSync } from "node:fs";
import { evaluatePolicies, isMandatory, OfflineResource, productionConfig, Violation } from "./evaluate";
import { CommandLine, parseCommandLine, runAsScript, UsageError } from "../cli";

const USAGE = `usage: npm run check -- <out/<stack>/resources.json> [--production]
  The policy pack's verdict on a render (npm start writes resources.json), with no engine.
  --production  production enforcement levels (infra/policy/production.json)
  -h, --help    this text
exit: 0 no mandatory violation, 1 a mandatory violation, 2 bad usage or an unreadable file`;

interface CheckArgs {
  file: string;
  production: boolean;
}

const CHECK_COMMAND_LINE: CommandLine<CheckArgs> = {
  name: "check",
  usage: USAGE,
  parse: (argv) => {
    const unknown = argv.find((a) => a.startsWith("-") && a !== "--production");
    if (unknown) throw new UsageError(`unknown option ${JSON.stringify(unknown)}`);
    const files = argv.filter((a) => a !== "--production");
    if (files.length !== 1) throw new UsageError(`expected one resources.json file, got ${files.length}`);
    return { file: files[0], production: argv.includes("--production") };
  },
};

export function formatViolation(v: Violation): string {
  return `${v.level.padEnd(9)} ${v.policy}  [${v.resource}]\n          ${v.message}`;
}

export async function main(argv: string[], log = console.log, logError = console.error): Promise<number> {
  const parsed = parseCommandLine(argv, CHECK_COMMAND_LINE, { out: log, err: logError });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { file, production } = parsed.args;
  let resources: OfflineResource[];
  try {
    resources = JSON.parse(readFileSync(file, "utf8"));
    if (!Array.isArray(resources)) throw new Error("expected a JSON array of {type, name, parent, inputs}");
  } catch (error) {
    logError(`${file}: ${(error as Error).message}`);
    return 2;
  }
  const violations = await evaluatePolicies(resources, production ? productionConfig() : {});
  for (const v of violations) log(formatViolation(v));
  const mandatory = violations.filter(isMandatory).length;
  log(`${resources.length} resources, ${violations.length} violations (${mandatory} mandatory)${production ? ", production levels" : ""}`);
  return mandatory > 0 ? 1 : 0;
}

if (require.main === module) runAsScript((argv) => main(argv));
