/**
 * The lock scripts, shipped verbatim in one ConfigMap. The wrapper (`scripts/consul-lock-wrapper.sh`)
 * is the main container's command: it validates its settings and runs
 * `consul lock -shell=false -child-exit-code -name=$POD_NAME $CONSUL_LOCK_PREFIX <guard> <mogi command…>`,
 * again after every lost lock. The guard (`scripts/consul-lock-guard.sh`) runs Mogi and stops it
 * when the lock cannot be confirmed within a deadline (components/lockTiming.ts says why in time).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";

export const LOCK_WRAPPER_FILE = "consul-lock-wrapper.sh";
export const LOCK_GUARD_FILE = "consul-lock-guard.sh";

const script = (file: string) => readFileSync(path.join(__dirname, "scripts", file), "utf8");
/** The scripts' texts, read once from the files kept in the repository. */
export const LOCK_WRAPPER_SCRIPT = script(LOCK_WRAPPER_FILE);
export const LOCK_GUARD_SCRIPT = script(LOCK_GUARD_FILE);

/**
 * Environment variables the wrapper reads. CONSUL_HTTP_* and CONSUL_CACERT are also read by
 * `consul` itself (FACTS.md, `consul lock` HTTP flags/env).
 */
export const LockWrapperEnv = {
  httpAddr: "CONSUL_HTTP_ADDR",
  tokenFile: "CONSUL_HTTP_TOKEN_FILE",
  caCert: "CONSUL_CACERT",
  lockPrefix: "CONSUL_LOCK_PREFIX",
  podName: "POD_NAME",
  binDir: "CONSUL_BIN_DIR",
  retrySeconds: "CONSUL_RETRY_SECONDS",
  stateDir: "CONSUL_LOCK_STATE_DIR",
  checkSeconds: "CONSUL_LOCK_CHECK_SECONDS",
  deadlineSeconds: "CONSUL_LOCK_DEADLINE_SECONDS",
  mogiGraceSeconds: "MOGI_GRACE_SECONDS",
  /** Set by the wrapper for the guard: the key `consul lock` holds. */
  lockKey: "CONSUL_LOCK_KEY",
} as const;

/**
 * Seconds between the wrapper's checks while Consul is unreachable: short enough that Mogi starts
 * soon after Consul returns, long enough not to flood Consul or the log.
 */
export const CONSUL_RETRY_SECONDS = 3;

/** Where Consul's `consul lock` keeps its lock: the key `<prefix>/.lock` (FACTS.md). */
export function lockKey(prefix: string): string {
  return `${prefix}/.lock`;
}

/** The port `consul` connects to for an `http(s)://host[:port]` address, or undefined if it is not one. */
export function consulAddrPort(httpAddr: string): string | undefined {
  let url: URL;
  try {
    url = new URL(httpAddr);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  return url.port || (url.protocol === "https:" ? "443" : "80");
}
