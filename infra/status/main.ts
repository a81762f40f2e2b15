/**
 * `npm run status -- --stack <name> [--json] [--watch | --wait <seconds>]`: which pod is the active
 * Mogi, since when, and is anything wrong, for one cluster, from the stack's own settings and a
 * Consul token from CONSUL_HTTP_TOKEN (read-only use, never printed). Exit 0 healthy, 1 degraded,
 * 2 bad usage, a stack file or settings that cannot be used, or a system unreachable (one line on
 * stderr each, or with --json one object on stdout; no stack trace).
 */
import { loadStackSettings, PROJECT_DIR, stackErrorLines } from "../stacks";
import { CommandLine, optionValue, parseCommandLine, runAsScript, UsageError } from "../cli";
import { ConsulUnreachable } from "./consulHttp";
import { consulEndpoint, consulFacts, Facts, kubernetesFacts, KubernetesUnreachable, loadKubeconfig } from "./facts";
import { humanReport, jsonReport } from "./report";
import { assess, Assessment, FirstSeen, updateFirstSeen } from "./verdict";

const WATCH_INTERVAL_MS = 5_000;
/**
 * Between checks of --wait: the verdict changes at the lock's pace (waiters retry every 5 s, the
 * readiness probe runs every 2 s), so 3 s notices a new healthy holder within a few seconds of it,
 * at the cost of five small reads per check.
 */
export const WAIT_PERIOD_MS = 3_000;
export const EXIT = { healthy: 0, degraded: 1, trouble: 2 } as const;

const USAGE = `usage: npm run status -- --stack <name> [--json] [--watch | --wait <seconds>]
  Which pod is the active Mogi, since when, and is anything wrong, for one cluster. Reads the
  stack's settings (stacks/Pulumi.<name>.yaml alone: a stack importing ESC environments is
  refused), the kubeconfig its provider uses and CONSUL_HTTP_TOKEN (never printed).
  --stack <name>    the stack whose cluster and Consul to read
  --json            one JSON object instead of the table
  --watch           check again every ${WATCH_INTERVAL_MS / 1000} s until interrupted
  --wait <seconds>  check every ${WAIT_PERIOD_MS / 1000} s until healthy (exit 0) or until <seconds> have passed
                    (then exit 1 with the failing checks, or 2 if a system was unreachable)
  -h, --help        this text
exit: 0 healthy, 1 degraded, 2 bad usage, an unknown stack, a stack file or settings that cannot
      be used, no kubeconfig or context, Consul or Kubernetes unreachable, or a token Consul refuses`;

export interface StatusArgs {
  stack: string;
  json: boolean;
  watch: boolean;
  /** --wait: how long to wait for healthy. */
  waitSeconds?: number;
}

export function parseStatusArgs(argv: string[]): StatusArgs {
  let stack: string | undefined;
  let json = false;
  let watch = false;
  let waitSeconds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const stackOption = optionValue(argv, i, "--stack");
    const waitOption = optionValue(argv, i, "--wait");
    if (stackOption) {
      stack = stackOption.value;
      i = stackOption.next;
    } else if (waitOption) {
      waitSeconds = Number(waitOption.value);
      if (waitOption.value.trim() === "" || !Number.isFinite(waitSeconds) || waitSeconds < 0) throw new UsageError(`--wait takes a number of seconds ≥ 0, not ${JSON.stringify(waitOption.value)}`);
      i = waitOption.next;
    } else if (arg === "--json") json = true;
    else if (arg === "--watch") watch = true;
    else throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (!stack) throw new UsageError("--stack <name> is required");
  if (watch && waitSeconds !== undefined) throw new UsageError("--watch and --wait exclude each other");
  return { stack, json, watch, waitSeconds };
}

const STATUS_COMMAND_LINE: CommandLine<StatusArgs> = { name: "status", usage: USAGE, parse: parseStatusArgs };

export interface StatusOptions {
  env?: NodeJS.ProcessEnv;
  /** Where the stack files are (default stacks/). */
  stacksDir?: string;
  /** Where Pulumi.yaml is, and what relative paths in settings start from (default the project's). */
  projectDir?: string;
  /** Reports (stdout by default). */
  out?: (text: string) => void;
  /** Usage, failures and --wait's progress (stderr by default). */
  err?: (text: string) => void;
  /** --wait's period (tests shorten it). */
  waitPeriodMs?: number;
}

async function observe(stack: string, env: NodeJS.ProcessEnv, options: StatusOptions): Promise<Facts> {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const settings = loadStackSettings(stack, env, options.stacksDir, projectDir);
  const endpoint = consulEndpoint(settings, env);
  // The kubeconfig before any request: what is missing there is said the same way every time, and
  // the client's first load (seconds on a loaded machine) is over before a request's timer starts.
  const kc = await loadKubeconfig(settings, env, projectDir);
  const [consul, kubernetes] = await Promise.allSettled([consulFacts(endpoint, settings.consul.lockPrefix), kubernetesFacts(settings, kc)]);
  if (consul.status === "rejected" || kubernetes.status === "rejected") {
    const failures = [consul, kubernetes].filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
    const unexpected = failures.find((f) => !(f instanceof ConsulUnreachable || f instanceof KubernetesUnreachable));
    if (unexpected) throw unexpected;
    // Both at once is one line too, in a fixed order (Consul, then Kubernetes).
    const reachable = failures as (ConsulUnreachable | KubernetesUnreachable)[];
    if (reachable.length === 1) throw reachable[0];
    throw new KubernetesUnreachable(reachable.map((f) => f.message).join("; "), reachable.every((f) => f.refused));
  }
  return { stack, namespace: settings.namespace, deploymentName: settings.name, observedAt: Date.now(), ...consul.value, ...kubernetes.value };
}

/** One look at the stack: its assessment, or why there is none (exit 2). */
type Check =
  | { code: 0 | 1; facts: Facts; assessment: Assessment }
  /** `lasting`: asking again cannot help (unknown stack, invalid settings, no kubeconfig, a refused token). */
  | { code: 2; lines: string[]; lasting: boolean };

async function check(args: StatusArgs, options: StatusOptions, firstSeen: FirstSeen): Promise<Check> {
  try {
    const facts = await observe(args.stack, options.env ?? process.env, options);
    const assessment = assess(facts, firstSeen);
    return { code: assessment.exitCode, facts, assessment };
  } catch (error) {
    const lines = stackErrorLines(error);
    if (lines) return { code: EXIT.trouble, lines, lasting: true };
    if (error instanceof ConsulUnreachable || error instanceof KubernetesUnreachable) return { code: EXIT.trouble, lines: [error.message], lasting: error.refused };
    throw error;
  }
}

const failing = (result: Check) => (result.code === EXIT.trouble ? [] : result.assessment.checks.filter((c) => !c.ok));
/** The failing checks' messages, or why the stack could not be checked. */
const reason = (result: Check) => (result.code === EXIT.trouble ? result.lines.join("; ") : failing(result).map((c) => `${c.check}: ${c.message}`).join("; "));
/** What --wait says it waits for changes when this does (not with each check's "for N s"). */
const reasonKey = (result: Check) => (result.code === EXIT.trouble ? result.lines.join("; ") : failing(result).map((c) => c.check).join(","));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Printer {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A report on stdout; a failure as one line on stderr, or, with --json, as a JSON object on stdout. */
function print(result: Check, args: StatusArgs, io: Printer, clearScreen = false): void {
  if (result.code === EXIT.trouble) {
    if (args.json) io.out(JSON.stringify({ stack: args.stack, verdict: "unknown", exitCode: result.code, error: result.lines.join("; ") }));
    else for (const line of result.lines) io.err(`status: ${line}`);
    return;
  }
  const report = args.json ? jsonReport(result.facts, result.assessment) : humanReport(result.facts, result.assessment);
  io.out(clearScreen && !args.json ? `\x1b[2J\x1b[H${report}` : report);
}

/**
 * --wait: checks until healthy (0) or until the time is up (the last check's code: 1 degraded,
 * 2 unreachable), saying on stderr what it waits for whenever that changes. Unreachable systems
 * are asked again (a Consul server restarting is a blip), a refused token or bad settings are not.
 */
async function waitForHealthy(args: StatusArgs, options: StatusOptions, io: Printer, waitSeconds: number): Promise<number> {
  const deadline = Date.now() + waitSeconds * 1000;
  const period = options.waitPeriodMs ?? WAIT_PERIOD_MS;
  let firstSeen: FirstSeen = {};
  let said: string | undefined;
  for (;;) {
    const result = await check(args, options, firstSeen);
    if (result.code !== EXIT.trouble) firstSeen = updateFirstSeen(firstSeen, result.assessment, result.facts.observedAt);
    const left = deadline - Date.now();
    if (result.code === EXIT.healthy || (result.code === EXIT.trouble && result.lasting)) {
      print(result, args, io);
      return result.code;
    }
    if (left <= 0) {
      print(result, args, io);
      io.err(`status: ${args.stack} not healthy within ${waitSeconds} s: ${reason(result)}`);
      return result.code;
    }
    if (reasonKey(result) !== said) {
      said = reasonKey(result);
      io.err(`status: waiting up to ${Math.ceil(left / 1000)} s more for ${args.stack} to be healthy: ${reason(result)}`);
    }
    await sleep(Math.min(period, left));
  }
}

export async function main(argv: string[], options: StatusOptions = {}): Promise<number> {
  const io: Printer = {
    out: options.out ?? ((text: string) => void process.stdout.write(`${text}\n`)),
    err: options.err ?? ((text: string) => void process.stderr.write(`${text}\n`)),
  };
  const parsed = parseCommandLine(argv, STATUS_COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  const { args } = parsed;
  if (args.waitSeconds !== undefined) return waitForHealthy(args, options, io, args.waitSeconds);
  let firstSeen: FirstSeen = {};
  let code: number = EXIT.trouble;
  let interrupted = false;
  if (args.watch) process.once("SIGINT", () => (interrupted = true));
  do {
    const result = await check(args, options, firstSeen);
    if (result.code !== EXIT.trouble) firstSeen = updateFirstSeen(firstSeen, result.assessment, result.facts.observedAt);
    code = result.code;
    print(result, args, io, args.watch);
    if (result.code === EXIT.trouble && result.lasting) return code;
    if (args.watch && !interrupted) await sleep(WATCH_INTERVAL_MS);
  } while (args.watch && !interrupted);
  return code;
}

if (require.main === module) runAsScript((argv) => main(argv), "status");
