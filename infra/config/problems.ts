/**
 * How a configuration problem is said: one line naming the key (`mogi:consul.address`), the
 * value as written (secrets masked) and what is wrong or allowed; `ConfigError` carries every
 * problem of a stack at once, and, when the settings came from a file, where each one is in it.
 */
import type { z } from "zod";
import { ABOUT_KEY, CONFIG_NAMESPACE, fromJsonText, settingNamesAt } from "./schema";
import { nearest } from "./suggest";

/** A setting's place: its full key (`mogi:consul`, `kubernetes:context`), then the fields below it. */
export type ConfigPath = readonly (string | number)[];

export interface ConfigProblem {
  path: ConfigPath;
  /** The value as given; undefined when it is not set, or when the message names what is wrong itself. */
  value?: unknown;
  /** Shown as [secret] whatever it holds. */
  secret?: boolean;
  /** What is wrong and what is allowed. */
  message: string;
}

/** `mogi:consul.address`, `mogi:networkPolicy.egress[0].to[1]`: the path as `pulumi config set --path` writes it. */
export function keyText(path: ConfigPath): string {
  return path.map((segment, i) => (i === 0 ? String(segment) : typeof segment === "number" ? `[${segment}]` : `.${segment}`)).join("");
}

/** A key under this project's namespace. */
export const ownKey = (...path: (string | number)[]): ConfigPath => [`${CONFIG_NAMESPACE}:${path[0]}`, ...path.slice(1)];

/** Fields whose values are masked wherever they appear (`mogi:env.DB_PASSWORD`, `consul:token`). */
const SECRET_NAME = /token|passw|secret|api[-_]?key|credential|private/i;
export const looksSecret = (path: ConfigPath) => path.some((segment) => typeof segment === "string" && SECRET_NAME.test(segment.split(":").pop() ?? ""));

export const MASK = "[secret]";
const MAX_SHOWN = 80;

/** A value as the user wrote it: text quoted, numbers, booleans and structures as JSON; long ones cut. */
export function showValue(value: unknown, secret = false): string {
  if (secret) return MASK;
  const parsed = typeof value === "string" ? fromJsonText(value) : value;
  const text = typeof parsed === "string" ? JSON.stringify(parsed) : JSON.stringify(parsed) ?? String(parsed);
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

/** A message that reads on from the value ("\"x\" is not …"). */
const PREDICATE = /^(is|are|must|has|holds|uses|overlaps|names|cannot|does|lies)\b/;

/** The problem as one line: `key: value what-is-wrong`, or `key = value: what-is-wrong`. */
export function formatProblem(problem: ConfigProblem): string {
  const key = keyText(problem.path);
  const secret = problem.secret || looksSecret(problem.path);
  if (problem.value === undefined && !problem.secret) return `${key}: ${problem.message}`;
  const shown = showValue(problem.value, secret);
  // Already named in the message (a quoted text or a structure; a bare number could be any digit in it).
  const named = problem.message.startsWith('"') || (/^["[{]/.test(shown) && problem.message.includes(shown));
  if (!secret && named) return `${key}: ${problem.message}`;
  return PREDICATE.test(problem.message) ? `${key}: ${shown} ${problem.message}` : `${key} = ${shown}: ${problem.message}`;
}

/** Where a setting is written: `file:line:column` when the file is known, the stack otherwise. */
export interface ConfigSource {
  /** The stack file as the user would name it (relative to the working directory when inside it). */
  file: string;
  /** Line and column (1-based) of the key at `path`, or of its nearest written parent. */
  locate?: (path: ConfigPath) => { line: number; column: number } | undefined;
}

/** Each problem as one line, placed in `source` when it is known, in the order of the file. */
function placedLines(details: readonly ConfigProblem[], problems: readonly string[], source: ConfigSource | undefined): string[] {
  const located = details.map((detail, i) => {
    const at = source?.locate?.(detail.path);
    const where = source ? `${source.file}${at ? `:${at.line}:${at.column}` : ""}: ` : "";
    return { line: at?.line ?? Number.MAX_SAFE_INTEGER, text: `${where}${problems[i]}` };
  });
  // Top-down beside the file; settings that are not written (a required one) come last.
  return located.sort((a, b) => a.line - b.line).map((l) => l.text);
}

/** Every problem of an invalid configuration; `lines` gives one line each, naming the file. */
export class ConfigError extends Error {
  /** Each problem as one line, without the file. */
  readonly problems: string[];
  /** One line per problem: `<file>[:line:column]: <key>: <value> <what is wrong>` (without a file when none is known). */
  readonly lines: string[];

  constructor(readonly details: ConfigProblem[], readonly source?: ConfigSource) {
    const problems = details.map(formatProblem);
    const lines = placedLines(details, problems, source);
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.map((line) => `  - ${line}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
    this.lines = lines;
  }

  /** The same problems, now known to come from `source`. */
  in(source: ConfigSource): ConfigError {
    return new ConfigError(this.details, source);
  }
}

/** The value at a schema issue's path in the raw settings (top-level values may be JSON text). */
function valueAt(raw: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  let value: unknown = raw;
  for (const [i, segment] of path.entries()) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string, unknown>)[segment as string];
    if (i === 0) value = fromJsonText(value);
  }
  return value;
}

const TYPE_WORDS: Record<string, string> = {
  boolean: "is not a boolean: use true or false",
  number: "is not a number",
  int: "is not a whole number",
  array: "is not a list",
  object: "is not a map of fields",
  record: "is not a map of keys to values",
  string: "is not text",
};

const listed = (values: readonly unknown[]) => values.map((v) => JSON.stringify(v)).join(", ");

/** What is wrong with one unknown field, and the nearest known one. */
function unknownSetting(parent: readonly PropertyKey[], key: string, raw: Record<string, unknown>): ConfigProblem {
  const path = parent.map((segment) => segment as string | number);
  const known = settingNamesAt(path);
  const near = nearest(key, known);
  const fieldPath = ownKey(...path, key);
  const suggestion = near ? `; did you mean \`${keyText(ownKey(...path, near))}\`?` : "";
  const message = path.length === 0
    ? `unknown setting${suggestion} (the settings are listed in the README's settings table)`
    : `unknown field of ${keyText(ownKey(...path))}${suggestion} (its fields: ${known.join(", ")})`;
  return { path: fieldPath, value: valueAt(raw, [...parent, key]), message };
}

/** One schema issue as problems (an unknown-keys issue gives one per key). */
export function describeIssue(issue: z.core.$ZodIssue, raw: Record<string, unknown>): ConfigProblem[] {
  const path = issue.path.map((segment) => segment as string | number);
  const problem = (message: string, value: unknown = valueAt(raw, issue.path)): ConfigProblem[] => [{ path: ownKey(...path), value, message }];
  if (issue.code === "unrecognized_keys") return issue.keys.map((key) => unknownSetting(issue.path, key, raw));
  const value = valueAt(raw, issue.path);
  if (issue.code === "invalid_type" && value === undefined) return problem("required, but not set", undefined);
  switch (issue.code) {
    case "invalid_value":
      return problem(`is not one of ${listed(issue.values)}`);
    case "invalid_type":
      return problem(TYPE_WORDS[issue.expected] ?? `is not of type ${issue.expected}`);
    case "too_small":
      if (issue.origin === "string" && Number(issue.minimum) === 1) return problem("is empty");
      if (issue.origin === "array") return problem(`is a list of fewer than ${issue.minimum} item${Number(issue.minimum) === 1 ? "" : "s"}`);
      return problem(`is too small: the minimum is ${issue.minimum}`);
    case "too_big":
      return problem(`is too big: the maximum is ${issue.maximum}`);
    case "invalid_union": {
      // A value of the right type for one alternative (a list, an object) gets that one's problems.
      const branches = (issue as unknown as { errors: z.core.$ZodIssue[][] }).errors;
      const matched = branches.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
      if (matched) return matched.flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] }, raw));
      return problem(issue.message);
    }
    case "custom": {
      const aboutKey = (issue.params as Record<string, unknown> | undefined)?.aboutKey === ABOUT_KEY.aboutKey;
      return problem(issue.message, aboutKey ? undefined : value);
    }
    default:
      return problem(issue.message);
  }
}

/** `networkPolicy.egress[0].to[1]` (a component's own words for where) as a path under `mogi:`. */
export function parsePathText(text: string): (string | number)[] {
  return text.split(/\.|(?=\[)/).map((segment) => (/^\[\d+\]$/.test(segment) ? Number(segment.slice(1, -1)) : segment));
}
