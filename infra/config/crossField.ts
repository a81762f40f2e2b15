/**
 * Checks across settings (the production pin, prefixes, where each side gets Consul's CA, …),
 * made on whatever fields parsed on their own, so that an invalid stack gets these problems
 * together with the schema's, not one round later.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { kvPrefixProblem, prefixOverlapProblem } from "../../components/consulKv";
import { RESERVED_ENV } from "../../components/singletonWorkloadArgs";
import { networkPolicySettingProblems } from "../networkPolicyConfig";
import { ConfigProblem, ownKey, parsePathText } from "./problems";
import { CONFIG_NAMESPACE, ParsedSettings, SettingsContext } from "./schema";

/** An image reference pinned to a tag other than `latest`, or to a digest. */
export function imagePinProblem(image: string): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastSegment = image.slice(image.lastIndexOf("/") + 1);
  const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : undefined;
  if (tag === undefined) return `${JSON.stringify(image)} has no tag; pin a version tag or a @sha256 digest`;
  if (tag === "latest") return `${JSON.stringify(image)} uses "latest"; pin a version tag or a @sha256 digest`;
  return undefined;
}

/** Settings that give the provider its CA; at most one may be set. */
const PROVIDER_CA_SETTINGS = ["caPem", "providerCaPem", "providerCaFile"] as const;
/** Environment variables the Consul provider takes its CA from (terraform-provider-consul resource_provider.go). */
const PROVIDER_CA_ENV = ["CONSUL_CA_FILE", "CONSUL_CAPATH"];
const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

/** The provider's CA PEM, read from `providerCaFile` when that is the source; or the problem with it. */
export function providerCaOf(consul: ParsedSettings["consul"] | undefined, context: SettingsContext): { pem?: string; problem?: ConfigProblem } {
  if (consul?.providerCaFile === undefined) return { pem: consul?.caPem ?? consul?.providerCaPem };
  const file = path.resolve(context.projectDir, consul.providerCaFile);
  const where = { path: ownKey("consul", "providerCaFile"), value: consul.providerCaFile };
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    return { problem: { ...where, message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: ${file}); it must be a PEM file of Consul's CA, relative to the project directory or absolute` } };
  }
  if (!pem.includes(PEM_CERTIFICATE)) return { problem: { ...where, message: `holds no PEM certificate (${PEM_CERTIFICATE}): ${file}` } };
  return { pem };
}

/** Where Pulumi's provider and the pod each get the CA that signs Consul's certificate. */
function caProblems(s: Partial<ParsedSettings>, consul: ParsedSettings["consul"], context: SettingsContext): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const podCa = consul.caPem !== undefined || consul.caFrom !== undefined;
  const providerCa = PROVIDER_CA_SETTINGS.filter((key) => consul[key] !== undefined);
  const providerCaFromEnv = PROVIDER_CA_ENV.some((name) => context.env[name]);
  if (consul.caPem !== undefined && consul.caFrom !== undefined) problems.push({ path: ownKey("consul"), message: "set caPem or caFrom, not both" });
  if (providerCa.length > 1) problems.push({ path: ownKey("consul"), message: `set only one of ${providerCa.map((k) => `consul.${k}`).join(", ")}: each gives the provider its CA` });
  if (consul.scheme === "https") {
    if (!podCa) problems.push({ path: ownKey("consul", "caPem"), message: `required when consul.scheme is "https", so that the pod's consul trusts Consul's certificate (or set consul.caFrom)` });
    if (providerCa.length === 0 && !providerCaFromEnv) {
      problems.push({ path: ownKey("consul", "providerCaFile"), message: `required when consul.scheme is "https" and consul.caPem is not set: Pulumi's Consul provider must trust Consul's CA too, and consul.caFrom reaches only the pod; set consul.providerCaFile (a PEM file) or consul.providerCaPem, or export ${PROVIDER_CA_ENV.join(" or ")} where pulumi runs` });
    }
  } else if (podCa || providerCa.length > 0) {
    problems.push({ path: ownKey("consul", "scheme"), value: consul.scheme, message: `a CA is configured but the scheme is "http"; use "https" or remove the CA` });
  }
  if (consul.caFrom !== undefined && (s.createNamespace ?? true)) {
    const { kind, name } = consul.caFrom;
    problems.push({
      path: ownKey("createNamespace"),
      value: s.createNamespace ?? true,
      message: `must be false when consul.caFrom is set: the ${kind} "${name}" lives in Mogi's namespace but is not declared by this stack, so the platform owns that namespace. Created here, the pod would wait for the ${kind} that is not there yet, \`pulumi up\` fails with AlreadyExists where the platform made the namespace first, and \`pulumi destroy\` would delete the platform's ${kind} with it`,
    });
  }
  return problems;
}

/** The lock and config prefixes, defaulting under `service/<name>/`. */
export function prefixesOf(name: string, consul: ParsedSettings["consul"]): { lockPrefix: string; configPrefix: string } {
  return { lockPrefix: consul.lockPrefix ?? `service/${name}/lock`, configPrefix: consul.configPrefix ?? `service/${name}/config` };
}

/**
 * The chart's server Service `<fullname>-server` fronts pods `<fullname>-server-<n>`, whose
 * hostnames are the servers' node names: a pod talking to that Service creates its sessions on
 * those nodes, so the prefix must cover `<fullname>-server-` (any other host: not checkable here).
 */
function sessionNodeProblem(consul: ParsedSettings["consul"]): ConfigProblem | undefined {
  const service = /^([a-z0-9-]+-server)\./.exec(consul.inClusterHost)?.[1];
  if (service === undefined || `${service}-`.startsWith(consul.sessionNodePrefix)) return undefined;
  return {
    path: ownKey("consul", "sessionNodePrefix"),
    value: consul.sessionNodePrefix,
    message: `does not cover the Consul servers behind consul.inClusterHost "${consul.inClusterHost}": the consul-k8s chart names them "${service}-0", "${service}-1", …, and the pod's sessions and /v1/agent/self are checked against those names (the lock would be refused with 403); set "${service}-"`,
  };
}

/** A component's problem (`mogi:networkPolicy.egress[0].to[0]: …`) as a problem of the setting. */
function componentProblem(text: string, valueOf: (path: (string | number)[]) => unknown): ConfigProblem {
  const split = text.indexOf(": ");
  const where = parsePathText(text.slice(CONFIG_NAMESPACE.length + 1, split));
  return { path: ownKey(...where), value: valueOf(where), message: text.slice(split + 2) };
}

function valueIn(root: unknown, path: readonly (string | number)[]): unknown {
  return path.reduce<unknown>((value, segment) => (value !== null && typeof value === "object" ? (value as Record<string, unknown>)[segment] : undefined), root);
}

/** Checks across settings, on the fields that are valid by themselves. */
export function crossFieldProblems(s: Partial<ParsedSettings>, context: SettingsContext): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const consul = s.consul;
  if (s.environment === "production") {
    const images: [string[], string | undefined][] = [[["image"], s.image], [["consul", "binaryImage"], consul?.binaryImage]];
    for (const [key, image] of images) {
      const problem = image === undefined ? undefined : imagePinProblem(image);
      if (problem) problems.push({ path: ownKey(...key), value: image, message: `${problem} (required when environment is "production")` });
    }
  }
  if (consul && s.name !== undefined) {
    const { lockPrefix, configPrefix } = prefixesOf(s.name, consul);
    const overlap = prefixOverlapProblem(lockPrefix, configPrefix);
    if (overlap) problems.push({ path: ownKey("consul", "configPrefix"), value: configPrefix, message: overlap });
  }
  for (const key of Object.keys(consul?.kv ?? {})) {
    const problem = kvPrefixProblem(key);
    if (problem) problems.push({ path: ownKey("consul", "kv", key), message: `the key ${problem}` });
  }
  if (consul) problems.push(...caProblems(s, consul, context));
  const nodeProblem = consul && sessionNodeProblem(consul);
  if (nodeProblem) problems.push(nodeProblem);
  for (const key of Object.keys(s.env ?? {}).filter((k) => RESERVED_ENV.includes(k))) {
    problems.push({ path: ownKey("env", key), value: s.env?.[key], message: "set by the stack for the lock wrapper; remove it" });
  }
  if (s.networkPolicy) problems.push(...networkPolicySettingProblems(CONFIG_NAMESPACE, s.networkPolicy).map((text) => componentProblem(text, (where) => valueIn(s, where))));
  for (const key of Object.keys(s.podAnnotations ?? {}).filter((k) => k.startsWith("consul.hashicorp.com/"))) {
    problems.push({ path: ownKey("podAnnotations", key), message: "consul.hashicorp.com/ annotations come from connectInject, consulCni, serviceTags and serviceMeta" });
  }
  const providerCa = providerCaOf(consul, context);
  if (providerCa.problem) problems.push(providerCa.problem);
  return problems;
}
