/**
 * What every policy file of the pack shares: the type tokens it checks, the message shape, and
 * how a Deployment's pod is read. Plain functions, so that the pack (`index.ts`) and the offline
 * check (`evaluate.ts`) run exactly the same code.
 */
import type { EnforcementLevel, PolicyResource, ReportViolation, ResourceValidationPolicy } from "@pulumi/policy";

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Props = Record<string, any>;

export const TYPES = {
  deployment: "kubernetes:apps/v1:Deployment",
  pdb: "kubernetes:policy/v1:PodDisruptionBudget",
  service: "kubernetes:core/v1:Service",
  serviceAccount: "kubernetes:core/v1:ServiceAccount",
  secret: "kubernetes:core/v1:Secret",
  aclPolicy: "consul:index/aclPolicy:AclPolicy",
  aclToken: "consul:index/aclToken:AclToken",
  aclRole: "consul:index/aclRole:AclRole",
  aclBindingRule: "consul:index/aclBindingRule:AclBindingRule",
  keyPrefix: "consul:index/keyPrefix:KeyPrefix",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
} as const;

/** Every message says what is wrong, why, and how to fix it. */
export const fail = (what: string, why: string, fix: string) => `${what}: ${why}. Fix: ${fix}.`;

/** A resource policy for one type token; `check` sees the resource's inputs. */
export function onType(
  type: string,
  name: string,
  description: string,
  enforcementLevel: EnforcementLevel,
  check: (props: Props, report: (message: string) => void) => void,
): ResourceValidationPolicy {
  return {
    name,
    description,
    enforcementLevel,
    validateResource: (args, reportViolation: ReportViolation) => {
      if (args.type === type) check(args.props ?? {}, (message) => reportViolation(message));
    },
  };
}

export const podSpec = (d: Props): Props => d.spec?.template?.spec ?? {};
/** Init containers first, then the containers: every container of the pod. */
export const containersOf = (d: Props): Props[] => [...(podSpec(d).initContainers ?? []), ...(podSpec(d).containers ?? [])];
/** Mogi's container: the first one (the component puts it there; injected sidecars come later). */
export const mainContainer = (d: Props): Props | undefined => podSpec(d).containers?.[0];
/** A container's environment variable with a literal value, if any. */
export const envValue = (c: Props | undefined, name: string): string | undefined => {
  const value = (c?.env ?? []).find((e: Props) => e.name === name)?.value;
  return typeof value === "string" ? value : undefined;
};

export const selects = (selector: Props | undefined, labels: Props | undefined) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
export const sameNamespace = (a: Props, b: Props) => (a.metadata?.namespace ?? "default") === (b.metadata?.namespace ?? "default");
export const label = (r: PolicyResource) => `${r.type.split(":").pop()} ${r.name}`;
