/**
 * Kubernetes name rules and the standard labels every object of this project carries.
 *
 * The API server enforces these rules, but only at apply time, after other resources of the
 * same `pulumi up` may already exist. Checking here rejects a bad name before anything is declared.
 */

/** DNS-1123 label: Namespace, container, port and ServiceAccount names (k8s.io/apimachinery validation). */
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1035 label: Service names, which must also start with a letter. */
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** DNS-1123 subdomain: Deployment, ConfigMap, Secret and PodDisruptionBudget names. */
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_MAX = 63;
export const SUBDOMAIN_MAX = 253;

export type NameRule = "dns1123-label" | "dns1035-label" | "dns1123-subdomain";

const RULES: Record<NameRule, { pattern: RegExp; max: number; says: string }> = {
  "dns1123-label": {
    pattern: DNS1123_LABEL,
    max: LABEL_MAX,
    says: "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
  },
  "dns1035-label": {
    pattern: DNS1035_LABEL,
    max: LABEL_MAX,
    says: "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters",
  },
  "dns1123-subdomain": {
    pattern: DNS1123_SUBDOMAIN,
    max: SUBDOMAIN_MAX,
    says: "lowercase DNS labels separated by '.', at most 253 characters",
  },
};

/** The rule the API server applies to `metadata.name` of a kind; most kinds take a subdomain. */
export function nameRuleForKind(kind: string): NameRule {
  if (kind === "Namespace") return "dns1123-label";
  if (kind === "Service") return "dns1035-label";
  return "dns1123-subdomain";
}

/** Returns why `value` breaks `rule`, or undefined when it is a valid name. */
export function nameProblem(value: string, rule: NameRule): string | undefined {
  const { pattern, max, says } = RULES[rule];
  if (value.length <= max && pattern.test(value)) return undefined;
  return `${JSON.stringify(value)} is not a valid ${rule} name: use ${says}`;
}

/** Throws, naming the setting, when `value` breaks `rule`. */
export function assertName(setting: string, value: string, rule: NameRule): void {
  const problem = nameProblem(value, rule);
  if (problem) throw new Error(`${setting}: ${problem}`);
}

/**
 * Validates the one base name every object name is derived from. It names the Service, which
 * must be a DNS-1035 label, so the strictest rule applies to all derived names.
 */
export function assertBaseName(setting: string, value: string): void {
  assertName(setting, value, "dns1035-label");
}

export interface StandardLabelArgs {
  /** `app.kubernetes.io/name`: what the application is. */
  name: string;
  /** `app.kubernetes.io/instance`: which installation of it (unique per namespace). */
  instance: string;
  /** `app.kubernetes.io/component`. */
  component: string;
  /** `app.kubernetes.io/part-of`. */
  partOf: string;
}

/** The recommended `app.kubernetes.io/*` labels, on every object the project declares. */
export function standardLabels(args: StandardLabelArgs): Record<string, string> {
  return {
    "app.kubernetes.io/name": args.name,
    "app.kubernetes.io/instance": args.instance,
    "app.kubernetes.io/component": args.component,
    "app.kubernetes.io/part-of": args.partOf,
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/**
 * The subset of labels a selector uses. Kept to name and instance: a Deployment's selector is
 * immutable (changing it forces replacement), so it must not include labels that may evolve.
 */
export function selectorLabels(args: Pick<StandardLabelArgs, "name" | "instance">): Record<string, string> {
  return { "app.kubernetes.io/name": args.name, "app.kubernetes.io/instance": args.instance };
}

/** A label's name part, and a label value (non-empty values), per the API server's rules. */
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is not a valid label or annotation key (`[prefix/]name`), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf("/");
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && nameProblem(prefix, "dns1123-subdomain")) return `${JSON.stringify(key)} has an invalid prefix: use a lowercase DNS subdomain before the '/'`;
  if (name.length > LABEL_MAX || !QUALIFIED_NAME.test(name)) {
    return `${JSON.stringify(key)} is not a valid key: the name is letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 characters`;
  }
  return undefined;
}

/** Why `value` is not a valid label value, or undefined. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "" || (value.length <= LABEL_MAX && QUALIFIED_NAME.test(value))) return undefined;
  return `${JSON.stringify(value)} is not a valid label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 characters`;
}
