/**
 * The stack's configuration: every `mogi:*` setting, typed, defaulted and validated in one place
 * before any resource is declared. An invalid stack gets every problem at once.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { labelKeyProblem, labelValueProblem, nameProblem } from "../components/naming";
import { kvPrefixProblem, prefixOverlapProblem } from "../components/consulKv";
import {
  DEFAULT_CONSUL_IMAGE, DEFAULT_HEALTH_PATH, DEFAULT_NODE_LOSS_TOLERATION_SECONDS, DEFAULT_PORT, MAX_NODE_LOSS_TOLERATION_SECONDS, MIN_TERMINATION_GRACE_SECONDS, RESERVED_ENV,
} from "../components/singletonWorkloadArgs";
import { networkPolicySchema, networkPolicySettingProblems } from "./networkPolicyConfig";

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
    /** PEM CA for https (public, not a secret), for the pod and the provider alike. */
    caPem: z.string().min(1).optional(),
    /** The pod's CA from an object in Mogi's namespace that the platform provides (not the provider's). */
    caFrom: z.object({ kind: z.enum(["ConfigMap", "Secret"]), name: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /** The provider's CA as PEM text, when the pod's comes from `caFrom`. */
    providerCaPem: z.string().min(1).optional(),
    /** The provider's CA as a PEM file, relative to the project directory (or absolute); read by the program. */
    providerCaFile: z.string().min(1).optional(),
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
    nodeLossTolerationSeconds: structured(z.number().int().min(0).max(MAX_NODE_LOSS_TOLERATION_SECONDS)).default(DEFAULT_NODE_LOSS_TOLERATION_SECONDS),
    runAsUser: structured(z.number().int().min(1)).optional(),
    connectInject: structured(z.boolean()).default(true),
    serviceTags: structured(z.array(z.string().min(1))).default([]),
    serviceMeta: structured(serviceMetaMap).default({}),
    podLabels: structured(labelMap).default({}),
    podAnnotations: structured(annotationMap).default({}),
    /** Each stack chooses: no default. */
    readOnlyRootFilesystem: structured(z.boolean()),
    /** Each stack declares the pod's NetworkPolicy, or that the platform owns it: no default. */
    networkPolicy: structured(networkPolicySchema),
    kubernetes: structured(kubernetesSchema).default({}),
    consul: structured(consulSchema),
  })
  .strict();

type ParsedSettings = z.output<typeof settingsSchema>;

export interface Settings extends Omit<ParsedSettings, "consul"> {
  consul: Omit<ParsedSettings["consul"], "lockPrefix" | "configPrefix"> & {
    lockPrefix: string;
    configPrefix: string;
    /** The CA PEM the provider verifies Consul with (from caPem, providerCaPem or providerCaFile); unset for http or CONSUL_CA_FILE. */
    providerCa?: string;
  };
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

/** Where the settings are read: what relative paths and the provider's own environment mean. */
export interface SettingsContext {
  /** Directory `consul.providerCaFile` is relative to: the project's (where Pulumi.yaml is). */
  projectDir: string;
  /** Environment of the process running pulumi: the Consul provider reads CONSUL_CA_FILE/CONSUL_CAPATH itself. */
  env: Record<string, string | undefined>;
}

/** Settings that give the provider its CA; at most one may be set. */
const PROVIDER_CA_SETTINGS = ["caPem", "providerCaPem", "providerCaFile"] as const;
/** Environment variables the Consul provider takes its CA from (terraform-provider-consul resource_provider.go). */
const PROVIDER_CA_ENV = ["CONSUL_CA_FILE", "CONSUL_CAPATH"];
const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

/** The provider's CA PEM, read from `providerCaFile` when that is the source; or the problem with it. */
function providerCaOf(consul: ParsedSettings["consul"] | undefined, context: SettingsContext): { pem?: string; problem?: string } {
  if (consul?.providerCaFile === undefined) return { pem: consul?.caPem ?? consul?.providerCaPem };
  const file = path.resolve(context.projectDir, consul.providerCaFile);
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    return { problem: `${keyOf(["consul", "providerCaFile"])}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it must be a PEM file of Consul's CA, relative to the project directory or absolute` };
  }
  if (!pem.includes(PEM_CERTIFICATE)) return { problem: `${keyOf(["consul", "providerCaFile"])}: ${file} holds no PEM certificate (${PEM_CERTIFICATE})` };
  return { pem };
}

/** Where Pulumi's provider and the pod each get the CA that signs Consul's certificate. */
function caProblems(s: Partial<ParsedSettings>, consul: ParsedSettings["consul"], context: SettingsContext): string[] {
  const problems: string[] = [];
  const podCa = consul.caPem !== undefined || consul.caFrom !== undefined;
  const providerCa = PROVIDER_CA_SETTINGS.filter((key) => consul[key] !== undefined);
  const providerCaFromEnv = PROVIDER_CA_ENV.some((name) => context.env[name]);
  if (consul.caPem !== undefined && consul.caFrom !== undefined) problems.push(`${keyOf(["consul"])}: set caPem or caFrom, not both`);
  if (providerCa.length > 1) problems.push(`${keyOf(["consul"])}: set only one of ${providerCa.map((k) => `consul.${k}`).join(", ")}: each gives the provider its CA`);
  if (consul.scheme === "https") {
    if (!podCa) problems.push(`${keyOf(["consul", "caPem"])}: required when consul.scheme is "https", so that the pod's consul trusts Consul's certificate (or set consul.caFrom)`);
    if (providerCa.length === 0 && !providerCaFromEnv) {
      problems.push(`${keyOf(["consul", "providerCaFile"])}: required when consul.scheme is "https" and consul.caPem is not set: Pulumi's Consul provider must trust Consul's CA too, and consul.caFrom reaches only the pod; set consul.providerCaFile (a PEM file) or consul.providerCaPem, or export ${PROVIDER_CA_ENV.join(" or ")} where pulumi runs`);
    }
  } else if (podCa || providerCa.length > 0) {
    problems.push(`${keyOf(["consul", "scheme"])}: a CA is configured but the scheme is "http"; use "https" or remove the CA`);
  }
  if (consul.caFrom !== undefined && (s.createNamespace ?? true)) {
    const { kind, name } = consul.caFrom;
    problems.push(`${keyOf(["createNamespace"])}: must be false when consul.caFrom is set: the ${kind} "${name}" lives in Mogi's namespace but is not declared by this stack, so the platform owns that namespace. Created here, the pod would wait for the ${kind} that is not there yet, \`pulumi up\` fails with AlreadyExists where the platform made the namespace first, and \`pulumi destroy\` would delete the platform's ${kind} with it`);
  }
  return problems;
}

/**
 * Checks across settings. Takes whatever fields parsed on their own, so that an invalid stack
 * gets these problems together with the schema's, not one round later.
 */
function crossFieldProblems(s: Partial<ParsedSettings>, context: SettingsContext): string[] {
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
  if (consul) problems.push(...caProblems(s, consul, context));
  for (const key of Object.keys(s.env ?? {}).filter((k) => RESERVED_ENV.includes(k))) {
    problems.push(`${keyOf(["env", key])}: set by the stack for the lock wrapper; remove it`);
  }
  if (s.networkPolicy) problems.push(...networkPolicySettingProblems(CONFIG_NAMESPACE, s.networkPolicy));
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
  if (issue.code === "invalid_union") {
    // A value of the right type for one alternative (a list, an object) gets that one's problems.
    // (Typed by hand: the TypeScript that Pulumi's ts-node runs narrows `issue` to never here.)
    const branches = (issue as unknown as { errors: z.core.$ZodIssue[][] }).errors;
    const matched = branches.find((branch) => branch.length > 0 && branch.every((i) => i.path.length > 0));
    if (matched) return matched.map((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] })).join("; ");
  }
  return `${keyOf(issue.path)}: ${issue.message}`;
}

/**
 * Parses the project's configuration. `raw` maps keys without the namespace (`image`,
 * `consul`, …) to values as Pulumi delivers them (text; structured values as JSON text).
 * Throws a ConfigError listing every problem.
 */
export function parseSettings(raw: Record<string, unknown>, context: SettingsContext = { projectDir: process.cwd(), env: {} }): Settings {
  const parsed = settingsSchema.safeParse(raw);
  const fields = parsed.success ? parsed.data : validFields(raw);
  const providerCa = providerCaOf(fields.consul, context);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues.map(describeIssue)),
    ...crossFieldProblems(fields, context),
    ...(providerCa.problem ? [providerCa.problem] : []),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const s = parsed.data;
  return { ...s, consul: { ...s.consul, ...prefixesOf(s.name, s.consul), providerCa: providerCa.pem }, maxUnavailable: PDB_MODES[s.pdb] };
}

/** Settings that hold secrets: never in `parseSettings`' input, read with `getSecret`. */
export const SECRET_SETTINGS = ["consulToken"] as const;

/**
 * A stack's settings from its configuration as Pulumi keeps it (`mogi:<key>` → text; other
 * projects' keys ignored). Secret settings are left out, and any other setting stored as a secret
 * is refused by name, without its value ever being read into a message: it would be used in
 * plain text. Used by the program and by the tools that read stack files.
 */
export function parseStackConfig(config: Record<string, string>, isSecret: (key: string) => boolean, context: SettingsContext): Settings {
  const prefix = `${CONFIG_NAMESPACE}:`;
  const secretSettings = new Set<string>(SECRET_SETTINGS);
  const own = Object.entries(config).filter(([key]) => key.startsWith(prefix));
  const unexpectedSecrets = own.map(([key]) => key).filter((key) => isSecret(key) && !secretSettings.has(key.slice(prefix.length)));
  if (unexpectedSecrets.length > 0) {
    throw new ConfigError(unexpectedSecrets.map((key) => `${key}: is stored as a secret, but it is not a secret setting and would be used in plain text; only ${SECRET_SETTINGS.map((k) => prefix + k).join(", ")} may be secret`));
  }
  const raw = own.filter(([key]) => !secretSettings.has(key.slice(prefix.length))).map(([key, value]) => [key.slice(prefix.length), value]);
  return parseSettings(Object.fromEntries(raw), context);
}
