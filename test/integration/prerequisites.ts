/**
 * When the integration suites can run: they need the Pulumi CLI, a cluster and Consul, none of
 * which can be installed on the CI machine. Missing any, each suite is skipped with one line
 * saying exactly what is missing.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { findOnPath } from "../../infra/automation/pulumiCli";

export type Prerequisites = { ready: true } | { ready: false; missing: string };

export function integrationPrerequisites(
  env: NodeJS.ProcessEnv = process.env,
  onPath: (name: string, searchPath?: string) => string | undefined = findOnPath,
  defaultKubeconfig = path.join(homedir(), ".kube", "config"),
): Prerequisites {
  const missing: string[] = [];
  for (const tool of ["pulumi", "kubectl"]) if (!onPath(tool, env.PATH ?? "")) missing.push(`\`${tool}\` on PATH`);
  if (!env.KUBECONFIG && !existsSync(defaultKubeconfig)) missing.push("KUBECONFIG (or ~/.kube/config) for a cluster");
  if (!env.CONSUL_HTTP_ADDR) missing.push("CONSUL_HTTP_ADDR (Consul reachable from here)");
  if (!env.CONSUL_HTTP_TOKEN) missing.push("CONSUL_HTTP_TOKEN (a management token, e.g. the Helm chart's bootstrap token)");
  if (!env.MOGI_TEST_IMAGE) missing.push("MOGI_TEST_IMAGE (built by test/integration/env/up.sh)");
  return missing.length ? { ready: false, missing: missing.join(", ") } : { ready: true };
}

/** `describe` when the environment is there; otherwise one line and `describe.skip`. */
export function describeIfReady(title: string, body: () => void, prerequisites = integrationPrerequisites()): void {
  if (prerequisites.ready) {
    describe(title, body);
  } else {
    console.log(`skipped: ${title}: missing ${prerequisites.missing}`);
    describe.skip(title, body);
  }
}
