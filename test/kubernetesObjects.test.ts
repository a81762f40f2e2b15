/* eslint-disable @typescript-eslint/no-explicit-any */
import { apiVersionAndKind, KubernetesObject, validateObject } from "../infra/render/kubernetesObjects";

const deployment = (patch: (d: any) => void = () => undefined): KubernetesObject => {
  const d = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "mogi", namespace: "mogi" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "mogi" } },
      template: { metadata: { labels: { app: "mogi" } }, spec: { containers: [{ name: "mogi", image: "x:1", resources: { limits: { cpu: "1" } } }] } },
    },
  };
  patch(d);
  return d;
};

describe("Kubernetes object validation", () => {
  test("maps Pulumi type tokens to apiVersion and kind", () => {
    expect(apiVersionAndKind("kubernetes:core/v1:ConfigMap")).toEqual({ apiVersion: "v1", kind: "ConfigMap" });
    expect(apiVersionAndKind("kubernetes:policy/v1:PodDisruptionBudget")).toEqual({ apiVersion: "policy/v1", kind: "PodDisruptionBudget" });
    expect(apiVersionAndKind("kubernetes:networking.k8s.io/v1:Ingress")).toEqual({ apiVersion: "networking.k8s.io/v1", kind: "Ingress" });
    expect(apiVersionAndKind("consul:index/keys:Keys")).toBeUndefined();
  });

  test("a valid object has no problems", () => {
    expect(validateObject(deployment())).toEqual([]);
  });

  test.each([
    ["a string where the schema wants an integer", (d: any) => (d.spec.replicas = "1"), "Deployment mogi/mogi: /spec/replicas: must be integer"],
    ["a quantity that is not one", (d: any) => (d.spec.template.spec.containers[0].resources.limits.cpu = "lots"), '/resources/limits/cpu: must match format "quantity"'],
    ["an uppercase object name", (d: any) => (d.metadata.name = "Mogi"), 'metadata.name: "Mogi" is not a valid dns1123-subdomain name'],
    ["an invalid namespace", (d: any) => (d.metadata.namespace = "Bad_NS"), 'metadata.namespace: "Bad_NS" is not a valid dns1123-label name'],
    ["an invalid container name", (d: any) => (d.spec.template.spec.containers[0].name = "Mogi_Main"), 'spec.template.spec.containers[0].name: "Mogi_Main" is not a valid dns1123-label'],
  ])("flags %s", (_label, patch, problem) => {
    expect(validateObject(deployment(patch))).toEqual(expect.arrayContaining([expect.stringContaining(problem)]));
  });

  test("a Service name must be a DNS-1035 label, which the schema does not check", () => {
    const service = { apiVersion: "v1", kind: "Service", metadata: { name: "1mogi", namespace: "mogi" }, spec: { ports: [{ port: 80 }] } };
    expect(validateObject(service)).toEqual([expect.stringContaining('Service mogi/1mogi: metadata.name: "1mogi" is not a valid dns1035-label name')]);
  });

  test("a kind without a schema is reported, not silently passed", () => {
    expect(validateObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).toEqual(["Widget w: no OpenAPI schema for example.com/v1 Widget"]);
  });
});
