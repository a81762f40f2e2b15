/**
 * Where the project and its stack files are, and the stack files (`stacks/Pulumi.<stack>.yaml`)
 * read the way the Pulumi CLI hands them to a program: each `config` value as text, structured
 * values as JSON text, `secure:` values as secrets. Shared by every entry point (render, deploy,
 * status) and by the program itself (relative paths in settings).
 *
 * A file that cannot be used is one StackFileError line naming it (with line and column where the
 * YAML says), never the parser's stack trace; settings that are not valid are a ConfigError whose
 * lines name the file, the line, the key and the value.
 */
import { readdirSync, readFileSync, readlinkSync, lstatSync, statSync } from "node:fs";
import * as path from "node:path";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode, type Document } from "yaml";
import { ConfigError, ConfigPath, parseStackConfig, Settings } from "./config";
import { nearest } from "./config/suggest";

/** The project directory (where Pulumi.yaml is): relative paths in stack settings start here. */
export const PROJECT_DIR = path.join(__dirname, "..");
/** `stackConfigDir` of Pulumi.yaml. */
export const STACKS_DIR = path.join(PROJECT_DIR, "stacks");
/** What offline readers see instead of a secret's value. */
export const SECRET_PLACEHOLDER = "[secret]";
const STACK_FILE = /^Pulumi\.(.+)\.ya?ml$/;
/** The top-level keys of a stack file (Pulumi's ProjectStack). */
const STACK_FILE_KEYS = ["config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt"];

/** A file as the user would name it: relative to the working directory when inside it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative) ? relative : file;
}

/** A stack file (or the stacks folder, or Pulumi.yaml) that cannot be used: one line each, naming it. */
export class StackFileError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join("\n"));
    this.name = "StackFileError";
  }
}

export class UnknownStackError extends Error {
  constructor(stack: string, known: string[], hint = "") {
    super(`unknown stack "${stack}"${hint}; known stacks: ${known.join(", ") || "(none in stacks/)"}`);
    this.name = "UnknownStackError";
  }
}

/** The lines a command prints for a stack it cannot use, or undefined for any other error. */
export function stackErrorLines(error: unknown): string[] | undefined {
  if (error instanceof ConfigError) return error.lines;
  if (error instanceof StackFileError) return error.lines;
  if (error instanceof UnknownStackError) return [error.message];
  return undefined;
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;
const CODE_WORDS: Record<string, string> = { EACCES: "permission denied", EISDIR: "a directory", ENOENT: "no such file", ELOOP: "a symlink loop" };
const why = (error: unknown) => `${CODE_WORDS[errorCode(error)] ? `${CODE_WORDS[errorCode(error)]}, ` : ""}${errorCode(error)}`;

/** True for a file, or a symlink to one (a dangling symlink is not a stack). */
function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Names of the stacks that have a file in `dir`, sorted. */
export function listStacks(dir = STACKS_DIR): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    throw new StackFileError([`${displayPath(dir)}: cannot read the stacks folder (${why(error)})`]);
  }
  const names = entries.filter((file) => isFile(path.join(dir, file))).map((file) => STACK_FILE.exec(file)?.[1]);
  return [...new Set(names.filter((name): name is string => name !== undefined))].sort();
}

/** Why `Pulumi.<stack>.yaml` is there but not a stack: a dangling symlink, a folder. */
function notAStackHint(stack: string, dir: string): string {
  for (const ext of ["yaml", "yml"]) {
    const file = path.join(dir, `Pulumi.${stack}.${ext}`);
    try {
      if (lstatSync(file).isSymbolicLink()) return `: ${displayPath(file)} is a symlink to ${readlinkSync(file)}, which ${isFile(file) ? "is not a file" : "does not exist"}`;
      return `: ${displayPath(file)} is not a file`;
    } catch {
      // not there
    }
  }
  return "";
}

export interface StackConfig {
  config: Record<string, string>;
  /** Keys whose values are encrypted in the file; offline they hold a placeholder. */
  secretKeys: string[];
}

/** A stack file, read: its configuration, and what only the Pulumi CLI resolves. */
export interface StackSource extends StackConfig {
  stack: string;
  /** The file, as the user names it (relative to the working directory when inside it). */
  file: string;
  /** ESC environments the file imports (`environment:`): only the Pulumi CLI resolves them. */
  environments: string[];
  /** Keys Pulumi.yaml sets at project level (`config:`), which Pulumi merges under the stack's. */
  projectConfig: string[];
  /** Line and column of a configuration key (`["mogi:consul", "address"]`) or of its nearest written parent. */
  locate: (path: ConfigPath) => { line: number; column: number } | undefined;
}

export interface StackOptions {
  /** Where the stack files are (default stacks/). */
  stacksDir?: string;
  /** Where Pulumi.yaml is (default the project's). */
  projectDir?: string;
}

/** Reads a file, or a StackFileError line naming it. */
function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new StackFileError([`${displayPath(file)}: cannot read it (${why(error)})`]);
  }
}

/** Parses YAML, or a StackFileError line with the file, line and column of the first error. */
function parseYaml(file: string, text: string): { document: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const [error] = document.errors;
  if (error) {
    const at = lines.linePos(error.pos[0]);
    const more = document.errors.length > 1 ? ` (and ${document.errors.length - 1} more)` : "";
    throw new StackFileError([`${displayPath(file)}:${at.line}:${at.col}: not valid YAML: ${error.message.split("\n")[0]}${more}`]);
  }
  return { document, lines };
}

/** Where a node starts, 1-based. */
function positionOf(node: { range?: [number, number, number?] | null } | null | undefined, lines: LineCounter) {
  if (!node?.range) return undefined;
  const { line, col } = lines.linePos(node.range[0]);
  return { line, column: col };
}

/** The key node of `key` in a YAML map node, and its value. */
function entry(node: unknown, key: string | number): { key?: YamlNode; value?: unknown } | undefined {
  if (isMap(node)) {
    const pair = node.items.find((item) => (isScalar(item.key) ? String(item.key.value) : String(item.key)) === String(key));
    return pair ? { key: pair.key as YamlNode, value: pair.value } : undefined;
  }
  if (isSeq(node) && typeof key === "number") {
    const item = node.items[key] as YamlNode | undefined;
    return item ? { key: item, value: item } : undefined;
  }
  return undefined;
}

function isSecure(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value;
}

/** The names of the ESC environments a stack file's `environment:` imports (a list, or `{imports: [...]}`). */
function importedEnvironments(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  const imports = Array.isArray(value) ? value : typeof value === "object" ? (value as { imports?: unknown }).imports : undefined;
  if (!Array.isArray(imports)) return [JSON.stringify(value)];
  return imports.map((i) => (typeof i === "string" ? i : JSON.stringify(i)));
}

/** The keys Pulumi.yaml sets at project level, or none; its own problems as StackFileError lines. */
function projectLevelConfig(projectDir: string): { keys: string[]; line?: string } {
  const file = path.join(projectDir, "Pulumi.yaml");
  if (!isFile(file)) return { keys: [] };
  const { document, lines } = parseYaml(file, readText(file));
  const config = document.get("config", true);
  const keys = isMap(config) ? config.items.map((item) => String(isScalar(item.key) ? item.key.value : item.key)) : [];
  const at = positionOf(config as YamlNode | undefined, lines);
  return { keys, line: keys.length > 0 ? `${displayPath(file)}${at ? `:${at.line}:${at.column}` : ""}` : undefined };
}

/** Resolves a stack name to its file; throws UnknownStackError naming the known stacks. */
function stackFile(stack: string, dir: string): string {
  const known = listStacks(dir);
  // Only names listed in the folder, so a name can never point outside it.
  const file = known.includes(stack) ? ["yaml", "yml"].map((ext) => path.join(dir, `Pulumi.${stack}.${ext}`)).find(isFile) : undefined;
  if (!file) throw new UnknownStackError(stack, known, notAStackHint(stack, dir));
  return file;
}

/**
 * Reads one stack's file: its configuration as the CLI hands it to a program, the ESC
 * environments it imports and the project-level config Pulumi.yaml adds. Throws
 * UnknownStackError (naming the known stacks) or StackFileError (one line naming the file).
 */
export function readStack(stack: string, options: StackOptions = {}): StackSource {
  const absolute = stackFile(stack, options.stacksDir ?? STACKS_DIR);
  const file = displayPath(absolute);
  const { document, lines } = parseYaml(absolute, readText(absolute));
  const root = document.contents;
  const at = (node: unknown) => {
    const position = positionOf(node as YamlNode, lines);
    return position ? `${file}:${position.line}:${position.column}` : file;
  };
  if (root !== null && !isMap(root)) throw new StackFileError([`${at(root)}: not a stack file: expected a mapping of ${STACK_FILE_KEYS.join(", ")}`]);
  const problems: string[] = [];
  for (const item of isMap(root) ? root.items : []) {
    const key = String(isScalar(item.key) ? item.key.value : item.key);
    if (STACK_FILE_KEYS.includes(key)) continue;
    const near = nearest(key, STACK_FILE_KEYS);
    problems.push(`${at(item.key)}: unknown top-level key ${JSON.stringify(key)}${near ? `; did you mean "${near}:"?` : ""} (a stack file holds ${STACK_FILE_KEYS.join(", ")})`);
  }
  const configNode = isMap(root) ? root.get("config", true) : undefined;
  if (configNode !== undefined && configNode !== null && !isMap(configNode) && !(isScalar(configNode) && configNode.value === null)) {
    problems.push(`${at(configNode)}: config: must be a mapping of <namespace>:<key> to values, e.g. "mogi:namespace: mogi"`);
  }
  if (problems.length > 0) throw new StackFileError(problems);
  const content = (document.toJS() ?? {}) as { config?: Record<string, unknown> | null; environment?: unknown };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(content.config ?? {})) {
    if (isSecure(value)) {
      config[key] = SECRET_PLACEHOLDER;
      secretKeys.push(key);
    } else {
      config[key] = typeof value === "string" ? value : value === null ? "" : JSON.stringify(value);
    }
  }
  const locate = (configPath: ConfigPath) => {
    let node: unknown = configNode;
    let found: YamlNode | undefined;
    for (const segment of configPath) {
      const next = entry(node, segment);
      if (!next) break;
      found = next.key;
      node = next.value;
    }
    return positionOf(found, lines);
  };
  const project = projectLevelConfig(options.projectDir ?? PROJECT_DIR);
  return { stack, file, config, secretKeys, environments: importedEnvironments(content.environment), projectConfig: project.keys, locate };
}

/** Loads one stack's configuration; throws UnknownStackError naming the known stacks, or StackFileError. */
export function loadStackConfig(stack: string, dir = STACKS_DIR): StackSource {
  return readStack(stack, { stacksDir: dir });
}

/**
 * Refuses, in one line, a stack whose configuration only the Pulumi CLI can resolve (ESC
 * environments, project-level config): a tool that reads the stack file alone would otherwise
 * act on other settings than `pulumi preview` sees.
 */
export function requireStackFileOnly(source: StackSource, projectDir = PROJECT_DIR): void {
  const lines: string[] = [];
  if (source.environments.length > 0) {
    lines.push(`${source.file}: imports the ESC environment${source.environments.length === 1 ? "" : "s"} ${source.environments.join(", ")}, which only the Pulumi CLI resolves, and this command reads the stack file alone; write the settings into the stack file, or use \`npm run deploy -- preview --stack ${source.stack}\``);
  }
  if (source.projectConfig.length > 0) {
    lines.push(`${projectLevelConfig(projectDir).line ?? "Pulumi.yaml"}: project-level config (${source.projectConfig.join(", ")}) is merged only by the Pulumi CLI, and this command reads the stack file alone; move it into ${source.file}, or use \`npm run deploy -- preview --stack ${source.stack}\``);
  }
  if (lines.length > 0) throw new StackFileError(lines);
}

/**
 * A stack's settings from its file, validated exactly as the program validates them (the same
 * parseStackConfig); a ConfigError's lines then name the file and the line of each key.
 */
export function stackSettings(source: StackSource, env: NodeJS.ProcessEnv = process.env, projectDir = PROJECT_DIR): Settings {
  try {
    return parseStackConfig(source.config, (key) => source.secretKeys.includes(key), { projectDir, env });
  } catch (error) {
    if (error instanceof ConfigError) throw error.in({ file: source.file, locate: source.locate });
    throw error;
  }
}

/**
 * A stack's settings from its file alone, for tools that act on a deployed stack without running
 * the program: refuses what only the CLI resolves (requireStackFileOnly), then stackSettings.
 */
export function loadStackSettings(stack: string, env: NodeJS.ProcessEnv = process.env, dir = STACKS_DIR, projectDir = PROJECT_DIR): Settings {
  const source = readStack(stack, { stacksDir: dir, projectDir });
  requireStackFileOnly(source, projectDir);
  return stackSettings(source, env, projectDir);
}
