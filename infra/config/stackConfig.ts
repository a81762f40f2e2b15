/**
 * A stack's configuration as Pulumi keeps it (`<namespace>:<key>` → text, secrets flagged), the
 * way a Pulumi user writes it, checked before the settings themselves: keys written without
 * `--path`, keys of other namespaces (refused, never ignored: the program's providers are
 * explicit and read only `mogi:*`), a secret in plain text, a plain setting stored as a secret.
 * Every problem is reported in one pass with the settings' own.
 */
import { ConfigError, ConfigProblem, keyText, ownKey } from "./problems";
import { CONFIG_NAMESPACE, SECRET_SETTINGS, Settings, SettingsContext, settingNamesAt } from "./schema";
import { parseSettings } from "./settings";
import { nearest } from "./suggest";

/** Namespaces whose keys are Pulumi's own (`pulumi:tags`, `pulumi:disable-default-providers`). */
const PULUMI_NAMESPACE = "pulumi";

/** A value as a shell word in a suggested command: itself when safe and short, else "…". */
function shellWord(value: unknown, secret: boolean): string {
  if (secret || typeof value !== "string") return "…";
  if (/^[\w@%+=:,./-]{1,60}$/.test(value)) return value;
  if (value.length <= 60 && !/[\n']/.test(value)) return `'${value}'`;
  return "…";
}

/** `pulumi config set [--path|--secret] <key> <value>`. */
const configSet = (flag: string, key: string, value: unknown, secret: boolean) => `pulumi config set ${flag}${flag ? " " : ""}${/[[\]*?]/.test(key) ? `'${key}'` : key} ${shellWord(value, secret)}`;

/** The path a misspelt or flat key most likely meant, each level corrected where a known name is near. */
function intendedPath(segments: string[]): (string | number)[] | undefined {
  const path: (string | number)[] = [];
  for (const segment of segments) {
    const known = settingNamesAt(path);
    if (/^\d+$/.test(segment)) path.push(Number(segment));
    else if (known.length === 0 || known.includes(segment)) path.push(segment);
    else {
      const near = nearest(segment, known);
      if (near === undefined) return path.length > 0 ? [...path, segment] : undefined;
      path.push(near);
    }
  }
  return path;
}

/** `mogi:consul.address` as one key: what `pulumi config set` without `--path` writes. */
function flatKeyProblem(name: string, value: unknown, secret: boolean): ConfigProblem {
  const segments = name.split(/\.|\[|\]/).filter(Boolean).map((s) => s.replace(/^"(.*)"$/, "$1"));
  const intended = intendedPath(segments);
  const message = intended
    ? `is one key named ${JSON.stringify(name)}, not a path (\`pulumi config set\` without --path writes it so): did you mean \`${configSet(`--path${secret ? " --secret" : ""}`, keyText(ownKey(...intended)), value, secret)}\`? (then \`pulumi config rm ${CONFIG_NAMESPACE}:${name}\`)`
    : "unknown setting (the settings are listed in the README's settings table)";
  return { path: [`${CONFIG_NAMESPACE}:${name}`], value, secret, message };
}

/** What each key of another namespace that the program's providers would take means here. */
const OTHER_NAMESPACE_KEYS: Record<string, Record<string, string>> = {
  kubernetes: { kubeconfig: "kubernetes.kubeconfig", context: "kubernetes.context", namespace: "namespace" },
  consul: { address: "consul.address", scheme: "consul.scheme", datacenter: "consul.datacenter", caFile: "consul.providerCaFile", caPem: "consul.providerCaPem", token: "consulToken" },
};

/** A key of another namespace: the program's providers are explicit, so it would be ignored. */
function otherNamespaceProblem(namespace: string, name: string, value: unknown, secret: boolean): ConfigProblem {
  const key = `${namespace}:${name}`;
  const problem = (message: string): ConfigProblem => ({ path: [key], value, secret, message });
  const remove = `\`pulumi config rm ${key}\``;
  const ours = OTHER_NAMESPACE_KEYS[namespace];
  if (ours) {
    const provider = namespace === "kubernetes" ? "Kubernetes" : "Consul";
    const ignored = `is not read: the program configures its ${provider} provider explicitly from ${CONFIG_NAMESPACE}:* settings, so ${namespace}:* settings would be ignored`;
    const mapped = ours[name];
    if (mapped === undefined) return problem(`${ignored}; remove it (${remove}); the ${provider} settings are ${Object.values(ours).map((k) => `${CONFIG_NAMESPACE}:${k}`).join(", ")}`);
    const isSecret = SECRET_SETTINGS.includes(mapped as (typeof SECRET_SETTINGS)[number]);
    const flag = isSecret ? "--secret" : mapped.includes(".") ? "--path" : "";
    return problem(`${ignored}; did you mean \`${configSet(flag, `${CONFIG_NAMESPACE}:${mapped}`, value, secret || isSecret)}\`? (then ${remove})`);
  }
  if (nearest(namespace, [CONFIG_NAMESPACE])) {
    const near = nearest(name, [...settingNamesAt([]), ...SECRET_SETTINGS]) ?? name;
    return problem(`unknown namespace ${JSON.stringify(namespace)}: did you mean \`${CONFIG_NAMESPACE}:${near}\`?`);
  }
  return problem(`is not read: this program's settings are ${CONFIG_NAMESPACE}:* (and ${PULUMI_NAMESPACE}:* for Pulumi's own); remove it (${remove})`);
}

/**
 * A stack's settings from its configuration as Pulumi keeps it (`<namespace>:<key>` → text;
 * `isSecret` tells which were set with `--secret`). Secret settings are left out (the program
 * reads them with getSecret); every problem, whatever its kind, comes in one ConfigError, and no
 * secret's value is ever put in a message. Used by the program and by the tools that read stack files.
 */
export function parseStackConfig(config: Record<string, string>, isSecret: (key: string) => boolean, context: SettingsContext): Settings {
  const problems: ConfigProblem[] = [];
  const explained = new Set<string>();
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const secret = isSecret(key);
    const colon = key.indexOf(":");
    if (colon < 0) {
      const near = nearest(key, [...settingNamesAt([]), ...SECRET_SETTINGS]);
      problems.push({ path: [key], value, secret, message: `has no namespace: keys are <namespace>:<name>${near ? `; did you mean \`${CONFIG_NAMESPACE}:${near}\`?` : ""}` });
      continue;
    }
    const [namespace, name] = [key.slice(0, colon), key.slice(colon + 1)];
    if (namespace === PULUMI_NAMESPACE) continue;
    if (namespace !== CONFIG_NAMESPACE) {
      problems.push(otherNamespaceProblem(namespace, name, value, secret));
      continue;
    }
    if ((SECRET_SETTINGS as readonly string[]).includes(name)) {
      if (!secret) {
        problems.push({ path: [key], value, secret: true, message: `is stored in plain text, and it is a secret: store it encrypted with \`pulumi config set --secret ${key} …\` (or leave it unset and export CONSUL_HTTP_TOKEN where pulumi runs)` });
      }
      continue;
    }
    if (/[.[]/.test(name)) {
      const problem = flatKeyProblem(name, value, secret);
      problems.push(problem);
      const segments = name.split(/[.[\]]/).filter(Boolean);
      explained.add(keyText(ownKey(segments[0])));
      explained.add(keyText(ownKey(...segments)));
      continue;
    }
    if (secret) {
      problems.push({ path: [key], value, secret: true, message: `is stored as a secret, but it is not a secret setting and would be used in plain text; set it without --secret (\`pulumi config set ${key} …\`): only ${SECRET_SETTINGS.map((k) => `${CONFIG_NAMESPACE}:${k}`).join(", ")} may be secret` });
      explained.add(key);
      continue;
    }
    raw[name] = value;
  }
  let settings: Settings | undefined;
  try {
    settings = parseSettings(raw, context, explained);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.details);
  }
  if (problems.length > 0 || settings === undefined) throw new ConfigError(problems);
  return settings;
}
