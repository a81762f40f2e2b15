/**
 * The platform's part of `mogi:consul.authMethod`, done as consul-k8s' server-acl-init does it
 * (hashicorp/consul-k8s v1.7.3, control-plane/subcommand/server-acl-init/connect_inject.go
 * `createAuthMethodTmpl`, and the chart's templates/auth-method-clusterrole(binding).yaml): a
 * reviewer ServiceAccount in namespace `consul` bound to `system:auth-delegator` (TokenReview) and
 * to a ClusterRole that may get ServiceAccounts, its JWT (here from the TokenRequest API; the chart
 * keeps a long-lived token Secret), and a Consul auth method of type kubernetes created with the
 * management token. Consul 1.14's validator (agent/consul/authmethod/kubeauth/k8s.go) then reviews
 * each login's JWT with it and GETs the ServiceAccount the review names.
 *
 * Also what the suite asks of it: TokenRequest tokens for any ServiceAccount, `consul login` with
 * the real binary, and the login tokens Consul holds for a method.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { engine } from "../../engines/paths";
import type { DeployEnvironment } from "./deployEnvironment";

export const PLATFORM_NAMESPACE = "consul";
/** The chart's `<fullname>-auth-method` ServiceAccount and ClusterRole (fullname `consul`). */
export const REVIEWER = "consul-auth-method";
const RBAC = "/apis/rbac.authorization.k8s.io/v1";

/** What `GET /v1/acl/tokens?authmethod=` lists of a login token. */
export interface LoginToken {
  AccessorID: string;
  Description: string;
  AuthMethod: string;
  Local: boolean;
  Roles?: { Name: string }[];
  Policies?: { Name: string }[];
  ServiceIdentities?: unknown[];
  CreateTime: string;
  CreateIndex: number;
}

/** A namespace, unless it exists. */
export async function ensureNamespace(env: DeployEnvironment, name: string): Promise<void> {
  const response = await env.api.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
  if (response.status !== 201 && response.status !== 409) throw new Error(`namespace ${name}: HTTP ${response.status}`);
}

export async function createServiceAccount(env: DeployEnvironment, namespace: string, name: string, annotations: Record<string, string> = {}): Promise<void> {
  await env.api.call("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, annotations } });
}

/** A JWT for the ServiceAccount from the TokenRequest API (the API server's audience). */
export async function serviceAccountToken(env: DeployEnvironment, namespace: string, name: string, expirationSeconds = 600): Promise<string> {
  const request = await env.api.call("POST", `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds } });
  return request.status.token as string;
}

/** A JWT's claims (no signature check: the API server signed it, the test only reads it). */
export function jwtClaims(jwt: string): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

/** The reviewer's RBAC and JWT, then the auth method `name` in Consul (management token). */
export async function createKubernetesAuthMethod(env: DeployEnvironment, name: string): Promise<void> {
  await ensureNamespace(env, PLATFORM_NAMESPACE);
  await createServiceAccount(env, PLATFORM_NAMESPACE, REVIEWER);
  await env.api.call("POST", `${RBAC}/clusterroles`, { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: REVIEWER }, rules: [{ apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get"] }] });
  for (const [binding, role] of [["consul-authdelegator", "system:auth-delegator"], [REVIEWER, REVIEWER]]) {
    await env.api.call("POST", `${RBAC}/clusterrolebindings`, {
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: binding },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role },
      subjects: [{ kind: "ServiceAccount", name: REVIEWER, namespace: PLATFORM_NAMESPACE }],
    });
  }
  // Longer than any suite; a platform keeps the chart's long-lived token Secret instead.
  const reviewerJwt = await serviceAccountToken(env, PLATFORM_NAMESPACE, REVIEWER, 24 * 3600);
  await env.consul.call("PUT", "/v1/acl/auth-method", {
    body: {
      Name: name, Type: "kubernetes", Description: "Kubernetes Auth Method (e2e: the platform's, as server-acl-init creates it)",
      Config: { Host: env.cluster.server, CACert: readFileSync(path.join(env.cluster.pki, "ca.crt"), "utf8"), ServiceAccountJWT: reviewerJwt },
    },
  });
}

/** The login tokens Consul holds for `method`. */
export async function loginTokens(env: DeployEnvironment, method: string): Promise<LoginToken[]> {
  return (await env.consul.call("GET", `/v1/acl/tokens?authmethod=${encodeURIComponent(method)}`)) as LoginToken[];
}

/** The pod a login token was taken for: the wrapper's `-meta pod=<name>`, in Consul's description `token created via login: {"pod":…}`. */
export function podOfToken(token: LoginToken): string | undefined {
  const json = token.Description.indexOf("{");
  return json < 0 ? undefined : (JSON.parse(token.Description.slice(json)) as { pod?: string }).pod;
}

/** `consul login` with the real binary, as the wrapper runs it: exit code, output, the token it wrote (if any). */
export function consulLogin(env: DeployEnvironment, method: string, jwt: string, pod: string): { code: number; output: string; secret?: string } {
  const dir = mkdtempSync(path.join(env.work, "login-"));
  const [bearer, sink] = [path.join(dir, "jwt"), path.join(dir, "consul-acl-token")];
  writeFileSync(bearer, jwt);
  const run = spawnSync(engine("consul"), ["login", `-method=${method}`, `-bearer-token-file=${bearer}`, `-token-sink-file=${sink}`, "-meta", `pod=${pod}`], {
    encoding: "utf8", timeout: 30_000, env: { PATH: process.env.PATH, CONSUL_HTTP_ADDR: env.consul.url },
  });
  const secret = existsSync(sink) ? readFileSync(sink, "utf8").trim() || undefined : undefined;
  return { code: run.status ?? -1, output: `${run.stdout}${run.stderr}`.trim(), secret };
}
