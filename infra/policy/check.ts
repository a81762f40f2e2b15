/**
 * `npm run check -- <resources.json> [--production]`: the policy pack's verdict on a render, with
 * no engine. Prints each violation; exit 1 on any mandatory one, 0 otherwise, 2 on bad usage or a
 * file that cannot be read or is not a list of resources (one line on stderr).
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
exit: 0 no mandatory violation, 1 a mandatory violation, 2 bad usage or a file that cannot be read
      or is not a JSON list of resources`;

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

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const kind = (value: unknown) => (value === null ? "null" : Array.isArray(value) ? "a list" : typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value).slice(0, 40)}`);

/**
 * What keeps an entry from being a resource the pack can judge, `{type: string, name: string,
 * inputs: object}` as `npm start` writes it (`parent` may be absent); undefined if nothing does.
 */
function notAResource(entry: unknown): string | undefined {
  if (!isObject(entry)) return `got ${kind(entry)}`;
  const wrong = (["type", "name", "inputs"] as const).filter((key) => (key === "inputs" ? !isObject(entry[key]) : typeof entry[key] !== "string"));
  return wrong.length === 0 ? undefined : wrong.map((key) => (entry[key] === undefined ? `no ${key}` : `${key} is ${kind(entry[key])}`)).join(", ");
}

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
    const bad = resources.findIndex((entry) => notAResource(entry) !== undefined);
    if (bad >= 0) throw new Error(`entry ${bad} is not a resource {type: string, name: string, inputs: object}: ${notAResource(resources[bad])}`);
  } catch (error) {
    // One line: Node's JSON.parse quotes the text around a syntax error, newlines included.
    logError(`${file}: ${(error as Error).message.split("\n")[0]}`);
    return 2;
  }
  const violations = await evaluatePolicies(resources, production ? productionConfig() : {});
  for (const v of violations) log(formatViolation(v));
  const mandatory = violations.filter(isMandatory).length;
  log(`${resources.length} resources, ${violations.length} violations (${mandatory} mandatory)${production ? ", production levels" : ""}`);
  return mandatory > 0 ? 1 : 0;
}

if (require.main === module) runAsScript((argv) => main(argv));
