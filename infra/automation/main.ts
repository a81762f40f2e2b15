/** Entry of `npm run deploy`; expected failures end with one line and a CI-friendly exit code. */
import { DEPLOY_COMMAND_LINE, EXIT } from "./args";
import { DeployRefused, runDeploy } from "./deploy";
import { MissingCliError } from "./pulumiCli";
import { UnknownStackError } from "../stacks";
import { CommandIO, consoleIO, parseCommandLine, runAsScript } from "../cli";

export async function main(argv: string[], io: CommandIO = consoleIO): Promise<number> {
  const parsed = parseCommandLine(argv, DEPLOY_COMMAND_LINE, io);
  if ("exitCode" in parsed) return parsed.exitCode;
  try {
    return await runDeploy(parsed.args, { out: (text) => process.stdout.write(text), log: io.err });
  } catch (error) {
    if (error instanceof UnknownStackError || error instanceof DeployRefused || error instanceof MissingCliError) {
      io.err(`deploy: ${error.message}`);
      return EXIT.failed;
    }
    throw error;
  }
}

if (require.main === module) runAsScript((argv) => main(argv));
