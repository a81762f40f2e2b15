/**
 * Every command the README shows answers --help and -h with its usage on stdout (exit 0), and a
 * wrong argument with one line on stderr saying what is wrong and how to see the usage (exit 2;
 * deploy: 1, its 2 being a policy violation). Each is called in-process through its exported
 * main, as the CLI runs it. (test/frontDoor.test.ts runs every command against broken input.)
 */
import { main as render } from "../infra/render/cli";
import { main as deploy } from "../infra/automation/main";
import { main as status } from "../infra/status/main";
import { main as check } from "../infra/policy/check";
import { main as bench } from "../infra/render/bench";
import { main as engines } from "../test/engines/build";
import { main as benchDeploy } from "../test/e2e/bench/deployBench";
import type { CommandIO } from "../infra/cli";

type Main = (argv: string[], io: CommandIO) => Promise<number>;

const COMMANDS: [string, Main, string[], number][] = [
  // [the usage's first words, main, a wrong argument line, its exit code]
  ["npm start", (argv, io) => render(argv, io.out, io.err), ["--stack", "dev", "--frobnicate"], 2],
  ["npm run deploy", deploy, ["up", "--stack", "dev", "--force"], 1],
  ["npm run status", (argv, io) => status(argv, io), ["--stack", "prod", "--yaml"], 2],
  ["npm run check", (argv, io) => check(argv, io.out, io.err), ["out/dev/resources.json", "--strict"], 2],
  ["npm run bench", bench, ["--clusters", "many"], 2],
  ["npm run engines", engines, ["--all"], 2],
  ["npm run bench:deploy", benchDeploy, ["--runs", "0"], 2],
];

async function run(main: Main, argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(argv, { out: (t) => stdout.push(t), err: (t) => stderr.push(t) });
  return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
}

describe.each(COMMANDS)("%s", (command, main, wrong, wrongCode) => {
  test.each(["--help", "-h"])("%s: the usage on stdout, exit 0", async (flag) => {
    const { code, stdout, stderr } = await run(main, [flag]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: ${command}\\b`));
    expect(stdout).toContain("-h, --help");
    expect(stdout).toMatch(/^exit: 0 /m);
    expect(stderr).toBe("");
  });

  test("--help among other arguments still only prints the usage", async () => {
    const { code, stdout } = await run(main, [...wrong, "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: /);
  });

  test(`a wrong argument: one line on stderr naming it and where the usage is, exit ${wrongCode}`, async () => {
    const { code, stdout, stderr } = await run(main, wrong);
    expect(code).toBe(wrongCode);
    expect(stdout).toBe("");
    expect(stderr.split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^[a-z:]+: \S/);
    expect(stderr).toContain(wrong.at(-1));
    expect(stderr).toMatch(new RegExp(`; see \`${command} -- --help\`$`));
  });
});
