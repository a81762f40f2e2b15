/**
 * The Consul token's reach: its policy may grant no more than components/consulAcl.ts emits for
 * this stack's own prefixes, and the token carries nothing else. `consul-acl-least-privilege`
 * catches the worst grants in any policy; this one holds the stack's token to its exact shape.
 *
 * The maximum is written here, not computed by calling the component: a change that widens the
 * component must also change this file, which its code owners review (.github/CODEOWNERS).
 */
import type { StackValidationPolicy } from "@pulumi/policy";
import { loginSelector, SESSION_NODE_PREFIX_ANNOTATION } from "../../components/consulAcl";
import { containersOf, envValue, fail, label, podSpec, Props, TYPES } from "./shared";

type Access = "read" | "write" | "list" | "deny";
/** What a rule may grant under a maximum: the maximum itself or less (deny < list < read < write). */
const WITHIN: Record<"read" | "write", readonly Access[]> = { write: ["write", "read", "list", "deny"], read: ["read", "list", "deny"] };

/** Where the pod's settings name its prefixes (components/singletonPod.ts). */
const LOCK_PREFIX_ENV = "CONSUL_LOCK_PREFIX";
const CONFIG_PREFIX_ENV = "MOGI_CONSUL_CONFIG_PREFIX";

/**
 * Rule kinds the token may have, each with the most it may grant: what lockAclRules emits.
 * - key_prefix/key: write under `<lock prefix>/`, read under `<config prefix>/`, else deny only;
 * - session_prefix/session: write, on nodes whose names start with the stack's session node
 *   prefix (the Deployment's SESSION_NODE_PREFIX_ANNOTATION, from mogi:consul.sessionNodePrefix):
 *   Consul checks session write against the session's node only, so a shorter prefix (`""` above
 *   all) lets the token destroy other services' sessions and release their locks;
 * - agent_prefix/agent: read, on the same nodes (`consul lock` reads /v1/agent/self there).
 * A narrower rule (a longer prefix, a lesser access, deny) always passes. Every other kind (acl,
 * operator, keyring, node, service, event, query, mesh, peering, ...) is refused, whatever it grants.
 */
const NODE_SCOPED: Record<string, "read" | "write"> = { session_prefix: "write", session: "write", agent_prefix: "read", agent: "read" };
const KEY_KINDS = ["key_prefix", "key"];
/** Token fields that grant rights beyond its policies (a role's: the same without `roles`). */
const TOKEN_EXTRAS = ["roles", "serviceIdentities", "nodeIdentities", "templatedPolicies"];
const ROLE_EXTRAS = TOKEN_EXTRAS.filter((field) => field !== "roles");

/** The selector that binds a login to a Deployment's own ServiceAccount (components/consulAcl.ts). */
export const ownLoginSelector = (d: Props): string => loginSelector(d.metadata?.namespace ?? "default", podSpec(d).serviceAccountName ?? "default");

/** The stack's own scope: its prefixes as its pods are told them, its nodes as its Deployments state them. */
export interface StackScope {
  lock: string[];
  config: string[];
  nodes: string[];
}

function stackScope(deployments: Props[]): StackScope {
  const values = (name: string) => deployments.flatMap((d) => containersOf(d).map((c) => envValue(c, name))).filter((v): v is string => !!v);
  const nodes = deployments.map((d) => d.metadata?.annotations?.[SESSION_NODE_PREFIX_ANNOTATION]).filter((v): v is string => typeof v === "string" && v !== "");
  return { lock: values(LOCK_PREFIX_ENV), config: values(CONFIG_PREFIX_ENV), nodes };
}

const isAccess = (v: unknown): v is Access => v === "read" || v === "write" || v === "list" || v === "deny";

/** One rule kind's grants as [name, access]; undefined when the shape is not Consul's JSON rule form. */
function grantsOf(value: unknown): [string, unknown][] | undefined {
  const blocks = Array.isArray(value) ? value : [value];
  if (!blocks.every((b) => typeof b === "object" && b !== null && !Array.isArray(b))) return undefined;
  return blocks.flatMap((block) => Object.entries(block as Props).map(([name, rule]): [string, unknown] => [name, (rule as Props | null)?.policy]));
}

/** Each grant of `rules` beyond the maximum, described; or the reason the rules cannot be checked. */
export function grantsBeyond(rules: unknown, prefixes: StackScope): string[] {
  let parsed: unknown;
  try {
    parsed = typeof rules === "string" ? JSON.parse(rules) : undefined;
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return ["rules that are not the JSON rule document components/consulAcl.ts emits (they cannot be checked)"];
  const beyond: string[] = [];
  for (const [kind, value] of Object.entries(parsed as Props)) {
    const grants = grantsOf(value);
    const scoped = NODE_SCOPED[kind];
    if (!KEY_KINDS.includes(kind) && !scoped) {
      beyond.push(typeof value === "string" ? `${kind} = ${JSON.stringify(value)}` : `${kind} rules (${(grants ?? []).map(([name]) => JSON.stringify(name)).join(", ") || "any"})`);
      continue;
    }
    if (!grants) {
      beyond.push(`${kind} in a form that cannot be checked`);
      continue;
    }
    for (const [name, access] of grants) {
      const shown = `${kind} ${JSON.stringify(name)} ${JSON.stringify(access)}`;
      if (!isAccess(access)) beyond.push(shown);
      else if (scoped) {
        const onOwnNodes = prefixes.nodes.some((p) => name.startsWith(p));
        if (!WITHIN[scoped].includes(access) || (access !== "deny" && !onOwnNodes)) beyond.push(shown);
      } else {
        const under = (list: string[]) => list.some((p) => name.startsWith(`${p}/`));
        const max = under(prefixes.lock) ? "write" : under(prefixes.config) ? "read" : undefined;
        if (max ? !WITHIN[max].includes(access) : access !== "deny") beyond.push(shown);
      }
    }
  }
  return beyond;
}

export const consulAclOwnPrefixesOnly: StackValidationPolicy = {
  name: "consul-acl-own-prefixes-only",
  description: "The stack's Consul token grants only its own lock (write) and configuration (read) prefixes, and sessions (write) and agent reads on its own Consul server nodes, as components/consulAcl.ts emits; a login gets it only for the stack's own pods' ServiceAccount.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const scope = stackScope(args.resources.filter((r) => r.type === TYPES.deployment).map((d) => d.props));
    const policies = args.resources.filter((r) => r.type === TYPES.aclPolicy);
    const list = (values: string[], suffix = "") => values.map((p) => `"${p}${suffix}"`).join(", ") || "(none)";
    const ownScope = `lock ${list(scope.lock, "/")}, configuration ${list(scope.config, "/")}, session and agent nodes ${list(scope.nodes)}`;
    for (const policy of policies) {
      const beyond = grantsBeyond(policy.props.rules, scope);
      if (beyond.length) {
        reportViolation(fail(`${label(policy)} (${JSON.stringify(policy.props.name)}) grants ${beyond.join(", ")}, beyond the stack's own scope (${ownScope})`, "a leaked pod token could then read or change other services' keys, destroy other services' sessions and so release their locks, or act on Consul's catalog, ACLs and operator endpoints", `grant only what components/consulAcl.ts emits for this stack's lockPrefix, configPrefix and sessionNodePrefix (the Deployment's ${SESSION_NODE_PREFIX_ANNOTATION} annotation)`), policy.urn);
      }
    }
    const policyNames = new Set(policies.map((p) => p.props.name));
    // A token, and a role a login gets: the stack's own policies and nothing else.
    for (const holder of args.resources.filter((r) => r.type === TYPES.aclToken || r.type === TYPES.aclRole)) {
      const foreign = ((holder.props.policies ?? []) as unknown[]).filter((name) => !policyNames.has(name));
      const extras = (holder.type === TYPES.aclRole ? ROLE_EXTRAS : TOKEN_EXTRAS).filter((field) => Array.isArray(holder.props[field]) && holder.props[field].length > 0);
      if (foreign.length || extras.length) {
        const what = [...foreign.map((name) => `policy ${JSON.stringify(name)}, which this stack does not declare`), ...extras.map((field) => `${field}`)];
        reportViolation(fail(`${label(holder)} also carries ${what.join(", ")}`, "their rights are not the stack's reviewed policy (a management policy or a service identity grants far more)", "attach only the stack's own AclPolicy (ConsulAccess)"), holder.urn);
      }
    }
    // Who gets those rights by logging in: the stack's own pods' ServiceAccounts, and only its roles.
    const roleNames = new Set(args.resources.filter((r) => r.type === TYPES.aclRole).map((r) => r.props.name));
    const ownSelectors = args.resources.filter((r) => r.type === TYPES.deployment).map((d) => ownLoginSelector(d.props));
    for (const rule of args.resources.filter((r) => r.type === TYPES.aclBindingRule)) {
      const { bindType, bindName, selector } = rule.props;
      if (bindType !== "role" || !roleNames.has(bindName)) {
        reportViolation(fail(`${label(rule)} binds ${JSON.stringify(bindType)} ${JSON.stringify(bindName)}, not a role of this stack`, "a service or node identity, or a role reviewed elsewhere, is not the stack's policy (a service identity reads the whole catalog)", "bind the role ConsulAccess declares (bindType: role)"), rule.urn);
      }
      if (!ownSelectors.includes(selector)) {
        reportViolation(fail(`${label(rule)} selects ${JSON.stringify(selector ?? "")}, not the ServiceAccount of a Deployment of this stack (${ownSelectors.map((x) => JSON.stringify(x)).join(", ") || "none"})`, "every other ServiceAccount it matches could log in and hold or delete this stack's lock (an empty selector matches every ServiceAccount of the cluster)", "select exactly the pod's namespace and ServiceAccount, as components/consulAcl.ts loginSelector does"), rule.urn);
      }
    }
  },
};
