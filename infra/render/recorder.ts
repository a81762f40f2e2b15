/**
 * A recording engine: runs a Pulumi program in-process under the SDK's runtime mocks and
 * returns every resource it declares, with its parent and its resolved inputs.
 *
 * No CLI, plugin, cluster or Consul is involved, so it serves the unit tests and the offline
 * render alike. It only sees what the program declares: a provider's own defaults and server-side
 * validation are not applied (the render validates Kubernetes objects separately).
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { SECRET_PLACEHOLDER } from "../stacks";

export interface ResourceRef {
  type: string;
  name: string;
}

export interface RecordedResource extends ResourceRef {
  /** The parent component (null for resources directly under the stack). */
  parent: ResourceRef | null;
  /** False for ComponentResources (and the stack), true for provider-managed resources. */
  custom: boolean;
  /** Inputs as the engine received them; secret values stay wrapped, see `isSecretValue`. */
  inputs: Record<string, unknown>;
  /** What the engine got back: the inputs plus computed fields such as a Kubernetes auto-name. */
  state: Record<string, unknown>;
  /** The explicit provider, as `<provider URN>::<id>`, when one was given. */
  provider?: string;
  /** Set when the resource was declared with `deleteBeforeReplace`. */
  deleteBeforeReplace?: boolean;
}

export interface RecordedInvoke {
  token: string;
  inputs: Record<string, unknown>;
  provider?: string;
}

export interface Recording {
  /** Set when the program failed; `resources` then holds what it declared before failing. */
  error?: Error;
  resources: RecordedResource[];
  /** Provider functions the program called, in order. */
  invokes: RecordedInvoke[];
  /** The program's stack outputs. */
  outputs: Record<string, unknown>;
}

export interface RecordOptions {
  project: string;
  stack: string;
  /** Configuration as `pulumi config` holds it: keys `<namespace>:<key>`, string values. */
  config?: Record<string, string>;
  /** Keys of `config` that are secrets. */
  secretKeys?: string[];
}

/** True for a value the engine received as a secret (the SDK's RPC encoding). */
export function isSecretValue(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

/** Rebuilds `value`, letting `secret` replace each secret's content and `leaf` each other scalar. */
function rebuild(value: unknown, secret: (inner: unknown) => unknown, leaf: (scalar: unknown) => unknown = (scalar) => scalar): unknown {
  if (isSecretValue(value)) return secret(value.value);
  if (Array.isArray(value)) return value.map((v) => rebuild(v, secret, leaf));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuild(v, secret, leaf)]));
  }
  return leaf(value);
}

/** Every scalar replaced by the placeholder, keeping the shape (a Secret stays a valid object). */
const placeholders = (value: unknown): unknown =>
  rebuild(value, placeholders, (scalar) => (scalar === undefined || scalar === null ? scalar : SECRET_PLACEHOLDER));

/** Replaces every secret value with a placeholder, for anything that is printed or written. */
export const redactSecrets = (value: unknown): unknown => rebuild(value, placeholders);

/** Removes the secret wrappers, keeping the values: for assertions in tests only. */
export const revealSecrets = (value: unknown): unknown => rebuild(value, revealSecrets);

/** Deterministic stand-in for the random suffix Pulumi adds to auto-named resources. */
export function autoNameSuffix(type: string, name: string, inputs: unknown): string {
  return createHash("sha256").update(JSON.stringify([type, name, inputs])).digest("hex").slice(0, 8);
}

type Metadata = { name?: unknown; namespace?: unknown };

/** A UUID-shaped value derived from a resource's identity, standing in for a random one. */
function deterministicUuid(seed: string): string {
  const hex = createHash("sha256").update(seed).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Fields providers compute that this program reads back, keyed by type token. */
const COMPUTED: Record<string, (name: string, inputs: Record<string, unknown>) => Record<string, unknown>> = {
  "random:index/randomUuid:RandomUuid": (name) => ({ result: deterministicUuid(`random-uuid:${name}`) }),
};

/**
 * What a provider would return for a resource: its inputs, plus the computed fields the
 * program reads back. Kubernetes objects without `metadata.name` get the provider's
 * auto-name `<logical name>-<suffix>`; the suffix is derived from the inputs, so a change of
 * content gives a new name, as a replacement does for real.
 */
function providerState(type: string, name: string, inputs: Record<string, unknown>): { id: string; state: Record<string, unknown> } {
  if (!type.startsWith("kubernetes:")) return { id: `${name}-id`, state: { ...inputs, ...COMPUTED[type]?.(name, inputs) } };
  const metadata = (revealSecrets(inputs.metadata) ?? {}) as Metadata & { annotations?: Record<string, string> };
  if (typeof metadata.name === "string") {
    const id = typeof metadata.namespace === "string" ? `${metadata.namespace}/${metadata.name}` : metadata.name;
    return { id, state: { ...inputs } };
  }
  // As pulumi-kubernetes does: `<logical name>-<8 characters>` and the pulumi.com/autonamed annotation.
  const objectName = `${name}-${autoNameSuffix(type, name, revealSecrets(inputs))}`;
  const id = typeof metadata.namespace === "string" ? `${metadata.namespace}/${objectName}` : objectName;
  const annotations = { ...metadata.annotations, "pulumi.com/autonamed": "true" };
  return { id, state: { ...inputs, metadata: { ...metadata, name: objectName, annotations } } };
}

/**
 * Answers for the provider functions (invokes) the program calls. Unknown tokens fail, so a
 * new data source is a conscious addition here rather than a silent `undefined`.
 */
export type InvokeHandler = (inputs: Record<string, unknown>) => Record<string, unknown>;

export const DEFAULT_INVOKES: Record<string, InvokeHandler> = {
  // The real secret is never known offline; a recognisable stand-in flows through as a secret.
  "consul:index/getAclTokenSecretId:getAclTokenSecretId": (inputs) => ({
    ...inputs,
    id: String(inputs.accessorId),
    secretId: `offline-stand-in-for-${String(inputs.accessorId)}`,
  }),
};

class RecordingMocks implements pulumi.runtime.Mocks {
  readonly registered = new Map<string, { inputs: Record<string, unknown>; state: Record<string, unknown>; custom: boolean; provider?: string }>();
  readonly invokes: RecordedInvoke[] = [];

  constructor(private readonly handlers: Record<string, InvokeHandler>) {}

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const key = `${args.type}::${args.name}`;
    if (this.registered.has(key)) throw new Error(`duplicate resource ${key}: logical names must be unique per type`);
    const result = providerState(args.type, args.name, args.inputs);
    this.registered.set(key, { inputs: args.inputs, state: result.state, custom: args.custom ?? true, provider: args.provider || undefined });
    return result;
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    const handler = this.handlers[args.token];
    if (!handler) throw new Error(`the recording engine has no answer for the invoke ${args.token}`);
    this.invokes.push({ token: args.token, inputs: args.inputs, provider: args.provider || undefined });
    return handler(args.inputs);
  }
}

/** Runs `program` as the named stack and returns what it declared, and its error if it failed. */
export async function recordProgram(
  program: () => Promise<Record<string, unknown> | void> | Record<string, unknown> | void,
  options: RecordOptions,
  invokes: Record<string, InvokeHandler> = DEFAULT_INVOKES,
): Promise<Recording> {
  const mocks = new RecordingMocks(invokes);
  // preview=false: outputs missing from the mock state would otherwise stay unknown.
  await pulumi.runtime.setMocks(mocks, options.project, options.stack, false);
  pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);

  const declared = new WeakMap<pulumi.Resource, ResourceRef>();
  const order: { ref: ResourceRef; parent: pulumi.Resource | undefined; deleteBeforeReplace?: boolean }[] = [];
  let error: Error | undefined;
  const outputs = await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((args) => {
      const ref = { type: args.type, name: args.name };
      declared.set(args.resource, ref);
      order.push({ ref, parent: args.opts.parent, deleteBeforeReplace: (args.opts as pulumi.CustomResourceOptions).deleteBeforeReplace });
      return undefined;
    });
    // Caught here, not around runInPulumiStack: the stack resource would otherwise also reject an
    // internal promise nobody awaits, an unhandled rejection that kills the process (the CLI's
    // language host catches it; under mocks nothing does).
    try {
      return (await program()) ?? {};
    } catch (e) {
      error = e instanceof Error ? e : new Error(String(e));
      return {};
    }
  });
  // Drains the RPC queue (registrations and invokes started from `apply` callbacks), then drops
  // the mock monitor; the next `setMocks` installs a fresh one.
  await pulumi.runtime.disconnect();

  const resources = order.map(({ ref, parent, deleteBeforeReplace }) => {
    const seen = mocks.registered.get(`${ref.type}::${ref.name}`);
    if (!seen) throw new Error(`${ref.type} ${ref.name} was declared but never registered`);
    const parentRef = parent ? declared.get(parent) ?? null : null;
    return { ...ref, parent: parentRef, custom: seen.custom, inputs: seen.inputs, state: seen.state, ...(seen.provider ? { provider: seen.provider } : {}), ...(deleteBeforeReplace ? { deleteBeforeReplace } : {}) };
  });
  return { ...(error ? { error } : {}), resources, invokes: mocks.invokes, outputs: (outputs ?? {}) as Record<string, unknown> };
}

/** Finds exactly one recorded resource by type token and logical name; throws otherwise. */
export function findResource(recording: Recording, type: string, name?: string): RecordedResource {
  const found = recording.resources.filter((r) => r.type === type && (name === undefined || r.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ""}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
  }
  return found[0];
}
