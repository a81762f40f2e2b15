/**
 * Kubernetes objects as the provider would send them, from a recording, and their validation
 * against the Kubernetes OpenAPI schema (kubernetes-models) and the API server's name rules,
 * which the schema does not cover.
 */
import { nameProblem, nameRuleForKind } from "../../components/naming";
import { RecordedResource, redactSecrets } from "./recorder";

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** `kubernetes:apps/v1:Deployment` → { apiVersion: "apps/v1", kind: "Deployment" }. */
export function apiVersionAndKind(type: string): { apiVersion: string; kind: string } | undefined {
  const match = /^kubernetes:([^:]+):([A-Za-z]+)$/.exec(type);
  if (!match) return undefined;
  const [group, version] = match[1].split("/");
  return { apiVersion: group === "core" ? version : `${group}/${version}`, kind: match[2] };
}

/** Namespaces first, so that the file applies in order with `kubectl apply -f`. */
export function kubernetesObjects(resources: RecordedResource[]): KubernetesObject[] {
  const objects = resources
    .filter((r) => r.custom && apiVersionAndKind(r.type))
    .map((r) => {
      // Ordered as kubectl prints objects: apiVersion, kind, metadata (name first), then the rest.
      const { apiVersion: _apiVersion, kind: _kind, metadata, ...rest } = redactSecrets(r.state) as KubernetesObject;
      const { name, namespace, ...more } = metadata;
      return { ...apiVersionAndKind(r.type), metadata: { name, namespace, ...more }, ...rest } as KubernetesObject;
    });
  return [...objects.filter((o) => o.kind === "Namespace"), ...objects.filter((o) => o.kind !== "Namespace")];
}

type Model = { new (data: unknown): { validate(): void } };

/** kubernetes-models class for an apiVersion/kind, loaded on first use. */
function modelFor(apiVersion: string, kind: string): Model | undefined {
  try {
    // The package mirrors apiVersions as paths: v1, apps/v1, policy/v1, …
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(`kubernetes-models/${apiVersion}`) as Record<string, Model>)[kind];
  } catch {
    return undefined;
  }
}

function containerNameProblems(object: KubernetesObject): string[] {
  const spec = (object.spec as { template?: { spec?: Record<string, unknown> } } | undefined)?.template?.spec;
  if (!spec) return [];
  const problems: string[] = [];
  for (const list of ["initContainers", "containers"] as const) {
    const containers = (spec[list] as { name: string; ports?: { name?: string }[] }[] | undefined) ?? [];
    containers.forEach((container, i) => {
      const problem = nameProblem(container.name, "dns1123-label");
      if (problem) problems.push(`spec.template.spec.${list}[${i}].name: ${problem}`);
    });
  }
  return problems;
}

/** Every problem of one object: schema violations, then name rules. */
export function validateObject(object: KubernetesObject): string[] {
  const where = `${object.kind} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata?.name}`;
  const problems: string[] = [];
  const model = modelFor(object.apiVersion, object.kind);
  if (!model) {
    problems.push(`no OpenAPI schema for ${object.apiVersion} ${object.kind}`);
  } else {
    try {
      new model(object).validate();
    } catch (error) {
      const errors = (error as { errors?: { instancePath: string; message?: string }[] }).errors;
      if (errors?.length) for (const e of errors) problems.push(`${e.instancePath || "/"}: ${e.message}`);
      else problems.push(String((error as Error).message));
    }
  }
  const nameIssue = nameProblem(String(object.metadata?.name), nameRuleForKind(object.kind));
  if (nameIssue) problems.push(`metadata.name: ${nameIssue}`);
  if (object.metadata?.namespace !== undefined) {
    const nsIssue = nameProblem(String(object.metadata.namespace), "dns1123-label");
    if (nsIssue) problems.push(`metadata.namespace: ${nsIssue}`);
  }
  problems.push(...containerNameProblems(object));
  return problems.map((p) => `${where}: ${p}`);
}
