/**
 * Consul KV prefixes: what makes one safe to hand to `consul lock` and to an ACL rule.
 */

/** Segments of letters, digits, '_', '-' and '.', joined by single '/'; no leading or trailing '/'. */
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const KV_PREFIX_MAX = 256;

/** Returns why `prefix` is unsafe, or undefined when it is acceptable. */
export function kvPrefixProblem(prefix: string): string | undefined {
  if (prefix.length === 0) return "must not be empty (an empty prefix is the whole KV store)";
  if (prefix.startsWith("/")) return "must not start with '/' (Consul keys are relative; a leading '/' is a different key)";
  if (prefix.endsWith("/")) return "must not end with '/' (the separator is added where needed, as in `<prefix>/.lock`)";
  if (prefix.length > KV_PREFIX_MAX) return `must be at most ${KV_PREFIX_MAX} characters`;
  const bad = prefix.split("/").find((segment) => !SEGMENT.test(segment));
  if (bad !== undefined) {
    return `has the segment ${JSON.stringify(bad)}: segments are letters, digits, '_', '-' and '.', not starting with '.' or '-', separated by single '/'`;
  }
  return undefined;
}

export function assertKvPrefix(setting: string, prefix: string): void {
  const problem = kvPrefixProblem(prefix);
  if (problem) throw new Error(`${setting}: ${JSON.stringify(prefix)} ${problem}`);
}

/**
 * The string an ACL `key_prefix` rule uses for `prefix`. Consul matches `key_prefix` as a plain
 * string prefix, so "service/mogi/lock" would also match "service/mogi/lockdown/…"; the trailing
 * '/' limits the rule to keys below the prefix, such as `<prefix>/.lock`.
 */
export function aclKeyPrefix(prefix: string): string {
  return `${prefix}/`;
}

/** True when one prefix's keys are inside the other's (they share a subtree). */
export function kvPrefixesOverlap(a: string, b: string): boolean {
  const [x, y] = [aclKeyPrefix(a), aclKeyPrefix(b)];
  return x.startsWith(y) || y.startsWith(x);
}

/** Why a configuration prefix may not sit next to a lock prefix, or undefined when they are apart. */
export function prefixOverlapProblem(lockPrefix: string, configPrefix: string): string | undefined {
  if (!kvPrefixesOverlap(lockPrefix, configPrefix)) return undefined;
  return `${JSON.stringify(configPrefix)} overlaps the lock prefix ${JSON.stringify(lockPrefix)}: a shared subtree would give the lock's write access to configuration keys (or the reverse); use disjoint prefixes`;
}
