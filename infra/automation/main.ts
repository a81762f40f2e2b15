/** Entry of `npm run deploy`; expected failures end with one line and a CI-friendly exit code. */
import { EXIT, parseDeployArgs, USAGE, UsageError } from "./args";
import { DeployRefused, runDeploy } from "./deploy";
import { MissingCliError } from "./pulumiCli";
import { UnknownStackError } from "../stacks";

export async function main(argv: string[]): Promise<number> {
  try {
    const args = parseDeployArgs(argv);
    if (args === "help") {
      console.log(USAGE);
      return EXIT.ok;
    }
    return await runDeploy(args, { out: (text) => process.stdout.write(text), log: (line) => console.error(line) });
  } catch (error) {
    if (error instanceof UsageError || error instanceof UnknownStackError || error instanceof DeployRefused || error instanceof MissingCliError) {
      console.error(`deploy: ${error.message}`);
      return EXIT.failed;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then((code) => (process.exitCode = code));
