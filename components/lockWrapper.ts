/**
 * The lock wrapper (`scripts/consul-lock-wrapper.sh`), shipped verbatim in a ConfigMap: the main
 * container's command, so its PID 1. It runs Mogi only while the pod's Consul session holds the
 * fence key and stops Mogi's whole tree before anyone else can hold it (scripts/README.md).
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";

export const LOCK_WRAPPER_FILE = "consul-lock-wrapper.sh";

/** The script's text, read once from the file kept in the repository. */
export const LOCK_WRAPPER_SCRIPT = readFileSync(path.join(__dirname, "scripts", LOCK_WRAPPER_FILE), "utf8");

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
  fenceSeconds: "CONSUL_LOCK_FENCE_SECONDS",
  loginMethod: "CONSUL_LOGIN_METHOD",
  loginBearerTokenFile: "CONSUL_LOGIN_BEARER_TOKEN_FILE",
} as const;

/** What the wrapper gives Mogi: its fencing token, and the file that holds it too. */
export const MogiFencingEnv = { token: "MOGI_FENCING_TOKEN", tokenFile: "MOGI_FENCING_TOKEN_FILE" } as const;

/**
 * Seconds between the wrapper's checks while Consul is unreachable: short enough that Mogi starts
 * soon after Consul returns, long enough not to flood Consul or the log.
 */
export const CONSUL_RETRY_SECONDS = 3;

/** Where Consul's `consul lock` keeps its lock: the key `<prefix>/.lock` (FACTS.md). */
export function lockKey(prefix: string): string {
  return `${prefix}/.lock`;
}

/** The fence key: Mogi runs only while the pod's session holds it (scripts/README.md). */
export function fenceKey(prefix: string): string {
  return `${prefix}/.fence`;
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
