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

export interface LockAclArgs {
  /** Lock prefix: `consul lock` acquires and releases `<lockPrefix>/.lock`. */
  lockPrefix: string;
  /** Configuration prefix the service reads. */
  configPrefix: string;
}

/** Refuses unsafe or overlapping prefixes, naming the setting. */
export function assertLockAclPrefixes(args: LockAclArgs): void {
  assertKvPrefix("lockPrefix", args.lockPrefix);
  assertKvPrefix("configPrefix", args.configPrefix);
  const overlap = prefixOverlapProblem(args.lockPrefix, args.configPrefix);
  if (overlap) throw new Error(`configPrefix: ${overlap}`);
}

/**
 * The rules, each for one reason (FACTS.md, "ACL rules `consul lock` needs"):
 * - `key_prefix "<lock>/"` write: acquire, hold and release `<lock>/.lock`;
 * - `key_prefix "<config>/"` read: the service's configuration, and nothing else of KV;
 * - `session_prefix ""` write: `consul lock` creates a session on the node of the agent that
 *   answers, which for pods talking to the servers is a server's node, not known in advance;
 *   an exact `session ""` rule would not match it (hashicorp/consul-esm#107);
 * - `agent_prefix ""` read: `consul lock` calls `/v1/agent/self` before locking.
 */
export function lockAclRules(args: LockAclArgs): AclRules {
  assertLockAclPrefixes(args);
  return {
    key_prefix: {
      [aclKeyPrefix(args.lockPrefix)]: { policy: "write" },
      [aclKeyPrefix(args.configPrefix)]: { policy: "read" },
    },
    session_prefix: { "": { policy: "write" } },
    agent_prefix: { "": { policy: "read" } },
  };
}

/** The rules as the JSON document Consul's `rules` field takes. */
export function aclRulesJson(rules: AclRules): string {
  return JSON.stringify(rules);
}
