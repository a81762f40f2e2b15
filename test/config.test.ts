import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ConfigError, imagePinProblem, parseSettings } from "../infra/config";
import { mogiProgram } from "../infra/program";
import { recordProgram, redactSecrets } from "../infra/render/recorder";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CA_FILE = path.join("stacks", "consul-ca", "staging.pem");
const context = (env: Record<string, string> = {}) => ({ projectDir: path.join(__dirname, ".."), env });

/** A valid configuration as the CLI delivers it: text, structured values as JSON text. */
function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    environment: "production",
    image: "quay.io/example/mogi:1.4.2",
    command: JSON.stringify(["/usr/local/bin/mogi", "serve"]),
    createNamespace: "false",
    readOnlyRootFilesystem: "true",
    networkPolicy: JSON.stringify({ dns: "openshift-dns", ingressFrom: [{ namespace: "clients" }] }),
    consul: JSON.stringify({ address: "consul.example.com:443", scheme: "https", caFrom: { kind: "Secret", name: "consul-ca-cert", key: "tls.crt" }, providerCaPem: PEM }),
    ...overrides,
  };
}
const consul = (fields: Record<string, unknown>) => JSON.stringify({ address: "consul.example.com", ...fields });

function problemsOf(input: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    parseSettings(input, context(env));
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected the configuration to be refused");
}

describe("configuration", () => {
  test("defaults fill everything not set", () => {
    const s = parseSettings(raw({ environment: "development", createNamespace: undefined, consul: consul({}) }));
    expect(s).toMatchObject({
      name: "mogi",
      namespace: "mogi",
      createNamespace: true,
      port: 8080,
      healthPath: "/health",
      pdb: "allow-drain",
      maxUnavailable: 1,
      terminationGracePeriodSeconds: 30,
      nodeLossTolerationSeconds: 10,
      connectInject: true,
      consulCni: false,
      consul: { scheme: "http", inClusterHost: "consul-server.consul.svc", lockPrefix: "service/mogi/lock", configPrefix: "service/mogi/config", sessionNodePrefix: "consul-server-", imageHasConsul: false },
    });
    expect(s.consul.binaryImage).toMatch(/^hashicorp\/consul:\d+\.\d+\.\d+$/);
  });

  test("quantities, labels, annotations and env names that Kubernetes accepts pass", () => {
    const s = parseSettings(raw({
      resources: JSON.stringify({ requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: 2, memory: "1Gi" } }),
      podLabels: JSON.stringify({ "example.com/team": "platform", tier: "" }),
      podAnnotations: JSON.stringify({ "example.com/owner": "Platform Team <pt@example.com>" }),
      serviceMeta: JSON.stringify({ owner: "platform-team" }),
      env: JSON.stringify({ MOGI_LOG_FORMAT: "json", "app.mode": "x" }),
    }));
    expect(s.resources).toEqual({ requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } });
  });

  test("numbers and booleans arrive as text and are typed", () => {
    const s = parseSettings(raw({ port: "9090", createNamespace: "false", runAsUser: "10001", pdb: "block-voluntary-evictions" }));
    expect([s.port, s.createNamespace, s.runAsUser, s.maxUnavailable]).toEqual([9090, false, 10001, 0]);
  });

  const classes: [string, Record<string, unknown>, string][] = [
    ["bad name", { name: "Mogi" }, 'mogi:name: "Mogi" is not a valid dns1035-label name'],
    ["bad namespace", { namespace: "Mogi_NS" }, 'mogi:namespace: "Mogi_NS" is not a valid dns1123-label name'],
    ["latest image in production", { image: "quay.io/example/mogi:latest" }, 'mogi:image: "quay.io/example/mogi:latest" uses "latest"; pin a version tag or a @sha256 digest (required when environment is "production")'],
    ["untagged image in production", { image: "quay.io/example/mogi" }, 'mogi:image: "quay.io/example/mogi" has no tag'],
    ["overlapping prefixes", { consul: consul({ lockPrefix: "service/mogi", configPrefix: "service/mogi/config" }) }, 'mogi:consul.configPrefix: "service/mogi/config" overlaps the lock prefix "service/mogi"'],
    ["unsafe prefix", { consul: consul({ lockPrefix: "/service/mogi/lock" }) }, "mogi:consul.lockPrefix: \"/service/mogi/lock\" must not start with '/'"],
    ["session node prefix of every node", { consul: consul({ sessionNodePrefix: "" }) }, 'mogi:consul.sessionNodePrefix: "" must not be empty: an empty prefix matches every node, so the token could destroy every session in the datacenter'],
    ["session node prefix as a glob", { consul: consul({ sessionNodePrefix: "consul-server-*" }) }, 'mogi:consul.sessionNodePrefix: "consul-server-*" must be the start of the Consul servers\' node names: 1-62 lowercase letters, digits and \'-\''],
    ["session node prefix that misses the chart's servers", { consul: consul({ inClusterHost: "consul-consul-server.consul.svc" }) }, 'mogi:consul.sessionNodePrefix: "consul-server-" does not cover the Consul servers behind consul.inClusterHost "consul-consul-server.consul.svc": the consul-k8s chart names them "consul-consul-server-0", "consul-consul-server-1", …, and the pod\'s sessions and /v1/agent/self are checked against those names (the lock would be refused with 403); set "consul-consul-server-"'],
    ["unknown PDB mode", { pdb: "none" }, 'mogi:pdb: "none" is not one of "allow-drain", "block-voluntary-evictions"'],
    ["missing Consul address", { consul: JSON.stringify({ scheme: "http" }) }, "mogi:consul.address: required, but not set"],
    ["missing image", { image: undefined }, "mogi:image: required, but not set"],
    ["unknown setting", { imagee: "typo" }, 'mogi:imagee = "typo": unknown setting; did you mean `mogi:image`? (the settings are listed in the README\'s settings table)'],
    ["auth method name Consul refuses", { consul: consul({ authMethod: "consul k8s" }) }, 'mogi:consul.authMethod: "consul k8s" must be the name of a Consul auth method of type kubernetes: 1-128 letters, digits, \'-\' and \'_\''],
    ["unknown nested setting", { consul: consul({ token: "x" }) }, "mogi:consul.token = [secret]: unknown field of mogi:consul (its fields: address, scheme, datacenter, inClusterHost, caPem, caFrom, providerCaPem, providerCaFile, lockPrefix, configPrefix, sessionNodePrefix, authMethod, kv, binaryImage, imageHasConsul, datacenters)"],
    ["https without CA", { consul: consul({ scheme: "https" }) }, 'mogi:consul.caPem: required when consul.scheme is "https"'],
    ["https with the pod's CA only", { consul: consul({ scheme: "https", caFrom: { kind: "Secret", name: "ca", key: "tls.crt" } }) }, 'mogi:consul.providerCaFile: required when consul.scheme is "https" and consul.caPem is not set: Pulumi\'s Consul provider must trust Consul\'s CA too, and consul.caFrom reaches only the pod; set consul.providerCaFile (a PEM file) or consul.providerCaPem, or export CONSUL_CA_FILE or CONSUL_CAPATH where pulumi runs'],
    ["two CAs for the provider", { consul: consul({ scheme: "https", caPem: PEM, providerCaPem: PEM }) }, "mogi:consul: set only one of consul.caPem, consul.providerCaPem: each gives the provider its CA"],
    ["a provider CA over http", { consul: consul({ providerCaPem: PEM }) }, 'mogi:consul.scheme: a CA is configured but the scheme is "http"'],
    ["a provider CA file that is not there", { consul: consul({ scheme: "https", caPem: undefined, caFrom: { kind: "Secret", name: "ca", key: "k" }, providerCaFile: "stacks/consul-ca/nope.pem" }) }, `mogi:consul.providerCaFile: "stacks/consul-ca/nope.pem" cannot be read (ENOENT: ${path.join(__dirname, "..", "stacks", "consul-ca", "nope.pem")})`],
    ["a provider CA file without a certificate", { consul: consul({ scheme: "https", caFrom: { kind: "Secret", name: "ca", key: "k" }, providerCaFile: "package.json" }) }, `mogi:consul.providerCaFile: "package.json" holds no PEM certificate`],
    ["the platform's CA in a namespace this stack creates", { createNamespace: undefined }, 'mogi:createNamespace: true must be false when consul.caFrom is set: the Secret "consul-ca-cert" lives in Mogi\'s namespace but is not declared by this stack, so the platform owns that namespace'],
    ["unknown scheme", { consul: consul({ scheme: "ftp" }) }, 'mogi:consul.scheme: "ftp" is not one of "http", "https"'],
    ["grace period too short", { terminationGracePeriodSeconds: "10" }, "mogi:terminationGracePeriodSeconds: 10 is too small: the minimum is 30"],
    ["node-loss toleration beyond Kubernetes' own 300 s", { nodeLossTolerationSeconds: "600" }, "mogi:nodeLossTolerationSeconds: 600 is too big: the maximum is 300"],
    ["env reserved for the wrapper", { env: JSON.stringify({ CONSUL_HTTP_TOKEN: "x" }) }, "mogi:env.CONSUL_HTTP_TOKEN = [secret]: set by the stack for the lock wrapper"],
    ["unreal consul annotation", { podAnnotations: JSON.stringify({ "consul.hashicorp.com/service-check-http": "/health" }) }, "mogi:podAnnotations.consul.hashicorp.com/service-check-http: consul.hashicorp.com/ annotations come from"],
    ["bad KV key", { consul: consul({ kv: { "/abs": "x" } }) }, "mogi:consul.kv./abs: the key must not start with '/'"],
    ["bad resource quantity", { resources: JSON.stringify({ limits: { cpu: "lots" } }) }, 'mogi:resources.limits.cpu: "lots" is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)'],
    ["bad label key", { podLabels: JSON.stringify({ "team name": "x" }) }, 'mogi:podLabels.team name: "team name" is not a valid key'],
    ["bad label value", { podLabels: JSON.stringify({ team: "platform team" }) }, 'mogi:podLabels.team: "platform team" is not a valid label value'],
    ["bad annotation key", { podAnnotations: JSON.stringify({ "Example.com/x": "y" }) }, 'mogi:podAnnotations.Example.com/x: "Example.com/x" has an invalid prefix'],
    ["bad service meta key", { serviceMeta: JSON.stringify({ "owner team": "x" }) }, "mogi:serviceMeta.owner team: \"service-meta-owner team\" is not a valid key"],
    ["bad env name", { env: JSON.stringify({ "1FOO": "x" }) }, 'mogi:env.1FOO: "1FOO" is not a valid environment variable name'],
    ["no root filesystem choice", { readOnlyRootFilesystem: undefined }, "mogi:readOnlyRootFilesystem: required, but not set"],
    ["root filesystem not a boolean", { readOnlyRootFilesystem: "yes" }, 'mogi:readOnlyRootFilesystem: "yes" is not a boolean: use true or false'],
    ["no NetworkPolicy choice", { networkPolicy: undefined }, "mogi:networkPolicy: required, but not set"],
    ["platform-owned without a reason", { networkPolicy: JSON.stringify({ platformOwned: "" }) }, 'mogi:networkPolicy.platformOwned = "": give the reason the platform owns the pod\'s NetworkPolicy (it must not be empty)'],
    ["platform-owned with rules", { networkPolicy: JSON.stringify({ platformOwned: "TICKET-1", egress: "all" }) }, 'mogi:networkPolicy.platformOwned = "TICKET-1": platformOwned leaves the policy out, so egress would do nothing'],
    ["unknown DNS preset", { networkPolicy: JSON.stringify({ dns: "coredns" }) }, 'mogi:networkPolicy.dns: "coredns" must be "kube-dns" or "openshift-dns", or {namespace, podLabels, port} of the cluster\'s DNS pods'],
    ["egress neither all nor rules", { networkPolicy: JSON.stringify({ egress: "none" }) }, 'mogi:networkPolicy.egress: "none" must be "all" (egress left open) or a list of {to, ports} rules'],
    ["an egress rule of the wrong shape", { networkPolicy: JSON.stringify({ egress: [{ to: [{ cidr: "10.0.0.0/8" }], ports: [{ port: "https" }] }] }) }, 'mogi:networkPolicy.egress[0].ports[0].port: "https" is not a number'],
    ["a bad CIDR", { networkPolicy: JSON.stringify({ egress: [{ to: [{ cidr: "10.0.0.0/33" }], ports: [{ port: 443 }] }] }) }, 'mogi:networkPolicy.egress[0].to[0]: "10.0.0.0/33" is not a CIDR'],
    ["an empty ingress peer", { networkPolicy: JSON.stringify({ ingressFrom: [{}] }) }, "mogi:networkPolicy.ingressFrom[0]: {} names no namespace, namespace labels, pod labels or cidr"],
    ["a CIDR as ingress peer", { networkPolicy: JSON.stringify({ ingressFrom: [{ cidr: "10.0.0.0/8" }] }) }, "mogi:networkPolicy.ingressFrom[0].cidr = \"10.0.0.0/8\": unknown field of mogi:networkPolicy.ingressFrom[0] (its fields: namespace, namespaceLabels, podLabels)"],
    ["a bad ingress label", { networkPolicy: JSON.stringify({ ingressFrom: [{ namespaceLabels: { "team name": "x" } }] }) }, 'mogi:networkPolicy.ingressFrom[0].namespaceLabels.team name: "team name" is not a valid key'],
  ];
  test.each(classes)("%s", (_label, overrides, message) => {
    expect(problemsOf(raw(overrides))).toEqual(expect.arrayContaining([expect.stringContaining(message)]));
  });

  test("the session node prefix must cover the chart's servers only where inClusterHost names their Service", () => {
    const prefixOf = (fields: Record<string, unknown>) => parseSettings(raw({ consul: consul(fields) })).consul.sessionNodePrefix;
    expect(prefixOf({ inClusterHost: "consul-consul-server.consul.svc", sessionNodePrefix: "consul-consul-server-" })).toBe("consul-consul-server-");
    expect(prefixOf({ inClusterHost: "10.0.0.5", sessionNodePrefix: "consul-" })).toBe("consul-"); // not the chart's Service: not checkable
    expect(prefixOf({ inClusterHost: "consul-server.consul.svc", sessionNodePrefix: "consul-" })).toBe("consul-"); // broader still covers them
  });

  test("the provider's CA: from caPem, providerCaPem, or a file read relative to the project", () => {
    const settings = (fields: Record<string, unknown>, env?: Record<string, string>) => parseSettings(raw({ consul: consul({ scheme: "https", ...fields }) }), context(env));
    const caFrom = { kind: "Secret", name: "consul-ca-cert", key: "tls.crt" };
    expect(settings({ caPem: PEM }).consul.providerCa).toBe(PEM);
    expect(settings({ caFrom, providerCaPem: PEM }).consul.providerCa).toBe(PEM);
    expect(settings({ caFrom, providerCaFile: CA_FILE }).consul.providerCa).toBe(readFileSync(path.join(__dirname, "..", CA_FILE), "utf8"));
    expect(settings({ caFrom }, { CONSUL_CA_FILE: "/etc/consul/ca.pem" }).consul.providerCa).toBeUndefined(); // the provider reads it
    expect(settings({ caFrom }, { CONSUL_CAPATH: "/etc/consul/cas" }).consul.providerCa).toBeUndefined();
  });

  test("the NetworkPolicy setting reaches the component's arguments as written", () => {
    const networkPolicy = { consul: { cidr: "10.20.0.0/24" }, dns: { namespace: "dns", podLabels: { app: "dns" }, port: 53 }, egress: [{ to: [{ namespace: "db", podLabels: { app: "pg" } }], ports: [{ port: 5432 }] }], ingressFrom: [{ namespace: "clients" }] };
    expect(parseSettings(raw({ networkPolicy: JSON.stringify(networkPolicy), readOnlyRootFilesystem: "false" }))).toMatchObject({ networkPolicy, readOnlyRootFilesystem: false });
    expect(parseSettings(raw({ networkPolicy: JSON.stringify({ platformOwned: "TICKET-1" }) })).networkPolicy).toEqual({ platformOwned: "TICKET-1" });
  });

  test("every problem is reported at once, schema and cross-field alike", () => {
    const problems = problemsOf(raw({ name: "Mogi", pdb: "none", port: "0", image: "mogi:latest", env: JSON.stringify({ POD_NAME: "x" }), consul: JSON.stringify({ scheme: "ftp" }) }));
    expect(problems.map((p) => p.split(/:| = /).slice(0, 2).join(":")).sort()).toEqual(
      ["mogi:consul.address", "mogi:consul.scheme", "mogi:env.POD_NAME", "mogi:image", "mogi:name", "mogi:pdb", "mogi:port"].sort(),
    );
  });

  test.each([
    ["quay.io/example/mogi:1.4.2", undefined],
    ["localhost:5000/mogi:1.4.2", undefined],
    ["localhost:5000/mogi", "has no tag"],
    [`quay.io/example/mogi@sha256:${"a".repeat(64)}`, undefined],
    ["mogi:latest", 'uses "latest"'],
  ])("image pin of %s", (image, problem) => {
    const found = imagePinProblem(image);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  test("a setting stored as a secret that is not a secret setting is refused, without its value", async () => {
    const config = Object.fromEntries(Object.entries(raw({ image: "quay.io/example/mogi:SECRET-TAG" })).map(([k, v]) => [`mogi:${k}`, String(v)]));
    const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: "mogi", stack: "s", config, secretKeys: ["mogi:image"] });
    expect(recording.error?.message).toContain("mogi:image: [secret] is stored as a secret, but it is not a secret setting");
    expect(recording.error?.message).not.toContain("SECRET-TAG");
    expect(recording.resources).toEqual([]);
  });

  test("the Consul token may be a secret, and is never read as a plain setting", async () => {
    const config = Object.fromEntries(Object.entries(raw()).map(([k, v]) => [`mogi:${k}`, String(v)]));
    const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: "mogi", stack: "s", config: { ...config, "mogi:consulToken": "TOKEN-VALUE" }, secretKeys: ["mogi:consulToken"] });
    expect(recording.error).toBeUndefined();
    const provider = recording.resources.find((r) => r.type === "pulumi:providers:consul");
    expect(JSON.stringify(redactSecrets(provider?.inputs))).not.toContain("TOKEN-VALUE");
  });

  test("the program declares nothing when its configuration is invalid", async () => {
    const config = Object.fromEntries(Object.entries(raw({ name: "Mogi" })).map(([k, v]) => [`mogi:${k}`, String(v)]));
    const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: "mogi", stack: "broken", config });
    expect(recording.error?.message).toContain('stack "broken": invalid configuration (1 problem):\n  - mogi:name: "Mogi"');
    expect(recording.resources).toEqual([]);
  });
});
