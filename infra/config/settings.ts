/** `mogi:*` settings as the program uses them: parsed, defaulted, and every problem at once. */
import type { z } from "zod";
import { crossFieldProblems, prefixesOf, providerCaOf } from "./crossField";
import { ConfigError, ConfigProblem, describeIssue, keyText } from "./problems";
import { ParsedSettings, PDB_MODES, Settings, SettingsContext, settingsSchema } from "./schema";

export const REQUIRED = "required, but not set";

/** Each top-level setting parsed on its own: the ones that are valid by themselves. */
function validFields(raw: Record<string, unknown>): Partial<ParsedSettings> {
  const fields: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(settingsSchema.shape)) {
    const result = (schema as z.ZodType).safeParse(raw[key]);
    if (result.success) fields[key] = result.data;
  }
  return fields as Partial<ParsedSettings>;
}

/**
 * Parses the project's configuration. `raw` maps keys without the namespace (`image`,
 * `consul`, …) to values as Pulumi delivers them (text; structured values as JSON text).
 * Throws a ConfigError listing every problem. `explained` holds keys (`mogi:image`) whose absence
 * another problem already explains (a refused secret, a flat key): no "required, but not set" for them.
 */
export function parseSettings(raw: Record<string, unknown>, context: SettingsContext = { projectDir: process.cwd(), env: {} }, explained: ReadonlySet<string> = new Set()): Settings {
  const parsed = settingsSchema.safeParse(raw);
  const fields = parsed.success ? parsed.data : validFields(raw);
  const problems: ConfigProblem[] = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => describeIssue(issue, raw))),
    ...crossFieldProblems(fields, context),
  ].filter((problem) => !(problem.message === REQUIRED && explained.has(keyText(problem.path))));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const s = parsed.data;
  return { ...s, consul: { ...s.consul, ...prefixesOf(s.name, s.consul), providerCa: providerCaOf(s.consul, context).pem }, maxUnavailable: PDB_MODES[s.pdb] };
}
