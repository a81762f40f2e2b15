/**
 * Where the project and its stack files are, and the stack files (`stacks/Pulumi.<stack>.yaml`)
 * read the way the Pulumi CLI hands them to a program: each `config` value as text, structured
 * values as JSON text, `secure:` values as secrets. Shared by every entry point (render, deploy,
 * status) and by the program itself (relative paths in settings).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { parseStackConfig, Settings } from "./config";

/** The project directory (where Pulumi.yaml is): relative paths in stack settings start here. */
export const PROJECT_DIR = path.join(__dirname, "..");
/** `stackConfigDir` of Pulumi.yaml. */
export const STACKS_DIR = path.join(PROJECT_DIR, "stacks");
/** What offline readers see instead of a secret's value. */
export const SECRET_PLACEHOLDER = "[secret]";
const STACK_FILE = /^Pulumi\.(.+)\.ya?ml$/;

export interface StackConfig {
  config: Record<string, string>;
  /** Keys whose values are encrypted in the file; offline they hold a placeholder. */
  secretKeys: string[];
}

/** Names of the stacks that have a file in `dir`, sorted. */
export function listStacks(dir = STACKS_DIR): string[] {
  return readdirSync(dir)
    .map((file) => STACK_FILE.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

export class UnknownStackError extends Error {
  constructor(stack: string, known: string[]) {
    super(`unknown stack "${stack}"; known stacks: ${known.join(", ") || "(none in stacks/)"}`);
    this.name = "UnknownStackError";
  }
}

function isSecure(value: unknown): boolean {
  return typeof value === "object" && value !== null && Object.keys(value).length === 1 && "secure" in value;
}

/** Loads one stack's configuration; throws UnknownStackError naming the known stacks. */
export function loadStackConfig(stack: string, dir = STACKS_DIR): StackConfig {
  const known = listStacks(dir);
  // Only names listed in the folder, so a name can never point outside it.
  const file = known.includes(stack) ? ["yaml", "yml"].map((ext) => path.join(dir, `Pulumi.${stack}.${ext}`)).find(existsSync) : undefined;
  if (!file) throw new UnknownStackError(stack, known);
  const document = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(document.config ?? {})) {
    if (isSecure(value)) {
      config[key] = SECRET_PLACEHOLDER;
      secretKeys.push(key);
    } else {
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  return { config, secretKeys };
}

/**
 * A stack's settings from its file, validated exactly as the program validates them (the same
 * parseStackConfig): for tools that act on a deployed stack without running the program.
 */
export function loadStackSettings(stack: string, env: NodeJS.ProcessEnv = process.env, dir = STACKS_DIR): Settings {
  const { config, secretKeys } = loadStackConfig(stack, dir);
  return parseStackConfig(config, (key) => secretKeys.includes(key), { projectDir: PROJECT_DIR, env });
}
