/**
 * What every command line of this project does with its arguments (`npm start`, `npm run deploy`,
 * `status`, `check`, `bench`, `bench:deploy`, `engines`), in one place so that they all behave
 * alike: `--help` or `-h` anywhere prints the usage on stdout and exits 0 (asking for help is not
 * an error, and a script may pipe it); a wrong argument prints one line on stderr saying what is
 * wrong and where the usage is, and exits 2 (unless the command documents another code); nothing
 * ends in a stack trace (runAsScript).
 */
import * as path from "node:path";

/** A wrong argument: its message says what is wrong; the usage is added by parseCommandLine. */
export class UsageError extends Error {}

/** Where a command writes: stdout for what was asked for, stderr for what went wrong. */
export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
}

export const consoleIO: CommandIO = { out: (text) => console.log(text), err: (text) => console.error(text) };

export interface CommandLine<T> {
  /** Prefix of error lines, e.g. "status". */
  name: string;
  /** The whole usage text, printed for --help and after a wrong argument. */
  usage: string;
  /** Throws UsageError for a wrong argument. */
  parse: (argv: string[]) => T;
  /** Exit code of a wrong argument (default 2). */
  usageExitCode?: number;
}

export type Parsed<T> = { args: T } | { exitCode: number };

export const EXIT_USAGE = 2;

export const wantsHelp = (argv: readonly string[]) => argv.some((arg) => arg === "--help" || arg === "-h");

/** The parsed arguments, or the exit code once help or a usage error has been printed. */
export function parseCommandLine<T>(argv: string[], command: CommandLine<T>, io: CommandIO = consoleIO): Parsed<T> {
  if (wantsHelp(argv)) {
    io.out(command.usage);
    return { exitCode: 0 };
  }
  try {
    return { args: command.parse(argv) };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${command.name}: ${error.message}; see \`${helpCommand(command.usage)}\``);
    return { exitCode: command.usageExitCode ?? EXIT_USAGE };
  }
}

/** How to ask a command for its usage, from the usage's first line: `npm run status -- --help`. */
export function helpCommand(usage: string): string {
  const command = /^usage: (npm (?:run )?[\w:]+)/.exec(usage)?.[1] ?? "the command";
  return `${command} -- --help`;
}

/**
 * The value of an option at argv[i] (`--name value` or `--name=value`): the value and the index
 * of the last argument used, or undefined when argv[i] is not this option.
 */
export function optionValue(argv: string[], i: number, name: string): { value: string; next: number } | undefined {
  const arg = argv[i];
  if (arg.startsWith(`${name}=`)) return { value: arg.slice(name.length + 1), next: i };
  if (arg !== name) return undefined;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith("--")) throw new UsageError(`${name} needs a value`);
  return { value, next: i + 1 };
}

/**
 * The count of a command line whose only option is `name <n>` (a whole number ≥ 1; `fallback`
 * when absent), as the benchmarks take their number of runs or clusters.
 */
export function onlyCountOption(argv: string[], name: string, fallback: number): number {
  let count = fallback;
  for (let i = 0; i < argv.length; i++) {
    const option = optionValue(argv, i, name);
    if (!option) throw new UsageError(`unexpected argument ${JSON.stringify(argv[i])}`);
    count = Number(option.value);
    if (!Number.isInteger(count) || count < 1) throw new UsageError(`${name} takes a whole number ≥ 1, not ${JSON.stringify(option.value)}`);
    i = option.next;
  }
  return count;
}

/**
 * Runs an entry point's main when the file is run as a script, with its result as exit code. An
 * error main did not expect still ends in one line on stderr and exit 1, not a stack trace
 * (MOGI_DEBUG=1 prints the trace too, for a bug report).
 */
export function runAsScript(main: (argv: string[]) => Promise<number>, name = path.basename(process.argv[1] ?? "command", path.extname(process.argv[1] ?? ""))): void {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`${name}: unexpected error: ${message.split("\n").find((line) => line.trim())?.trim() ?? "(no message)"}${process.env.MOGI_DEBUG ? "" : " (MOGI_DEBUG=1 shows where)"}\n`);
      if (process.env.MOGI_DEBUG) process.stderr.write(`${(error as Error)?.stack ?? ""}\n`);
      process.exitCode = 1;
    },
  );
}
