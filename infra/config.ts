/**
 * The stack's configuration: every `mogi:*` setting, typed, defaulted and validated in one place
 * before any resource is declared. An invalid stack gets every problem at once.
 */
import { z } from "zod";
import { labelKeyProblem, labelValueProblem, nameProblem } from "../components/naming";
import { kvPrefixProblem, prefixOverlapProblem } from "../components/consulKv";
import { DEFAULT_CONSUL_IMAGE, DEFAULT_HEALTH_PATH, DEFAULT_PORT, MIN_TERMINATION_GRACE_SECONDS, RESERVED_ENV } from "../components/singletonWorkload";

/** `pulumi config` namespace of this project's settings (the project name). */
export const CONFIG_NAMESPACE = "mogi";

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
/** How the PodDisruptionBudget treats voluntary disruptions (drains, cluster upgrades). */
export const PDB_MODES = {
  /** maxUnavailable 1: a drain evicts the pod; the lock hands over gracefully, seconds of downtime. */
  "allow-drain": 1,
  /** maxUnavailable 0: drains wait until an operator moves Mogi (FACTS.md, PDB for a single instance). */
  "block-voluntary-evictions": 0,
} as const;
export type PdbMode = keyof typeof PDB_MODES;

/** Structured values arrive from the CLI as JSON text, plain ones as text: accept both. */
function fromJsonText(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
const structured = <T extends z.ZodType>(schema: T) => z.preprocess(fromJsonText, schema);

const ruleRefinement = (rule: "dns1035-label" | "dns1123-label") => (value: string, ctx: z.RefinementCtx) => {
  const problem = nameProblem(value, rule);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
};
const kvPrefix = z.string().superRefine((value, ctx) => {
  const problem = kvPrefixProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} ${problem}` });
});
const stringMap = z.record(z.string(), z.string());
/** A Kubernetes resource quantity: 100m, 0.5, 128Mi, 1G, … */
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$/;
const quantity = z
  .union([z.string(), z.number()])
  .transform(String)
  .refine((q) => QUANTITY.test(q), { message: "is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)" });
const issue = (ctx: z.RefinementCtx, problem: string | undefined, path: (string | number)[] = []) => {
  if (problem) ctx.addIssue({ code: "custom", message: problem, path });
};
/** Keys and values that must be valid label keys (and, for labels, label values). */
const labelMap = stringMap.superRefine((map, ctx) => {
  for (const [key, value] of Object.entries(map)) {
    issue(ctx, labelKeyProblem(key), [key]);
    issue(ctx, labelValueProblem(value), [key]);
  }
});
const annotationMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) issue(ctx, labelKeyProblem(key), [key]);
});
/** serviceMeta keys become annotation names `consul.hashicorp.com/service-meta-<key>`. */
const SERVICE_META_PREFIX = "service-meta-";
const serviceMetaMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) issue(ctx, labelKeyProblem(`${SERVICE_META_PREFIX}${key}`), [key]);
});
/** Environment variable names the kubelet accepts (C identifiers plus '-' and '.'). */
const envMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) issue(ctx, `${JSON.stringify(key)} is not a valid environment variable name`, [key]);
  }
});
const resourceList = z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict();

const consulSchema = z
  .object({
    /** Where `pulumi up` reaches Consul: `host` or `host:port`. */
    address: z.string().min(1),
    scheme: z.enum(["http", "https"]).default("http"),
    datacenter: z.string().min(1).optional(),
    /** Where the pod reaches Consul: the Helm chart's server Service. */
    inClusterHost: z.string().min(1).default("consul-server.consul.svc"),
    /** PEM CA for https (public, not a secret); or `caFrom`, an existing object in Mogi's namespace. */
    caPem: z.string().min(1).optional(),
    caFrom: z.object({ kind: z.enum(["ConfigMap", "Secret"]), name: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    lockPrefix: kvPrefix.optional(),
    configPrefix: kvPrefix.optional(),
    /** Mogi's configuration, written under `configPrefix`. */
    kv: stringMap.default({}),
    /** Official Consul image the init container copies `consul` from. */
    binaryImage: z.string().min(1).default(DEFAULT_CONSUL_IMAGE),
    /** True when Mogi's image already contains `consul`: no init container. */
    imageHasConsul: z.boolean().default(false),
    datacenters: z.array(z.string().min(1)).optional(),
  })
  .strict();

const kubernetesSchema = z
  .object({
    /** Path to a kubeconfig file; default: the ambient one (KUBECONFIG or ~/.kube/config). */
    kubeconfig: z.string().min(1).optional(),
    context: z.string().min(1).optional(),
  })
  .strict();

/** Every setting, by its key under `mogi:`. */
const settingsSchema = z
  .object({
    name: z.string().default("mogi").superRefine(ruleRefinement("dns1035-label")),
    environment: z.enum(ENVIRONMENTS).default("development"),
    namespace: z.string().default("mogi").superRefine(ruleRefinement("dns1123-label")),
    createNamespace: structured(z.boolean()).default(true),
    image: z.string().min(1),
    command: structured(z.array(z.string().min(1)).min(1)),
    env: structured(envMap).default({}),
    port: structured(z.number().int().min(1).max(65535)).default(DEFAULT_PORT),
    healthPath: z.string().regex(/^\//, "must start with '/'").default(DEFAULT_HEALTH_PATH),
    resources: structured(z.object({ requests: resourceList.optional(), limits: resourceList.optional() }).strict()).optional(),
    pdb: z.enum(Object.keys(PDB_MODES) as [PdbMode, ...PdbMode[]]).default("allow-drain"),
    terminationGracePeriodSeconds: structured(z.number().int().min(MIN_TERMINATION_GRACE_SECONDS)).default(MIN_TERMINATION_GRACE_SECONDS),
    runAsUser: structured(z.number().int().min(1)).optional(),
    connectInject: structured(z.boolean()).default(true),
    serviceTags: structured(z.array(z.string().min(1))).default([]),
    serviceMeta: structured(serviceMetaMap).default({}),
    podLabels: structured(labelMap).default({}),
    podAnnotations: structured(annotationMap).default({}),
    kubernetes: structured(kubernetesSchema).default({}),
    consul: structured(consulSchema),
  })
  .strict();

type ParsedSettings = z.output<typeof settingsSchema>;

export interface Settings extends Omit<ParsedSettings, "consul"> {
  consul: Omit<ParsedSettings["consul"], "lockPrefix" | "configPrefix"> & { lockPrefix: string; configPrefix: string };
  /** maxUnavailable for the PDB, from `pdb`. */
  maxUnavailable: 0 | 1;
}

/** Every problem of an invalid configuration, each as `mogi:<key>: <what is wrong and allowed>`. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

function keyOf(path: readonly PropertyKey[]): string {
  return `${CONFIG_NAMESPACE}:${path.map(String).join(".")}`;
}

/** An image reference pinned to a tag other than `latest`, or to a digest. */
export function imagePinProblem(image: string): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastSegment = image.slice(image.lastIndexOf("/") + 1);
  const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : undefined;
  if (tag === undefined) return `${JSON.stringify(image)} has no tag; pin a version tag or a @sha256 digest`;
  if (tag === "latest") return `${JSON.stringify(image)} uses "latest"; pin a version tag or a @sha256 digest`;
  return undefined;
}

/**
 * Checks across settings. Takes whatever fields parsed on their own, so that an invalid stack
 * gets these problems together with the schema's, not one round later.
 */
function crossFieldProblems(s: Partial<ParsedSettings>): string[] {
  const problems: string[] = [];
  const consul = s.consul;
  if (s.environment === "production") {
    const images: [string, string | undefined][] = [["image", s.image], ["consul.binaryImage", consul?.binaryImage]];
    for (const [key, image] of images) {
      const problem = image === undefined ? undefined : imagePinProblem(image);
      if (problem) problems.push(`${keyOf(key.split("."))}: ${problem} (required when environment is "production")`);
    }
  }
  if (consul && s.name !== undefined) {
    const { lockPrefix, configPrefix } = prefixesOf(s.name, consul);
    const overlap = prefixOverlapProblem(lockPrefix, configPrefix);
    if (overlap) problems.push(`${keyOf(["consul", "configPrefix"])}: ${overlap}`);
  }
  for (const key of Object.keys(consul?.kv ?? {})) {
    const problem = kvPrefixProblem(key);
    if (problem) problems.push(`${keyOf(["consul", "kv", key])}: the key ${problem}`);
  }
  if (consul) {
    const hasCa = consul.caPem !== undefined || consul.caFrom !== undefined;
    if (consul.caPem !== undefined && consul.caFrom !== undefined) problems.push(`${keyOf(["consul"])}: set caPem or caFrom, not both`);
    if (consul.scheme === "https" && !hasCa) problems.push(`${keyOf(["consul", "caPem"])}: required when consul.scheme is "https" (or set consul.caFrom)`);
    if (consul.scheme === "http" && hasCa) problems.push(`${keyOf(["consul", "scheme"])}: a CA is configured but the scheme is "http"; use "https" or remove the CA`);
  }
  for (const key of Object.keys(s.env ?? {}).filter((k) => RESERVED_ENV.includes(k))) {
    problems.push(`${keyOf(["env", key])}: set by the stack for the lock wrapper; remove it`);
  }
  for (const key of Object.keys(s.podAnnotations ?? {}).filter((k) => k.startsWith("consul.hashicorp.com/"))) {
    problems.push(`${keyOf(["podAnnotations", key])}: consul.hashicorp.com/ annotations come from connectInject, serviceTags and serviceMeta`);
  }
  return problems;
}

/** The lock and config prefixes, defaulting under `service/<name>/`. */
function prefixesOf(name: string, consul: ParsedSettings["consul"]): { lockPrefix: string; configPrefix: string } {
  return { lockPrefix: consul.lockPrefix ?? `service/${name}/lock`, configPrefix: consul.configPrefix ?? `service/${name}/config` };
}

/** Each top-level setting parsed on its own: the ones that are valid by themselves. */
function validFields(raw: Record<string, unknown>): Partial<ParsedSettings> {
  const fields: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(settingsSchema.shape)) {
    const result = (schema as z.ZodType).safeParse(raw[key]);
    if (result.success) fields[key] = result.data;
  }
  return fields as Partial<ParsedSettings>;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return `${issue.keys.map((k) => keyOf([...issue.path, k])).join(", ")}: unknown setting; check the README's settings table`;
  }
  if (issue.code === "invalid_value" && "values" in issue) {
    return `${keyOf(issue.path)}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  if (issue.code === "invalid_type" && issue.message.includes("received undefined")) return `${keyOf(issue.path)}: required, but not set`;
  return `${keyOf(issue.path)}: ${issue.message}`;
}

/**
 * Parses the project's configuration. `raw` maps keys without the namespace (`image`,
 * `consul`, …) to values as Pulumi delivers them (text; structured values as JSON text).
 * Throws a ConfigError listing every problem.
 */
export function parseSettings(raw: Record<string, unknown>): Settings {
  const parsed = settingsSchema.safeParse(raw);
  const problems = [...(parsed.success ? [] : parsed.error.issues.map(describeIssue)), ...crossFieldProblems(parsed.success ? parsed.data : validFields(raw))];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const s = parsed.data;
  return { ...s, consul: { ...s.consul, ...prefixesOf(s.name, s.consul) }, maxUnavailable: PDB_MODES[s.pdb] };
}

/** Settings that hold secrets: never in `parseSettings`' input, read with `getSecret`. */
export const SECRET_SETTINGS = ["consulToken"] as const;
