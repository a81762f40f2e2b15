/**
 * The pod after consul-k8s' webhook has injected its containers is still admitted by Pod Security
 * `restricted` (which the stack's own namespace enforces) and OpenShift's restricted-v2. The
 * webhook is not run here: test/support/consulK8sInjector.ts is a model of it, from its source
 * (consul-k8s v1.7.3), with the file and line of each row.
 */
import { renderStack } from "../infra/render/render";
import { listStacks, loadStackConfig } from "../infra/stacks";
import { ConsulK8sCluster, injectedContainers, restrictedViolations } from "./support/consulK8sInjector";

/* eslint-disable @typescript-eslint/no-explicit-any */
const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const TPROXY = "consul.hashicorp.com/transparent-proxy";

/** Every way the chart may be installed; transparent proxy on by default, as the chart ships it. */
const CLUSTERS: ConsulK8sCluster[] = [false, true].flatMap((cni) => [false, true].flatMap((openshift) => [false, true].map((acls) => ({ cni, openshift, acls, transparentProxyDefault: true }))));
const named = (c: ConsulK8sCluster) => `${c.openshift ? "OpenShift" : "Kubernetes"} ${c.cni ? "with" : "without"} the Consul CNI, ACLs ${c.acls ? "on" : "off"}`;
/** Mount paths of the pod's own containers, where the webhook looks for a service-account token. */
const mountPaths = (template: any): string[] => template.spec.containers.flatMap((c: any) => (c.volumeMounts ?? []).map((m: any) => m.mountPath));

/** Each container of the pod as admitted after injection, with what `restricted` refuses in it. */
function admission(template: any, cluster: ConsulK8sCluster): Record<string, string[]> {
  const pod = template.spec.securityContext ?? {};
  const injected = injectedContainers(template.metadata.annotations ?? {}, cluster, pod.runAsUser, mountPaths(template));
  const all = [...(template.spec.initContainers ?? []), ...template.spec.containers, ...injected];
  return Object.fromEntries(all.map((c: any) => [c.name, restrictedViolations(c.securityContext, pod)]));
}
const refused = (result: Record<string, string[]>) => Object.entries(result).filter(([, problems]) => problems.length > 0);

const templates: Record<string, any> = {};
beforeAll(async () => {
  for (const stack of listStacks()) {
    const render = await renderStack(stack);
    templates[stack] = (render.resources.find((r) => r.type === DEPLOYMENT)?.inputs as any)?.spec.template;
  }
}, 60_000);

describe.each(listStacks())("stack %s", (stack) => {
  /** A stack that says its cluster runs the Consul CNI is checked only against such clusters. */
  const clusters = () => (loadStackConfig(stack).config["mogi:consulCni"] === "true" ? CLUSTERS.filter((c) => c.cni) : CLUSTERS);

  test("gets consul-k8s' init container and sidecar, and every container of the injected pod is admitted by restricted", () => {
    for (const cluster of clusters()) {
      const result = admission(templates[stack], cluster);
      expect(Object.keys(result)).toEqual(expect.arrayContaining(["consul-connect-inject-init", "consul-dataplane"]));
      expect({ cluster: named(cluster), refused: refused(result) }).toEqual({ cluster: named(cluster), refused: [] });
    }
  });
});

describe("the model", () => {
  const template = () => structuredClone(templates.dev);

  test("without the pod's transparent-proxy \"false\", a cluster without the CNI gets a root NET_ADMIN init container (privileged on OpenShift) that restricted refuses", () => {
    const pod = template();
    delete pod.metadata.annotations[TPROXY];
    expect(refused(admission(pod, { cni: false, openshift: false, transparentProxyDefault: true, acls: true }))).toEqual([
      ["consul-connect-inject-init", ["adds NET_ADMIN", "does not drop ALL capabilities", "allowPrivilegeEscalation is not false", "runAsNonRoot is not true", "runs as UID 0"]],
    ]);
    expect(refused(admission(pod, { cni: false, openshift: true, transparentProxyDefault: true, acls: true }))[0][1]).toContain("privileged");
    // With the CNI doing the redirection, transparent proxy is admitted (what consulCni: true declares).
    for (const openshift of [false, true]) expect(refused(admission(pod, { cni: true, openshift, transparentProxyDefault: true, acls: true }))).toEqual([]);
  });

  test("with consul-k8s' ACLs, a pod that mounts no service-account token is refused by the webhook: the pod would never be created", () => {
    const pod = template();
    const acls = { ...CLUSTERS[0], acls: true };
    expect(refused(admission(pod, acls))).toEqual([]);
    pod.spec.containers[0].volumeMounts = pod.spec.containers[0].volumeMounts.filter((m: any) => m.name !== "service-account-token");
    expect(() => admission(pod, acls)).toThrow("unable to find service account token volumeMount");
    expect(refused(admission(pod, { ...acls, acls: false }))).toEqual([]);
  });

  test("connect-inject \"false\" adds nothing; consul-dataplane's own UID on the pod is refused by the webhook", () => {
    const cluster = CLUSTERS[0];
    expect(injectedContainers({ "consul.hashicorp.com/connect-inject": "false" }, cluster)).toEqual([]);
    expect(() => injectedContainers(template().metadata.annotations, cluster, 5995)).toThrow("consul-dataplane's");
  });
});
