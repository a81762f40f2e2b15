/**
 * Evaluates the policies in-process, the way the engine does, on resources as the offline render
 * writes them: resource policies get each resource's type token and inputs (after any remediation,
 * applied first and in pack order), stack policies get the whole list.
 */
import type { EnforcementLevel, PolicyPackConfig, PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { allPolicies, resourcePolicies, stackPolicies } from "./policies";

export interface OfflineResource {
  type: string;
  name: string;
  parent?: { type: string; name: string } | null;
  inputs: Record<string, unknown>;
}

export interface Violation {
  level: EnforcementLevel;
  policy: string;
  resource: string;
  message: string;
}

/** Policy pack configuration that makes the advisory production policies mandatory. */
export const PRODUCTION_CONFIG_FILE = path.join(__dirname, "production.json");

export function productionConfig(): PolicyPackConfig {
  return JSON.parse(readFileSync(PRODUCTION_CONFIG_FILE, "utf8")) as PolicyPackConfig;
}

/** The level a policy runs at: the pack config's override, else its own. */
export function levelOf(policy: { name: string; enforcementLevel?: EnforcementLevel }, config: PolicyPackConfig = {}): EnforcementLevel {
  const override = config[policy.name] ?? config.all;
  if (typeof override === "string") return override;
  return override?.enforcementLevel ?? policy.enforcementLevel ?? "advisory";
}

class NotApplicable extends Error {}
const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

function urnOf(r: OfflineResource, stack: string): string {
  const type = r.parent ? `${r.parent.type}$${r.type}` : r.type;
  return `urn:pulumi:${stack}::mogi::${type}::${r.name}`;
}

function policyResource(r: OfflineResource, props: Record<string, unknown>, stack: string): PolicyResource {
  return {
    type: r.type,
    name: r.name,
    urn: urnOf(r, stack),
    props,
    opts: {} as PolicyResource["opts"],
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  };
}

/** What a resource policy receives for one resource. */
function validationArgs(resource: PolicyResource, stackTags: ReadonlyMap<string, string>): ResourceValidationArgs {
  const { type, name, urn, props, opts } = resource;
  return { type, name, urn, props, opts, stackTags, getConfig: <T extends object>() => ({}) as T, notApplicable, isType: () => false, asType: () => undefined };
}

async function run(fn: () => Promise<void> | void): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof NotApplicable)) throw error;
  }
}

export async function evaluatePolicies(resources: OfflineResource[], config: PolicyPackConfig = {}, stack = "offline"): Promise<Violation[]> {
  const violations: Violation[] = [];
  const active = <T extends ResourceValidationPolicy | StackValidationPolicy>(list: T[]) => list.filter((p) => levelOf(p, config) !== "disabled");
  const stackTags = new Map<string, string>();
  const getConfig = <T extends object>() => ({}) as T;

  const evaluated: PolicyResource[] = [];
  for (const r of resources) {
    let props = structuredClone(r.inputs);
    for (const policy of active(resourcePolicies).filter((p) => p.remediateResource)) {
      const args = validationArgs(policyResource(r, props, stack), stackTags);
      await run(async () => {
        props = ((await policy.remediateResource?.(args)) as Record<string, unknown> | undefined) ?? props;
      });
    }
    const resource = policyResource(r, props, stack);
    evaluated.push(resource);
    for (const policy of active(resourcePolicies)) {
      const validations = [policy.validateResource ?? []].flat();
      for (const validate of validations) {
        await run(() =>
          validate(validationArgs(resource, stackTags), (message) =>
            violations.push({ level: levelOf(policy, config), policy: policy.name, resource: `${r.type} ${r.name}`, message }),
          ),
        );
      }
    }
  }
  for (const policy of active(stackPolicies)) {
    await run(() =>
      policy.validateStack({ resources: evaluated, stackTags, getConfig, notApplicable }, (message, urn) => {
        const resource = evaluated.find((r) => r.urn === urn);
        violations.push({ level: levelOf(policy, config), policy: policy.name, resource: resource ? `${resource.type} ${resource.name}` : "(stack)", message });
      }),
    );
  }
  return violations;
}

export const isMandatory = (v: Violation) => v.level === "mandatory" || v.level === "remediate";

/** Names of every policy, for documentation and tests. */
export const policyNames = () => allPolicies.map((p) => p.name);
