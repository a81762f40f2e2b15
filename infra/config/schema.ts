/**
 * The shape of every `mogi:*` setting: types, defaults and the checks a single setting can make
 * on its own. Checks across settings are in ./crossField.ts; the words of each problem in
 * ./problems.ts.
 */
import { z } from "zod";
import { labelKeyProblem, labelValueProblem, nameProblem } from "../../components/naming";
import { kvPrefixProblem } from "../../components/consulKv";
import { authMethodNameProblem, DEFAULT_SESSION_NODE_PREFIX, sessionNodePrefixProblem } from "../../components/consulAcl";
import {
  DEFAULT_CONSUL_IMAGE, DEFAULT_HEALTH_PATH, DEFAULT_NODE_LOSS_TOLERATION_SECONDS, DEFAULT_PORT, MAX_NODE_LOSS_TOLERATION_SECONDS, MIN_TERMINATION_GRACE_SECONDS,
} from "../../components/singletonWorkloadArgs";
import { networkPolicySchema } from "../networkPolicyConfig";
import { quantityProblem, quantityValue } from "./quantity";

/** `pulumi config` namespace of this project's settings (the project name). */
export const CONFIG_NAMESPACE = "mogi";

/** Settings that hold secrets: never in `parseSettings`' input, read with `getSecret`. */
export const SECRET_SETTINGS = ["consulToken"] as const;

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
/** How the PodDisruptionBudget treats voluntary disruptions (drains, cluster upgrades). */
export const PDB_MODES = {
  /** maxUnavailable 1: a drain evicts the pod; the lock hands over gracefully, seconds of downtime. */
  "allow-drain": 1,
  /** maxUnavailable 0: drains wait until an operator moves Mogi (FACTS.md, PDB for a single instance). */
  "block-voluntary-evictions": 0,
} as const;
export type PdbMode = keyof typeof PDB_MODES;

/** A custom issue's `params` when its message is about the key itself (a label key), not the value. */
export const ABOUT_KEY = { aboutKey: true } as const;

/** Structured values arrive from the CLI as JSON text, plain ones as text: accept both. */
export function fromJsonText(value: unknown): unknown {
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
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
/** The Consul servers' node-name prefix: the token's session and agent rules (components/consulAcl.ts). */
const nodePrefix = z.string().superRefine((value, ctx) => {
  const problem = sessionNodePrefixProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
/** A Consul auth method's name: the pod logs in with it instead of holding a static token. */
const authMethodName = z.string().superRefine((value, ctx) => {
  const problem = authMethodNameProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const stringMap = z.record(z.string(), z.string());
const quantity = z
  .union([z.string(), z.number()])
  .transform(String)
  .superRefine((q, ctx) => {
    const problem = quantityProblem(q);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
const issue = (ctx: z.RefinementCtx, problem: string | undefined, path: (string | number)[] = [], aboutKey = false) => {
  if (problem) ctx.addIssue({ code: "custom", message: problem, path, ...(aboutKey ? { params: ABOUT_KEY } : {}) });
};
/** Keys and values that must be valid label keys (and, for labels, label values). */
const labelMap = stringMap.superRefine((map, ctx) => {
  for (const [key, value] of Object.entries(map)) {
    issue(ctx, labelKeyProblem(key), [key], true);
    issue(ctx, labelValueProblem(value), [key]);
  }
});
const annotationMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) issue(ctx, labelKeyProblem(key), [key], true);
});
/** serviceMeta keys become annotation names `consul.hashicorp.com/service-meta-<key>`. */
const SERVICE_META_PREFIX = "service-meta-";
const serviceMetaMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) issue(ctx, labelKeyProblem(`${SERVICE_META_PREFIX}${key}`), [key], true);
});
/** Environment variable names the kubelet accepts (C identifiers plus '-' and '.'). */
const envMap = stringMap.superRefine((map, ctx) => {
  for (const key of Object.keys(map)) {
    if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(key)) issue(ctx, `${JSON.stringify(key)} is not a valid environment variable name`, [key], true);
  }
});
const resourceList = z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict();
/** Requests and limits; a request above its limit is refused by the API server, so here first. */
const resourcesSchema = z
  .object({ requests: resourceList.optional(), limits: resourceList.optional() })
  .strict()
  .superRefine((value, ctx) => {
    for (const resource of ["cpu", "memory"] as const) {
      const [request, limit] = [value.requests?.[resource], value.limits?.[resource]];
      if (request === undefined || limit === undefined) continue;
      const [r, l] = [quantityValue(request), quantityValue(limit)];
      if (r !== undefined && l !== undefined && r > 0 && l > 0 && r > l) {
        ctx.addIssue({ code: "custom", path: ["requests", resource], message: `is above its limit (${CONFIG_NAMESPACE}:resources.limits.${resource} ${JSON.stringify(limit)}): a request must not exceed its limit` });
      }
    }
  });

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
    /** Start of the node names of the Consul servers the pod talks to: its sessions are created there. */
    sessionNodePrefix: nodePrefix.default(DEFAULT_SESSION_NODE_PREFIX),
    /**
     * The platform's Consul auth method (type kubernetes) the pod logs in with, for a token that
     * lives only as long as the pod's container; unset: a static token in a Secret.
     */
    authMethod: authMethodName.optional(),
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
export const settingsSchema = z
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
    resources: structured(resourcesSchema).optional(),
    pdb: z.enum(Object.keys(PDB_MODES) as [PdbMode, ...PdbMode[]]).default("allow-drain"),
    terminationGracePeriodSeconds: structured(z.number().int().min(MIN_TERMINATION_GRACE_SECONDS)).default(MIN_TERMINATION_GRACE_SECONDS),
    nodeLossTolerationSeconds: structured(z.number().int().min(0).max(MAX_NODE_LOSS_TOLERATION_SECONDS)).default(DEFAULT_NODE_LOSS_TOLERATION_SECONDS),
    runAsUser: structured(z.number().int().min(1)).optional(),
    connectInject: structured(z.boolean()).default(true),
    /** The cluster runs consul-k8s' CNI plugin; without it the pod turns transparent proxy off. */
    consulCni: structured(z.boolean()).default(false),
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

export type ParsedSettings = z.output<typeof settingsSchema>;

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

/** Where the settings are read: what relative paths and the provider's own environment mean. */
export interface SettingsContext {
  /** Directory `consul.providerCaFile` is relative to: the project's (where Pulumi.yaml is). */
  projectDir: string;
  /** Environment of the process running pulumi: the Consul provider reads CONSUL_CA_FILE/CONSUL_CAPATH itself. */
  env: Record<string, string | undefined>;
}

/** Setting names one level down from `path` in the schema (`[]`: the top-level settings), for "did you mean". */
export function settingNamesAt(path: readonly (string | number)[]): string[] {
  type Def = Record<string, unknown> & { type: string };
  const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
  let schema: unknown = settingsSchema;
  for (const segment of [...path, undefined]) {
    // Unwrap what does not change the shape: defaults, optionals, preprocessing, transforms.
    for (let guard = 0; schema !== undefined && guard < 10; guard++) {
      const def: Def = defOf(schema);
      if (["default", "optional", "prefault", "nullable"].includes(def.type)) schema = def.innerType;
      else if (def.type === "pipe") schema = defOf(def.out).type === "transform" ? def.in : def.out;
      else break;
    }
    if (schema === undefined) return [];
    const def: Def = defOf(schema);
    if (segment === undefined) return def.type === "object" ? Object.keys(def.shape as object) : [];
    if (def.type === "object") schema = (def.shape as Record<string, unknown>)[String(segment)];
    else if (def.type === "array") schema = def.element;
    else if (def.type === "record") schema = def.valueType;
    else return [];
  }
  return [];
}
