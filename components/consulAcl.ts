/**
 * The least-privilege Consul ACL rules for a service that runs under `consul lock` and reads
 * its configuration from KV, generated as JSON from typed data (Consul accepts HCL or JSON rules;
 * docs/reference/acl/rule.mdx).
 */
import { aclKeyPrefix, assertKvPrefix, prefixOverlapProblem } from "./consulKv";

export type AclAccess = "read" | "write" | "list" | "deny";
type RuleSet = Record<string, { policy: AclAccess }>;

/** The rule kinds this project grants; a kind not listed here cannot be emitted. */
export interface AclRules {
  key_prefix: RuleSet;
  session_prefix: RuleSet;
  agent_prefix: RuleSet;
}

/**
 * The node-name prefix of the Consul servers with the consul-k8s chart's `global.name: consul`
 * (what the default `consul-server.consul.svc` assumes): the chart runs the servers as StatefulSet
 * `<fullname>-server` and passes no `-node`, so each takes its pod's hostname, `consul-server-<n>`
 * (server-statefulset.yaml; agent/config/builder.go `nodeName` falls back to os.Hostname). Without
 * `global.name` the fullname is `<release>-consul`: `<release>-consul-server-`.
 */
export const DEFAULT_SESSION_NODE_PREFIX = "consul-server-";
/** Deployment annotation naming the prefix, for the policy pack (infra/policy/consulAclPolicies.ts). */
export const SESSION_NODE_PREFIX_ANNOTATION = "mogi/consul-session-node-prefix";

/** A prefix of a node name: what a pod's hostname (a DNS-1123 label) can start with. */
const NODE_PREFIX = /^[a-z0-9][a-z0-9-]{0,61}$/;

/** Why `prefix` cannot scope the token's session and agent rules, or undefined. */
export function sessionNodePrefixProblem(prefix: string): string | undefined {
  if (prefix === "") return `must not be empty: an empty prefix matches every node, so the token could destroy every session in the datacenter (other services' locks); use the servers' prefix, "${DEFAULT_SESSION_NODE_PREFIX}" for the consul-k8s chart with global.name "consul"`;
  if (!NODE_PREFIX.test(prefix)) return `must be the start of the Consul servers' node names: 1-62 lowercase letters, digits and '-', starting with a letter or digit, a plain prefix without wildcards (e.g. "${DEFAULT_SESSION_NODE_PREFIX}")`;
  return undefined;
}

export interface LockAclArgs {
  /** Lock prefix: `consul lock` acquires and releases `<lockPrefix>/.lock`. */
  lockPrefix: string;
  /** Configuration prefix the service reads. */
  configPrefix: string;
  /** Start of the node names of the Consul agents the pod's requests reach (the servers). */
  sessionNodePrefix: string;
}

/** Refuses unsafe or overlapping prefixes, naming the setting. */
export function assertLockAclPrefixes(args: LockAclArgs): void {
  assertKvPrefix("lockPrefix", args.lockPrefix);
  assertKvPrefix("configPrefix", args.configPrefix);
  const overlap = prefixOverlapProblem(args.lockPrefix, args.configPrefix);
  if (overlap) throw new Error(`configPrefix: ${overlap}`);
  const nodeProblem = sessionNodePrefixProblem(args.sessionNodePrefix);
  if (nodeProblem) throw new Error(`sessionNodePrefix: ${JSON.stringify(args.sessionNodePrefix)} ${nodeProblem}`);
}

/**
 * The rules, each for one reason (hashicorp/consul v1.14.11):
 * - `key_prefix "<lock>/"` write: acquire, hold and release `<lock>/.lock` (and the wrapper's
 *   `.fence`); KV acquire checks key write only (agent/consul/kvs_endpoint.go `kvsPreApply`);
 * - `key_prefix "<config>/"` read: the service's configuration, and nothing else of KV;
 * - `session_prefix "<servers>"` write: `consul lock` creates its session with no `Node`
 *   (api/lock.go `createSession`), so the answering agent fills in its own node name
 *   (agent/session_endpoint.go `SessionCreate`); with no client agents that is a server's node.
 *   Create, renew and destroy each check `session` write on the session's node only
 *   (agent/consul/session_endpoint.go), so `""` would reach every session in the datacenter.
 *   An exact `session "<node>"` rule would tie the token to one server (hashicorp/consul-esm#107);
 * - `agent_prefix "<servers>"` read: `consul lock` first calls `Agent().NodeName()`, i.e.
 *   `/v1/agent/self` (command/lock/lock.go), which checks `agent` read on the answering agent's
 *   own node name (agent/agent_endpoint.go `AgentSelf`); so does the wrapper's `consul info`.
 * Nothing else: no `node` read (session create does not check it), no catalog, no ACL.
 */
export function lockAclRules(args: LockAclArgs): AclRules {
  assertLockAclPrefixes(args);
  return {
    key_prefix: {
      [aclKeyPrefix(args.lockPrefix)]: { policy: "write" },
      [aclKeyPrefix(args.configPrefix)]: { policy: "read" },
    },
    session_prefix: { [args.sessionNodePrefix]: { policy: "write" } },
    agent_prefix: { [args.sessionNodePrefix]: { policy: "read" } },
  };
}

/** The rules as the JSON document Consul's `rules` field takes. */
export function aclRulesJson(rules: AclRules): string {
  return JSON.stringify(rules);
}

/** Consul's rule for auth method names (hashicorp/consul v1.14.11, acl/validation.go `validAuthMethodName`). */
const AUTH_METHOD_NAME = /^[A-Za-z0-9\-_]{1,128}$/;

/** Why `name` cannot be a Consul auth method's name, or undefined. */
export function authMethodNameProblem(name: string): string | undefined {
  if (AUTH_METHOD_NAME.test(name)) return undefined;
  return "must be the name of a Consul auth method of type kubernetes: 1-128 letters, digits, '-' and '_' (consul-k8s names its own `<release>-consul-k8s-auth-method`; a dedicated one for Mogi is narrower, components/README.md)";
}

/**
 * The binding rule's selector: the pod's own ServiceAccount. The kubernetes auth method fills
 * `serviceaccount.namespace` and `.name` from the TokenReview of the JWT the pod presents
 * (agent/consul/authmethod/kubeauth/k8s.go `ValidateLogin`), so a ServiceAccount of another
 * namespace never matches. The name, though, is the ServiceAccount's
 * `consul.hashicorp.com/service-name` annotation when it has one: inside Mogi's namespace another
 * ServiceAccount so annotated matches too (test/e2e/deployLogin.test.ts). The namespace is the
 * boundary, as it already is: whoever may create ServiceAccounts there may run a pod as Mogi's.
 */
export function loginSelector(namespace: string, serviceAccount: string): string {
  return `serviceaccount.namespace==${JSON.stringify(namespace)} and serviceaccount.name==${JSON.stringify(serviceAccount)}`;
}
