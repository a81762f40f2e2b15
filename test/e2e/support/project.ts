/**
 * A copy of this project in a temp directory, driven the way a user drives it: the real `pulumi`
 * CLI and plugins from `npm run engines` on PATH, a file backend and a throw-away passphrase, stack
 * files of its own, and `npm run deploy -- …` for every operation. The working tree is never
 * touched (stack files, state and edits live in the copy); node_modules is shared by a symlink.
 */
import { execFile, spawn } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { enginesBinDir } from "../../engines/paths";

const execFileAsync = promisify(execFile);
const ROOT = path.join(__dirname, "..", "..", "..");
/** What a checkout needs to run the program, the policy pack and the driver. */
const PROJECT_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "infra", "components"];
export const PASSPHRASE = "throw-away-e2e-passphrase";

export interface DeployRun {
  code: number;
  /** Everything the driver and the engine printed (stdout + stderr, interleaved). */
  output: string;
  ms: number;
}

export class ProjectCopy {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(work: string, name: string, extraEnv: NodeJS.ProcessEnv = {}) {
    this.dir = path.join(work, name);
    mkdirSync(path.join(this.dir, "stacks"), { recursive: true });
    for (const entry of PROJECT_FILES) cpSync(path.join(ROOT, entry), path.join(this.dir, entry), { recursive: true });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(this.dir, "node_modules"));
    const home = path.join(work, "pulumi-home");
    const state = path.join(work, "pulumi-state");
    mkdirSync(home, { recursive: true });
    mkdirSync(state, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      PATH: `${enginesBinDir()}${path.delimiter}${process.env.PATH}`,
      HOME: process.env.HOME,
      PULUMI_HOME: home,
      PULUMI_BACKEND_URL: `file://${state}`,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
      PULUMI_SKIP_UPDATE_CHECK: "true",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      NO_COLOR: "1",
      ...extraEnv,
    };
    // A variable given as undefined is left out (e.g. no backend: the CLI then wants a login).
    this.env = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  }

  /** Writes stacks/Pulumi.<stack>.yaml; keeps an encryption salt the CLI already added. */
  writeStackConfig(stack: string, config: Record<string, unknown>): void {
    const file = path.join(this.dir, "stacks", `Pulumi.${stack}.yaml`);
    let salt: string | undefined;
    try {
      salt = /^encryptionsalt: (.+)$/m.exec(readFileSync(file, "utf8"))?.[1];
    } catch {
      // new stack
    }
    const previous = this.readStackConfig(stack);
    const secrets = Object.fromEntries(Object.entries(previous).filter(([, v]) => typeof v === "object" && v !== null && "secure" in v));
    writeFileSync(file, stringify({ ...(salt ? { encryptionsalt: salt } : {}), config: { ...config, ...secrets } }));
  }

  readStackConfig(stack: string): Record<string, unknown> {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return (require("yaml").parse(readFileSync(path.join(this.dir, "stacks", `Pulumi.${stack}.yaml`), "utf8"))?.config ?? {}) as Record<string, unknown>;
    } catch {
      return {};
    }
  }

  /** The pulumi CLI in the copy (for what a user does by hand: stack init, config set --secret). */
  async pulumi(args: string[]): Promise<string> {
    const { stdout, stderr } = await execFileAsync("pulumi", args, { cwd: this.dir, env: this.env, maxBuffer: 1 << 26 });
    return stdout + stderr;
  }

  /** `npm run deploy -- <args>` in the copy, as a user runs it. */
  deploy(args: string[]): Promise<DeployRun> {
    return this.run(["run", "--silent", "deploy", "--", ...args]);
  }

  /** `npm <args>` in the copy, with extra environment. */
  run(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<DeployRun> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn("npm", args, { cwd: this.dir, env: { ...this.env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code: code ?? -1, output, ms: Date.now() - started }));
    });
  }
}
