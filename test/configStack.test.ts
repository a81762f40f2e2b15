/**
 * Configuration the Pulumi way: a stack file as a Pulumi user writes it (and as `pulumi config
 * set` writes it, with or without --path and --secret), read by the offline tools and by the
 * program. One test per case; each asserts the line the user reads: the file (and line), the
 * key, the value (secrets masked) and what to do.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ConfigError, parseStackConfig, quantityValue } from "../infra/config";
import { mogiProgram } from "../infra/program";
import { recordProgram } from "../infra/render/recorder";
import { loadStackSettings, readStack, stackErrorLines } from "../infra/stacks";
import { runDeploy } from "../infra/automation/deploy";
import { parseDeployArgs } from "../infra/automation/args";
import type { PulumiCli } from "../infra/automation/pulumiCli";
import { chooseKubeconfig, KubeconfigProblem } from "../infra/config/kubeconfig";
import { validStackLines } from "./support/stackFiles";

const ROOT = path.join(__dirname, "..");
let dir: string;
let stacks: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mogi-config-stack-"));
  stacks = path.join(dir, "stacks");
  mkdirSync(stacks);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid stack file's lines (8 lines: extra lines start at line 9). */
const GOOD = validStackLines({ kubernetes: "{ context: lab }", consulAddress: "127.0.0.1:8500" });

let count = 0;
/** Writes a stack file and reads its settings as `npm start` and `npm run status` do; the lines they print. */
function linesOf(text: string, projectDir = ROOT): { file: string; lines: string[] } {
  const stack = `s${++count}`;
  const file = path.join(stacks, `Pulumi.${stack}.yaml`);
  writeFileSync(file, text);
  try {
    loadStackSettings(stack, {}, stacks, projectDir);
  } catch (error) {
    const lines = stackErrorLines(error);
    if (lines) return { file, lines };
    throw error;
  }
  return { file, lines: [] };
}
const withLines = (...extra: string[]) => linesOf([...GOOD, ...extra, ""].join("\n"));
const without = (key: string, ...extra: string[]) => linesOf([...GOOD.filter((l) => !l.startsWith(`  ${key}:`)), ...extra, ""].join("\n"));

describe("a key written without --path", () => {
  test("gets the `pulumi config set --path` line that writes it as meant", () => {
    const { file, lines } = without("mogi:consul", '  mogi:consul.address: "127.0.0.1:8500"');
    expect(lines).toEqual([`${file}:8:3: mogi:consul.address: "127.0.0.1:8500" is one key named "consul.address", not a path (\`pulumi config set\` without --path writes it so): did you mean \`pulumi config set --path mogi:consul.address 127.0.0.1:8500\`? (then \`pulumi config rm mogi:consul.address\`)`]);
  });

  test("with a misspelt field, the suggested path is the nearest real one", () => {
    const { lines } = without("mogi:consul", "  mogi:consul.adress: consul.example.com");
    expect(lines).toEqual([expect.stringContaining("did you mean `pulumi config set --path mogi:consul.address consul.example.com`?")]);
  });

  test("a value that is not a plain word is quoted for the shell, a secret one never shown", () => {
    expect(withLines("  mogi:consul.kv.motd: hello world").lines).toEqual([expect.stringContaining("`pulumi config set --path mogi:consul.kv.motd 'hello world'`")]);
    const { lines } = withLines("  mogi:consul.caPem: { secure: v1:AAAA }");
    expect(lines).toEqual([expect.stringContaining("mogi:consul.caPem: [secret] is one key named \"consul.caPem\"")]);
    expect(lines[0]).toContain("`pulumi config set --path --secret mogi:consul.caPem …`");
  });
});

describe("unknown keys", () => {
  test("a misspelt setting gets the nearest known one, with its value", () => {
    const { file, lines } = without("mogi:namespace", "  mogi:namspace: mogi-lab");
    expect(lines).toEqual([`${file}:8:3: mogi:namspace = "mogi-lab": unknown setting; did you mean \`mogi:namespace\`? (the settings are listed in the README's settings table)`]);
  });

  test("a misspelt field of a structured setting gets the nearest field", () => {
    const { file, lines } = without("mogi:consul", '  mogi:consul: { address: "127.0.0.1:8500", sceme: https }');
    expect(lines).toEqual([`${file}:8:45: mogi:consul.sceme = "https": unknown field of mogi:consul; did you mean \`mogi:consul.scheme\`? (its fields: address, scheme, datacenter, inClusterHost, caPem, caFrom, providerCaPem, providerCaFile, lockPrefix, configPrefix, sessionNodePrefix, authMethod, kv, binaryImage, imageHasConsul, datacenters)`]);
  });

  test("nothing near: no guess, the allowed names", () => {
    expect(without("mogi:kubernetes", "  mogi:kubernetes: { context: lab, colour: blue }").lines.join("\n")).toMatch(/mogi:kubernetes\.colour = "blue": unknown field of mogi:kubernetes \(its fields: kubeconfig, context\)$/);
  });

  test("a key without a namespace", () => {
    expect(withLines("  pdb: allow-drain").lines).toEqual([expect.stringMatching(/:9:3: pdb: "allow-drain" has no namespace: keys are <namespace>:<name>; did you mean `mogi:pdb`\?$/)]);
  });

  test("a misspelt project namespace", () => {
    expect(withLines("  mgoi:pdb: allow-drain").lines).toEqual([expect.stringMatching(/:9:3: mgoi:pdb = "allow-drain": unknown namespace "mgoi": did you mean `mogi:pdb`\?$/)]);
  });
});

describe("every problem names the file, the line, the key and the value", () => {
  test("a value out of its allowed ones", () => {
    const { file, lines } = withLines("  mogi:pdb: sometimes");
    expect(lines).toEqual([`${file}:9:3: mogi:pdb: "sometimes" is not one of "allow-drain", "block-voluntary-evictions"`]);
  });

  test("a number below its minimum, a boolean that is not one", () => {
    expect(withLines("  mogi:terminationGracePeriodSeconds: 10", "  mogi:connectInject: yes").lines).toEqual([
      expect.stringMatching(/:9:3: mogi:terminationGracePeriodSeconds: 10 is too small: the minimum is 30$/),
      expect.stringMatching(/:10:3: mogi:connectInject: "yes" is not a boolean: use true or false$/),
    ]);
  });

  test("problems come in the order of the file; settings not written come last", () => {
    const { lines } = linesOf(["config:", "  mogi:pdb: x", "  mogi:port: 0", "  mogi:namespace: Bad_NS", ""].join("\n"));
    expect(lines.map((l) => l.replace(/^.*?\.yaml(:\d+:\d+)?: /, "").split(/:| = /)[1])).toEqual(["pdb", "port", "namespace", "image", "command", "readOnlyRootFilesystem", "networkPolicy", "consul"]);
  });
});

describe("secrets", () => {
  test("the Consul token in plain text is refused with the `pulumi config set --secret` line, and never shown", () => {
    const { file, lines } = withLines("  mogi:consulToken: 0d1e-plain-token");
    expect(lines).toEqual([`${file}:9:3: mogi:consulToken: [secret] is stored in plain text, and it is a secret: store it encrypted with \`pulumi config set --secret mogi:consulToken …\` (or leave it unset and export CONSUL_HTTP_TOKEN where pulumi runs)`]);
  });

  test("stored encrypted, it is accepted", () => {
    expect(withLines("  mogi:consulToken: { secure: v1:AAAA }").lines).toEqual([]);
  });

  test("values of keys that name a token or password are masked wherever a problem shows them", () => {
    const { lines } = withLines("  mogi:env: { CONSUL_HTTP_TOKEN: hunter2-token }");
    expect(lines).toEqual([expect.stringMatching(/mogi:env\.CONSUL_HTTP_TOKEN = \[secret\]: set by the stack for the lock wrapper; remove it$/)]);
  });

  test("a plain setting stored as a secret is refused by name, without its value or a second complaint", () => {
    const { lines } = without("mogi:image", "  mogi:image: { secure: v1:AAAA }");
    expect(lines).toEqual([expect.stringMatching(/:8:3: mogi:image: \[secret\] is stored as a secret, but it is not a secret setting and would be used in plain text; set it without --secret \(`pulumi config set mogi:image …`\): only mogi:consulToken may be secret$/)]);
  });
});

describe("all problems in one pass", () => {
  test("a `secure:` value on a plain setting does not hide the others", () => {
    const { lines } = linesOf(["config:", "  mogi:image: { secure: v1:AAAA }", "  mogi:pdb: never", "  mogi:namspace: x", "  kubernetes:context: lab", "  mogi:consulToken: plain", ""].join("\n"));
    expect(lines.map((l) => l.replace(/^.*?\.yaml(:\d+:\d+)?: /, "").split(/: | = /)[0])).toEqual([
      "mogi:image", "mogi:pdb", "mogi:namspace", "kubernetes:context", "mogi:consulToken", "mogi:command", "mogi:readOnlyRootFilesystem", "mogi:networkPolicy", "mogi:consul",
    ]);
  });

  test("a misspelt top-level conifg: is named as such, not five settings required", () => {
    const { file, lines } = linesOf(["conifg:", ...GOOD.slice(1), ""].join("\n"));
    expect(lines).toEqual([`${file}:1:1: unknown top-level key "conifg"; did you mean "config:"? (a stack file holds config, environment, secretsprovider, encryptedkey, encryptionsalt)`]);
  });

  test("config: that is not a mapping", () => {
    expect(linesOf("config: mogi:namespace=x\n").lines).toEqual([expect.stringMatching(/:1:9: config: must be a mapping of <namespace>:<key> to values/)]);
  });
});

describe("keys of other namespaces are refused, never ignored", () => {
  test("kubernetes:context: the explicit provider would ignore it; the mogi: setting to use instead", () => {
    const { file, lines } = withLines("  kubernetes:context: ocp-prod");
    expect(lines).toEqual([`${file}:9:3: kubernetes:context: "ocp-prod" is not read: the program configures its Kubernetes provider explicitly from mogi:* settings, so kubernetes:* settings would be ignored; did you mean \`pulumi config set --path mogi:kubernetes.context ocp-prod\`? (then \`pulumi config rm kubernetes:context\`)`]);
  });

  test("kubernetes:kubeconfig and kubernetes:namespace", () => {
    expect(withLines("  kubernetes:kubeconfig: /etc/kube/config", "  kubernetes:namespace: mogi").lines).toEqual([
      expect.stringContaining("did you mean `pulumi config set --path mogi:kubernetes.kubeconfig /etc/kube/config`?"),
      expect.stringContaining("did you mean `pulumi config set mogi:namespace mogi`?"),
    ]);
  });

  test("other kubernetes: keys name the two the program reads", () => {
    expect(withLines("  kubernetes:enableServerSideApply: true").lines).toEqual([expect.stringContaining("kubernetes:enableServerSideApply: true is not read: the program configures its Kubernetes provider explicitly from mogi:* settings, so kubernetes:* settings would be ignored; remove it (`pulumi config rm kubernetes:enableServerSideApply`); the Kubernetes settings are mogi:kubernetes.kubeconfig, mogi:kubernetes.context, mogi:namespace")]);
  });

  test("consul:address and consul:token (masked, with --secret)", () => {
    const { lines } = withLines("  consul:address: consul.example.com:8501", "  consul:token: 5e3c-plain");
    expect(lines).toEqual([
      expect.stringContaining("consul:address: \"consul.example.com:8501\" is not read: the program configures its Consul provider explicitly from mogi:* settings, so consul:* settings would be ignored; did you mean `pulumi config set --path mogi:consul.address consul.example.com:8501`?"),
      expect.stringContaining("consul:token: [secret] is not read: the program configures its Consul provider explicitly from mogi:* settings, so consul:* settings would be ignored; did you mean `pulumi config set --secret mogi:consulToken …`? (then `pulumi config rm consul:token`)"),
    ]);
    expect(lines.join("\n")).not.toContain("5e3c-plain");
  });

  test("a namespace the program has nothing to do with", () => {
    expect(withLines("  aws:region: eu-west-1").lines).toEqual([expect.stringContaining(`aws:region: "eu-west-1" is not read: this program's settings are mogi:* (and pulumi:* for Pulumi's own); remove it (\`pulumi config rm aws:region\`)`)]);
  });

  test("Pulumi's own pulumi:* keys are accepted", () => {
    expect(withLines("  pulumi:tags: { team: platform }").lines).toEqual([]);
  });

  test("the program refuses kubernetes:context too, before it declares anything", async () => {
    const config = { "mogi:image": "quay.io/example/mogi:1.4.2", "mogi:command": '["mogi"]', "mogi:readOnlyRootFilesystem": "true", "mogi:networkPolicy": '{"dns":"kube-dns"}', "mogi:consul": '{"address":"127.0.0.1:8500"}', "kubernetes:context": "ocp-prod" };
    const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: "mogi", stack: "no-such-file", config });
    expect(recording.error?.message).toContain('stack "no-such-file": invalid configuration (1 problem):\n  - kubernetes:context: "ocp-prod" is not read');
    expect(recording.resources).toEqual([]);
  });
});

describe("resource quantities are parsed", () => {
  test.each([
    ["a negative CPU limit", '{ limits: { cpu: "-1" } }', 'mogi:resources.limits.cpu: -1 must be greater than zero'],
    ["a zero memory request", '{ requests: { memory: "0" } }', "mogi:resources.requests.memory: 0 must be greater than zero"],
    ["a zero written with a unit", "{ requests: { memory: 0Mi } }", 'mogi:resources.requests.memory: "0Mi" must be greater than zero'],
    ["a request above its limit", "{ requests: { memory: 512Mi }, limits: { memory: 256Mi } }", 'mogi:resources.requests.memory: "512Mi" is above its limit (mogi:resources.limits.memory "256Mi"): a request must not exceed its limit'],
    ["a CPU request above its limit, in other units", "{ requests: { cpu: 1500m }, limits: { cpu: 1 } }", 'mogi:resources.requests.cpu: "1500m" is above its limit (mogi:resources.limits.cpu "1")'],
    ["not a quantity", "{ limits: { cpu: lots } }", 'mogi:resources.limits.cpu: "lots" is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)'],
  ])("%s is refused, with the value", (_label, resources, line) => {
    expect(withLines(`  mogi:resources: ${resources}`).lines).toEqual([expect.stringContaining(line)]);
  });

  test("requests at or below their limits pass, in any unit", () => {
    expect(withLines("  mogi:resources: { requests: { cpu: 0.5, memory: 1e8 }, limits: { cpu: 500m, memory: 1Gi } }").lines).toEqual([]);
  });

  test.each([
    ["100m", 0.1], ["0.5", 0.5], ["2", 2], ["128Mi", 128 * 2 ** 20], ["1Gi", 2 ** 30], ["1G", 1e9], ["1e3", 1000], ["-1", -1], ["1.5k", 1500], ["lots", undefined], ["1Mb", undefined],
  ])("quantity %s is %s", (text, value) => {
    expect(quantityValue(text)).toBe(value);
  });
});

describe("what only the Pulumi CLI resolves", () => {
  test("an ESC environment import: the offline tools refuse the stack in one line", () => {
    const { file, lines } = linesOf(["environment:", "  - platform/consul-prod", ...GOOD, ""].join("\n"));
    expect(lines).toEqual([`${file}: imports the ESC environment platform/consul-prod, which only the Pulumi CLI resolves, and this command reads the stack file alone; write the settings into the stack file, or use \`npm run deploy -- preview --stack s${count}\``]);
  });

  test("the object form of environment: too", () => {
    expect(linesOf(["environment:", "  imports: [platform/a, platform/b]", ...GOOD, ""].join("\n")).lines).toEqual([expect.stringContaining("imports the ESC environments platform/a, platform/b, which only the Pulumi CLI resolves")]);
  });

  test("project-level config in Pulumi.yaml: refused, naming Pulumi.yaml's line and the keys", () => {
    const project = path.join(dir, "project");
    mkdirSync(project, { recursive: true });
    writeFileSync(path.join(project, "Pulumi.yaml"), "name: mogi\nruntime: nodejs\nconfig:\n  mogi:pdb: allow-drain\n  mogi:port: 8080\n");
    const { file, lines } = linesOf([...GOOD, ""].join("\n"), project);
    expect(lines).toEqual([`${path.join(project, "Pulumi.yaml")}:4:3: project-level config (mogi:pdb, mogi:port) is merged only by the Pulumi CLI, and this command reads the stack file alone; move it into ${file}, or use \`npm run deploy -- preview --stack s${count}\``]);
  });

  test("npm run deploy hands an ESC stack to the CLI, which resolves it (the file must still say its environment)", async () => {
    writeFileSync(path.join(stacks, "Pulumi.esc.yaml"), ["environment: [platform/consul-prod]", "config:", "  mogi:environment: production", ""].join("\n"));
    const calls: string[][] = [];
    const cli: PulumiCli = { run: async (args) => (calls.push(args), { code: 0, stdout: "", stderr: "" }), versionProblem: async () => undefined };
    const log: string[] = [];
    const code = await runDeploy(parseDeployArgs(["preview", "--stack", "esc", "--policy-pack"]), { out: () => undefined, log: (l) => log.push(l) }, stacks, cli);
    expect(code).toBe(0);
    expect(calls.map((c) => c[0])).toEqual(["preview"]);
    expect(calls[0]).toContain(path.join(ROOT, "infra", "policy", "production.json"));
    expect(readStack("esc", { stacksDir: stacks }).environments).toEqual(["platform/consul-prod"]);
  });
});

describe("the stack file itself", () => {
  test("a YAML error names the file, the line and the column", () => {
    const { file, lines } = linesOf('config:\n  mogi:command: ["mogi", "serve"\n  mogi:pdb: x\n');
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+: not valid YAML: `))]);
  });

  test("a key written twice", () => {
    expect(linesOf([...GOOD, "  mogi:namespace: other", ""].join("\n")).lines).toEqual([expect.stringMatching(/:9:3: not valid YAML: Map keys must be unique$/)]);
  });

  test("an empty value is an empty setting, not the text null", () => {
    expect(without("mogi:image", "  mogi:image:").lines).toEqual([expect.stringMatching(/:8:3: mogi:image: "" is empty$/)]);
  });
});

test("parseStackConfig (the program's own check) throws one ConfigError holding every problem", () => {
  let error: unknown;
  try {
    parseStackConfig({ "mogi:consul.address": "x", "kubernetes:context": "c", "mogi:consulToken": "t" }, () => false, { projectDir: ROOT, env: {} });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).problems.map((p) => p.split(/: | = /)[0])).toEqual(["mogi:consul.address", "kubernetes:context", "mogi:consulToken", "mogi:image", "mogi:command", "mogi:readOnlyRootFilesystem", "mogi:networkPolicy"]);
  expect((error as ConfigError).message).not.toContain(": t ");
});

describe("the kubeconfig the Kubernetes provider would use (npm run deploy and status check it first)", () => {
  const kubeconfig = (name: string, context: string, cluster = "c") => {
    const file = path.join(dir, name);
    writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: ${cluster}, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: ${context}, context: {cluster: c, user: u}}]\ncurrent-context: ${context}\n`);
    return file;
  };

  test("KUBECONFIG is a list: missing files are skipped, the first file's current-context wins, contexts merge", () => {
    const [a, b] = [kubeconfig("kc-a", "alpha"), kubeconfig("kc-b", "beta")];
    const env = { KUBECONFIG: [path.join(dir, "missing"), a, b].join(path.delimiter) };
    expect(chooseKubeconfig({}, env, ROOT)).toMatchObject({ files: [a, b], context: "alpha" });
    expect(chooseKubeconfig({ context: "beta" }, env, ROOT).context).toBe("beta");
  });

  test("the setting wins over KUBECONFIG, relative to the project", () => {
    kubeconfig("kc-setting", "gamma");
    expect(chooseKubeconfig({ kubeconfig: path.relative(ROOT, path.join(dir, "kc-setting")) }, { KUBECONFIG: "/nope" }, ROOT).context).toBe("gamma");
  });

  test("a context whose cluster is not defined", () => {
    const file = kubeconfig("kc-no-cluster", "delta", "other");
    expect(() => chooseKubeconfig({ kubeconfig: file }, {}, ROOT)).toThrow(new KubeconfigProblem(`mogi:kubernetes.kubeconfig = ${JSON.stringify(file)}: context "delta" names cluster "c", which it does not define`));
  });

  test("inside a pod without a kubeconfig: the pod's service account, as the provider does", () => {
    expect(chooseKubeconfig({}, { HOME: dir, KUBERNETES_SERVICE_HOST: "10.0.0.1" }, ROOT)).toMatchObject({ inCluster: true });
    expect(() => chooseKubeconfig({ context: "x" }, { HOME: dir, KUBERNETES_SERVICE_HOST: "10.0.0.1" }, ROOT)).toThrow(KubeconfigProblem);
  });
});

test("a list item written without --path gets the indexed path", () => {
  const { lines } = without("mogi:command", "  mogi:command[0]: /usr/local/bin/mogi");
  expect(lines).toEqual([expect.stringContaining("did you mean `pulumi config set --path 'mogi:command[0]' /usr/local/bin/mogi`?")]);
});
