/** Entry of `npm run deploy`; expected failures end with one line each and a CI-friendly exit code. */
import { DEPLOY_COMMAND_LINE, EXIT } from "./args";
import { DeployRefused, runDeploy } from "./deploy";
import { MissingCliError, PulumiCli } from "./pulumiCli";
import { stackErrorLines, STACKS_DIR } from "../stacks";
import { KubeconfigProblem } from "../config/kubeconfig";
import { CommandIO, consoleIO, parseCommandLine, runAsScript } from "../cli";

export interface DeployOptions {
  /** Where the stack files are (default stacks/). */
  stacksDir?: string;
  /** The CLI to run (default the `pulumi` on PATH). */
  cli?: PulumiCli;
  /** Where the engine's output is streamed (default stdout). */
  stream?: (text: string) => void;
  /** The environment pulumi runs in (default this process's): KUBECONFIG, HOME, CONSUL_CA_FILE. */
  env?: NodeJS.ProcessEnv;
}

export async function main(argv: string[], io: CommandIO = consoleIO, options: DeployOptions = {}): Promise<number> {
  const parsed = parseCommandLine(argv, DEPLOY_COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  try {
    const stream = options.stream ?? ((text: string) => void process.stdout.write(text));
    return await runDeploy(parsed.args, { out: stream, log: io.err }, options.stacksDir ?? STACKS_DIR, options.cli, options.env);
  } catch (error) {
    const lines = error instanceof DeployRefused || error instanceof MissingCliError || error instanceof KubeconfigProblem ? [error.message] : stackErrorLines(error);
    if (!lines) throw error;
    for (const line of lines) io.err(`deploy: ${line}`);
    return EXIT.failed;
  }
}

if (require.main === module) runAsScript((argv) => main(argv), "deploy");
