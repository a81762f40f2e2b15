/**
 * `npm run status -- --stack <name> [--json] [--watch]`: which pod is the active Mogi, since when,
 * and is anything wrong, for one cluster, from the stack's own settings and a Consul token from
 * CONSUL_HTTP_TOKEN (read-only use, never printed). Exit 0 healthy, 1 degraded, 2 bad usage or
 * a system unreachable (one line, no stack trace).
 */
import { ConfigError } from "../config";
import { loadStackSettings, UnknownStackError } from "../stacks";
import { ConsulUnreachable } from "./consulHttp";
import { consulEndpoint, consulFacts, Facts, kubernetesFacts, KubernetesUnreachable } from "./facts";
import { humanReport, jsonReport } from "./report";
import { assess, FirstSeen, updateFirstSeen } from "./verdict";

const USAGE = "usage: npm run status -- --stack <name> [--json] [--watch]";
const WATCH_INTERVAL_MS = 5_000;
export const EXIT = { healthy: 0, degraded: 1, trouble: 2 } as const;

export interface StatusArgs {
  stack: string;
  json: boolean;
  watch: boolean;
}

class UsageError extends Error {}

export function parseStatusArgs(argv: string[]): StatusArgs {
  let stack: string | undefined;
  let json = false;
  let watch = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") json = true;
    else if (arg === "--watch") watch = true;
    else if (arg === "--stack") stack = argv[++i];
    else if (arg.startsWith("--stack=")) stack = arg.slice("--stack=".length);
    else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  if (!stack || stack.startsWith("-")) throw new UsageError(`--stack <name> is required\n${USAGE}`);
  return { stack, json, watch };
}

export interface StatusOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the stack files are (default stacks/). */
  stacksDir?: string;
  out?: (text: string) => void;
}

async function observe(stack: string, env: NodeJS.ProcessEnv, stacksDir: string | undefined): Promise<Facts> {
  const settings = loadStackSettings(stack, env, stacksDir);
  const [consul, kubernetes] = await Promise.all([consulFacts(consulEndpoint(settings, env), settings.consul.lockPrefix), kubernetesFacts(settings)]);
  return { stack, namespace: settings.namespace, deploymentName: settings.name, observedAt: Date.now(), ...consul, ...kubernetes };
}

/** Problems that end a run with one line and exit 2. */
function troubleLine(error: unknown): string | undefined {
  if (error instanceof UsageError || error instanceof UnknownStackError) return error.message;
  if (error instanceof ConfigError) return `stack settings: ${error.message}`;
  if (error instanceof ConsulUnreachable || error instanceof KubernetesUnreachable) return error.message;
  return undefined;
}

export async function main(argv: string[], options: StatusOptions = {}): Promise<number> {
  const env = options.env ?? process.env;
  const out = options.out ?? ((text: string) => void process.stdout.write(`${text}\n`));
  let args: StatusArgs;
  try {
    args = parseStatusArgs(argv);
  } catch (error) {
    out(`status: ${(error as Error).message}`);
    return EXIT.trouble;
  }
  let firstSeen: FirstSeen = {};
  let code: number = EXIT.trouble;
  let interrupted = false;
  if (args.watch) process.once("SIGINT", () => (interrupted = true));
  do {
    try {
      const facts = await observe(args.stack, env, options.stacksDir);
      const assessment = assess(facts, firstSeen);
      firstSeen = updateFirstSeen(firstSeen, assessment, facts.observedAt);
      code = assessment.exitCode;
      const report = args.json ? jsonReport(facts, assessment) : humanReport(facts, assessment);
      out(args.watch && !args.json ? `\x1b[2J\x1b[H${report}` : report);
    } catch (error) {
      const line = troubleLine(error);
      if (line === undefined) throw error;
      code = EXIT.trouble;
      out(args.json ? JSON.stringify({ stack: args.stack, verdict: "unknown", exitCode: code, error: line }) : `status: ${line}`);
      if (error instanceof UsageError || error instanceof UnknownStackError || error instanceof ConfigError) return code;
    }
    if (args.watch && !interrupted) await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
  } while (args.watch && !interrupted);
  return code;
}

if (require.main === module) main(process.argv.slice(2)).then((code) => (process.exitCode = code));
