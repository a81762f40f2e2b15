/**
 * The front door: every command the README shows, against each broken input a new user meets
 * (unreadable, missing or malformed stack files, a dangling symlink in stacks/, configuration
 * written the wrong way, no kubeconfig or context, an unreachable Consul or API server, a bad
 * flag). Each case runs in a fresh temp copy of the stacks and asserts what the user sees: the
 * exit code, exactly one line on stderr naming the file or the setting, no stack frame, and
 * nothing written (the copy's files, the render's --out, the Pulumi backend through the CLI).
 *
 * Commands run in-process through their exported main (as the script runs it, with the stacks
 * folder pointed at the copy); the unreadable-file rows start the real entry points as processes
 * (`node --require ./infra/transpile.js`, like `npm run deploy`), as another user when the suite
 * runs as root (root reads any file).
 */
import { spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, Server } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { main as start } from "../infra/render/cli";
import { renderStack } from "../infra/render/render";
import { main as status } from "../infra/status/main";
import { loadKubernetesClient } from "../infra/status/facts";
import { main as deploy } from "../infra/automation/main";
import type { PulumiCli } from "../infra/automation/pulumiCli";
import { main as check } from "../infra/policy/check";
import { main as bench } from "../infra/render/bench";
import { main as benchDeploy } from "../test/e2e/bench/deployBench";
import { main as engines } from "../test/engines/build";
import { validStackLines } from "./support/stackFiles";

const ROOT = path.join(__dirname, "..");
const NOBODY = 65534;

/** A stack the program accepts: plain HTTP, the kubeconfig and context the status rows use. */
const GOOD = (consulAddress = "127.0.0.1:1") => [...validStackLines({ kubernetes: `{ kubeconfig: ${KUBECONFIG}, context: lab }`, consulAddress }), ""].join("\n");

let world: string;
let KUBECONFIG: string;
let consul: Server;
let consulAddress: string;

beforeAll(async () => {
  world = mkdtempSync(path.join(tmpdir(), "mogi-front-door-"));
  chmodSync(world, 0o755);
  KUBECONFIG = path.join(world, "kubeconfig");
  // An API server that refuses connections (port 1): "unreachable" without waiting for a timeout.
  writeFileSync(KUBECONFIG, [
    "apiVersion: v1", "kind: Config",
    'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
    "users: [{name: u, user: {token: t}}]",
    "contexts: [{name: lab, context: {cluster: c, user: u}}]",
    "current-context: lab", "",
  ].join("\n"));
  // A Consul that answers: the lock key is absent.
  consul = createServer((_req, res) => {
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => consul.listen(0, "127.0.0.1", resolve));
  consulAddress = `127.0.0.1:${(consul.address() as { port: number }).port}`;
  // The official Kubernetes client compiles on first load (seconds, more under load): before any row's clock.
  await loadKubernetesClient();
}, 180_000);

afterAll(() => {
  consul?.close();
  rmSync(world, { recursive: true, force: true });
});

/** A fresh copy for one row: stacks/ with the good stack (and the shipped CA files), Pulumi.yaml. */
function copyFor(name: string): { dir: string; stacks: string; file: (stack: string) => string } {
  const dir = path.join(world, name.replace(/[^a-z0-9]+/gi, "-"));
  const stacks = path.join(dir, "stacks");
  mkdirSync(stacks, { recursive: true });
  cpSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  writeFileSync(path.join(stacks, "Pulumi.good.yaml"), GOOD());
  return { dir, stacks, file: (stack) => path.join(stacks, `Pulumi.${stack}.yaml`) };
}

/** Every file under `dir` (node_modules left out) with its size and modification time: what "nothing written" compares. */
function tree(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.name !== "node_modules").sort((a, b) => a.name.localeCompare(b.name)).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return [`${prefix}${entry.name}/`, ...tree(full, `${prefix}${entry.name}/`)];
    try {
      const s = statSync(full);
      return [`${prefix}${entry.name} ${s.size} ${s.mtimeMs}`];
    } catch {
      return [`${prefix}${entry.name} (dangling)`];
    }
  });
}

type Command = "start" | "status" | "deploy" | "check" | "bench" | "bench:deploy" | "engines";

interface Case {
  command: Command;
  /** The broken input, as the row is named. */
  input: string;
  argv: string[];
  /** Writes the broken input into the row's copy. */
  setup?: (copy: ReturnType<typeof copyFor>) => void;
  /** Environment of status (HOME has no kubeconfig unless a row adds one). */
  env?: Record<string, string>;
  code: number;
  /** The one line on stderr (the file's path is the copy's: `<stacks>`, `<file:NAME>` stand for it). */
  line: string | RegExp;
  /** status --json: the line is in stdout's JSON object instead, stderr stays empty. */
  json?: boolean;
}

const tab = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), "config:\n  mogi:image: x:1\n\tmogi:pdb: allow-drain\n");
const unclosed = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), 'config:\n  mogi:command: ["/usr/local/bin/mogi", "serve"\n  mogi:pdb: allow-drain\n');
const notAMap = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), "- mogi:image: x:1\n");
const dangling = (copy: ReturnType<typeof copyFor>) => symlinkSync(path.join(copy.dir, "nowhere.yaml"), copy.file("broken"));
const conifg = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), GOOD().replace("config:", "conifg:"));
const badSetting = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `${GOOD()}  mogi:pdb: sometimes\n`);
const everyNode = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), GOOD().replace("scheme: http }", 'scheme: http, sessionNodePrefix: "" }'));
const flatKey = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `${GOOD()}  mogi:consul.datacenter: dc1\n`);
const plainToken = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `${GOOD()}  mogi:consulToken: s3cr3t-t0ken\n`);
const kubernetesContext = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `${GOOD()}  kubernetes:context: lab\n`);
const negativeCpu = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `${GOOD()}  mogi:resources: { limits: { cpu: "-1" } }\n`);
const esc = (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), `environment:\n  - platform/consul-prod\n${GOOD()}`);
const projectConfig = (copy: ReturnType<typeof copyFor>) => {
  writeFileSync(copy.file("broken"), GOOD());
  writeFileSync(path.join(copy.dir, "Pulumi.yaml"), "name: mogi\nruntime: nodejs\nconfig:\n  mogi:namespace: mogi-lab\n");
};
const withStack = (text: () => string) => (copy: ReturnType<typeof copyFor>) => writeFileSync(copy.file("broken"), text());
/** The shipped prod-eu-1, which npm run bench copies for its generated clusters. */
const withTemplate = (then: (copy: ReturnType<typeof copyFor>) => void) => (copy: ReturnType<typeof copyFor>) => {
  cpSync(path.join(ROOT, "stacks", "Pulumi.prod-eu-1.yaml"), path.join(copy.stacks, "Pulumi.prod-eu-1.yaml"));
  then(copy);
};

const BROKEN = "<file:broken>";
const FLAT_KEY = `${BROKEN}:9:3: mogi:consul.datacenter: "dc1" is one key named "consul.datacenter", not a path (\`pulumi config set\` without --path writes it so): did you mean \`pulumi config set --path mogi:consul.datacenter dc1\`? (then \`pulumi config rm mogi:consul.datacenter\`)`;
const PLAIN_TOKEN = `${BROKEN}:9:3: mogi:consulToken: [secret] is stored in plain text, and it is a secret: store it encrypted with \`pulumi config set --secret mogi:consulToken …\` (or leave it unset and export CONSUL_HTTP_TOKEN where pulumi runs)`;
const KUBERNETES_CONTEXT = `${BROKEN}:9:3: kubernetes:context: "lab" is not read: the program configures its Kubernetes provider explicitly from mogi:* settings, so kubernetes:* settings would be ignored; did you mean \`pulumi config set --path mogi:kubernetes.context lab\`? (then \`pulumi config rm kubernetes:context\`)`;
const TAB = `${BROKEN}:3:1: not valid YAML: Tabs are not allowed as indentation`;
const UNCLOSED = new RegExp(`^${escape(BROKEN)}:\\d+:\\d+: not valid YAML: `);
const CONIFG = `${BROKEN}:1:1: unknown top-level key "conifg"; did you mean "config:"? (a stack file holds config, environment, secretsprovider, encryptedkey, encryptionsalt)`;
const NOT_A_MAP = `${BROKEN}:1:1: not a stack file: expected a mapping of config, environment, secretsprovider, encryptedkey, encryptionsalt`;
const DANGLING = `unknown stack "broken": ${BROKEN} is a symlink to <dir>/nowhere.yaml, which does not exist; known stacks: good`;
const PDB = `${BROKEN}:9:3: mogi:pdb: "sometimes" is not one of "allow-drain", "block-voluntary-evictions"`;
const EVERY_NODE = `${BROKEN}:8:56: mogi:consul.sessionNodePrefix: "" must not be empty: an empty prefix matches every node, so the token could destroy every session in the datacenter (other services' locks); use the servers' prefix, "consul-server-" for the consul-k8s chart with global.name "consul"`;
const CPU = `${BROKEN}:9:31: mogi:resources.limits.cpu: -1 must be greater than zero (e.g. 100m, 0.5, 128Mi, 1Gi)`;
const ESC = `${BROKEN}: imports the ESC environment platform/consul-prod, which only the Pulumi CLI resolves, and this command reads the stack file alone; write the settings into the stack file, or use \`npm run deploy -- preview --stack broken\``;
const PROJECT_CONFIG = `<dir>/Pulumi.yaml:4:3: project-level config (mogi:namespace) is merged only by the Pulumi CLI, and this command reads the stack file alone; move it into ${BROKEN}, or use \`npm run deploy -- preview --stack broken\``;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const CASES: Case[] = [
  // npm start
  { command: "start", input: "a bad flag", argv: ["--stack", "good", "--frobnicate"], code: 2, line: 'start: unknown argument "--frobnicate"; see `npm start -- --help`' },
  { command: "start", input: "an unknown stack", argv: ["--stack", "nope"], code: 2, line: 'start: unknown stack "nope"; known stacks: good' },
  { command: "start", input: "a dangling symlink in stacks/", argv: ["--stack", "broken"], setup: dangling, code: 2, line: `start: ${DANGLING}` },
  { command: "start", input: "a tab in the stack file", argv: ["--stack", "broken"], setup: tab, code: 1, line: `start: ${TAB}` },
  { command: "start", input: "a YAML syntax error", argv: ["--stack", "broken"], setup: unclosed, code: 1, line: new RegExp(`^start: ${UNCLOSED.source.slice(1)}`) },
  { command: "start", input: "a stack file that is not a mapping", argv: ["--stack", "broken"], setup: notAMap, code: 1, line: `start: ${NOT_A_MAP}` },
  { command: "start", input: "a misspelt top-level conifg:", argv: ["--stack", "broken"], setup: conifg, code: 1, line: `start: ${CONIFG}` },
  { command: "start", input: "a setting out of its allowed values", argv: ["--stack", "broken"], setup: badSetting, code: 1, line: `start: ${PDB}` },
  { command: "start", input: "a session node prefix matching every Consul node", argv: ["--stack", "broken"], setup: everyNode, code: 1, line: `start: ${EVERY_NODE}` },
  { command: "start", input: "a key set without --path", argv: ["--stack", "broken"], setup: flatKey, code: 1, line: `start: ${FLAT_KEY}` },
  { command: "start", input: "the Consul token in plain text", argv: ["--stack", "broken"], setup: plainToken, code: 1, line: `start: ${PLAIN_TOKEN}` },
  { command: "start", input: "kubernetes:context", argv: ["--stack", "broken"], setup: kubernetesContext, code: 1, line: `start: ${KUBERNETES_CONTEXT}` },
  { command: "start", input: "a negative CPU limit", argv: ["--stack", "broken"], setup: negativeCpu, code: 1, line: `start: ${CPU}` },
  { command: "start", input: "an ESC environment import", argv: ["--stack", "broken"], setup: esc, code: 1, line: `start: ${ESC}` },
  { command: "start", input: "project-level config in Pulumi.yaml", argv: ["--stack", "broken"], setup: projectConfig, code: 1, line: `start: ${PROJECT_CONFIG}` },
  { command: "start", input: "--all with one broken stack among good ones", argv: ["--all"], setup: badSetting, code: 1, line: `start: ${PDB}` },
  { command: "start", input: "--out naming a file", argv: ["--stack", "good", "--out", "<dir>/Pulumi.yaml"], code: 2, line: "start: --out <dir>/Pulumi.yaml: <dir>/Pulumi.yaml is not a directory" },
  { command: "start", input: "no stacks folder", argv: ["--all"], setup: (copy) => rmSync(copy.stacks, { recursive: true }), code: 1, line: "start: <stacks>: cannot read the stacks folder (no such file, ENOENT)" },
  // npm run status
  { command: "status", input: "a bad flag", argv: ["--stack", "good", "--wait", "soon"], code: 2, line: 'status: --wait takes a number of seconds ≥ 0, not "soon"; see `npm run status -- --help`' },
  { command: "status", input: "an unknown stack", argv: ["--stack", "nope"], code: 2, line: 'status: unknown stack "nope"; known stacks: good' },
  { command: "status", input: "a dangling symlink in stacks/", argv: ["--stack", "broken"], setup: dangling, code: 2, line: `status: ${DANGLING}` },
  { command: "status", input: "a tab in the stack file", argv: ["--stack", "broken"], setup: tab, code: 2, line: `status: ${TAB}` },
  { command: "status", input: "a YAML syntax error", argv: ["--stack", "broken"], setup: unclosed, code: 2, line: new RegExp(`^status: ${UNCLOSED.source.slice(1)}`) },
  { command: "status", input: "a misspelt top-level conifg:", argv: ["--stack", "broken"], setup: conifg, code: 2, line: `status: ${CONIFG}` },
  { command: "status", input: "a setting out of its allowed values", argv: ["--stack", "broken"], setup: badSetting, code: 2, line: `status: ${PDB}` },
  { command: "status", input: "a session node prefix matching every Consul node", argv: ["--stack", "broken"], setup: everyNode, code: 2, line: `status: ${EVERY_NODE}` },
  { command: "status", input: "the Consul token in plain text", argv: ["--stack", "broken"], setup: plainToken, code: 2, line: `status: ${PLAIN_TOKEN}` },
  { command: "status", input: "an ESC environment import", argv: ["--stack", "broken"], setup: esc, code: 2, line: `status: ${ESC}` },
  { command: "status", input: "project-level config in Pulumi.yaml", argv: ["--stack", "broken"], setup: projectConfig, code: 2, line: `status: ${PROJECT_CONFIG}` },
  {
    command: "status", input: "no kubeconfig at all", argv: ["--stack", "broken"], setup: withStack(() => GOOD().replace(/ {2}mogi:kubernetes:.*\n/, "")), code: 2,
    line: "status: no kubeconfig: mogi:kubernetes.kubeconfig is not set, KUBECONFIG is not set, and <dir>/home/.kube/config does not exist; set one of them to reach the cluster",
  },
  {
    command: "status", input: "no kubeconfig at all (--json)", argv: ["--stack", "broken", "--json"], setup: withStack(() => GOOD().replace(/ {2}mogi:kubernetes:.*\n/, "")), code: 2, json: true,
    line: "no kubeconfig: mogi:kubernetes.kubeconfig is not set, KUBECONFIG is not set, and <dir>/home/.kube/config does not exist; set one of them to reach the cluster",
  },
  {
    command: "status", input: "KUBECONFIG naming a file that is not there", argv: ["--stack", "broken"], setup: withStack(() => GOOD().replace(/ {2}mogi:kubernetes:.*\n/, "")), env: { KUBECONFIG: "<dir>/nope.kubeconfig" }, code: 2,
    line: "status: KUBECONFIG=<dir>/nope.kubeconfig: no such file; point KUBECONFIG (or mogi:kubernetes.kubeconfig) at the cluster's kubeconfig",
  },
  {
    command: "status", input: "no such context in the kubeconfig", argv: ["--stack", "broken"], setup: withStack(() => GOOD().replace("context: lab", "context: staging")), code: 2,
    line: `status: mogi:kubernetes.context = "staging": no such context in mogi:kubernetes.kubeconfig = "<world>/kubeconfig" (its contexts: lab)`,
  },
  {
    command: "status", input: "a kubeconfig that is not YAML", argv: ["--stack", "broken"], setup: (copy) => {
      writeFileSync(path.join(copy.dir, "kubeconfig"), "apiVersion: v1\n\tkind: Config\n");
      writeFileSync(copy.file("broken"), GOOD().replace(KUBECONFIG, path.join(copy.dir, "kubeconfig")));
    }, code: 2,
    line: 'status: mogi:kubernetes.kubeconfig = "<dir>/kubeconfig" is not a valid kubeconfig: Tabs are not allowed as indentation at line 2, column 1',

  },
  {
    command: "status", input: "Consul and the API server both unreachable", argv: ["--stack", "good"], code: 2,
    line: "status: Consul at http://127.0.0.1:1 is unreachable: connect ECONNREFUSED 127.0.0.1:1; Kubernetes at http://127.0.0.1:1 could not be read: request to http://127.0.0.1:1/apis/apps/v1/namespaces/mogi-lab/deployments/mogi failed, reason: connect ECONNREFUSED 127.0.0.1:1",
  },
  {
    command: "status", input: "the API server unreachable", argv: ["--stack", "broken"], setup: (copy) => writeFileSync(copy.file("broken"), GOOD(consulAddress)), code: 2,
    line: "status: Kubernetes at http://127.0.0.1:1 could not be read: request to http://127.0.0.1:1/apis/apps/v1/namespaces/mogi-lab/deployments/mogi failed, reason: connect ECONNREFUSED 127.0.0.1:1",
  },
  {
    command: "status", input: "CONSUL_CA_FILE that cannot be read", argv: ["--stack", "broken"], env: { CONSUL_CA_FILE: "<dir>/ca.pem" }, code: 2,
    setup: withStack(() => GOOD().replace("scheme: http }", "scheme: https, caFrom: { kind: Secret, name: consul-ca-cert, key: tls.crt } }") + "  mogi:createNamespace: false\n"),
    line: "status: CONSUL_CA_FILE=<dir>/ca.pem: cannot read it (ENOENT); point it at the PEM file of Consul's CA",
  },
  // npm run deploy (exit 1 for all of these: its 2 is a mandatory policy violation)
  { command: "deploy", input: "a bad flag", argv: ["up", "--stack", "good", "--force"], code: 1, line: 'deploy: unexpected argument "--force"; see `npm run deploy -- --help`' },
  { command: "deploy", input: "an unknown stack", argv: ["preview", "--stack", "nope"], code: 1, line: 'deploy: unknown stack "nope"; known stacks: good' },
  { command: "deploy", input: "a dangling symlink in stacks/", argv: ["up", "--stack", "broken"], setup: dangling, code: 1, line: `deploy: ${DANGLING}` },
  { command: "deploy", input: "a tab in the stack file", argv: ["up", "--stack", "broken"], setup: tab, code: 1, line: `deploy: ${TAB}` },
  { command: "deploy", input: "a YAML syntax error", argv: ["preview", "--stack", "broken"], setup: unclosed, code: 1, line: new RegExp(`^deploy: ${UNCLOSED.source.slice(1)}`) },
  { command: "deploy", input: "a misspelt top-level conifg:", argv: ["up", "--stack", "broken"], setup: conifg, code: 1, line: `deploy: ${CONIFG}` },
  { command: "deploy", input: "a setting out of its allowed values", argv: ["up", "--stack", "broken"], setup: badSetting, code: 1, line: `deploy: ${PDB}` },
  { command: "deploy", input: "a session node prefix matching every Consul node", argv: ["up", "--stack", "broken"], setup: everyNode, code: 1, line: `deploy: ${EVERY_NODE}` },
  { command: "deploy", input: "a key set without --path", argv: ["up", "--stack", "broken"], setup: flatKey, code: 1, line: `deploy: ${FLAT_KEY}` },
  { command: "deploy", input: "kubernetes:context", argv: ["preview", "--stack", "broken"], setup: kubernetesContext, code: 1, line: `deploy: ${KUBERNETES_CONTEXT}` },
  {
    command: "deploy", input: "an ESC environment import without mogi:environment in the file", argv: ["destroy", "--stack", "broken"], setup: esc, code: 1,
    line: `deploy: ${BROKEN} imports the ESC environment platform/consul-prod but does not set mogi:environment itself: write it into the stack file (the driver chooses the policy levels and the destroy guard from it before pulumi runs)`,
  },
  {
    command: "deploy", input: "no kubeconfig at all", argv: ["up", "--stack", "broken"], setup: withStack(() => GOOD().replace(/ {2}mogi:kubernetes:.*\n/, "")), code: 1,
    line: "deploy: no kubeconfig: mogi:kubernetes.kubeconfig is not set, KUBECONFIG is not set, and <dir>/home/.kube/config does not exist; set one of them to reach the cluster",
  },
  {
    command: "deploy", input: "no such context in the kubeconfig", argv: ["up", "--stack", "broken"], setup: withStack(() => GOOD().replace("context: lab", "context: staging")), code: 1,
    line: `deploy: mogi:kubernetes.context = "staging": no such context in mogi:kubernetes.kubeconfig = "<world>/kubeconfig" (its contexts: lab)`,
  },
  // npm run check (its file is the render's resources.json)
  { command: "check", input: "a bad flag", argv: ["<dir>/resources.json", "--strict"], code: 2, line: 'check: unknown option "--strict"; see `npm run check -- --help`' },
  { command: "check", input: "a missing file", argv: ["<dir>/resources.json"], code: 2, line: "<dir>/resources.json: ENOENT: no such file or directory, open '<dir>/resources.json'" },
  { command: "check", input: "a file that is not a list of resources", argv: ["<dir>/resources.json"], setup: (copy) => writeFileSync(path.join(copy.dir, "resources.json"), '{"type": "x"}\n'), code: 2, line: "<dir>/resources.json: expected a JSON array of {type, name, parent, inputs}" },
  // Node's JSON.parse quotes the text around the error, newlines included: only its first line is said.
  { command: "check", input: "a JSON syntax error", argv: ["<dir>/resources.json"], setup: (copy) => writeFileSync(path.join(copy.dir, "resources.json"), "config:\n  mogi:pdb: x\n"), code: 2, line: /^<dir>\/resources\.json: Unexpected token 'c', "config:$/ },
  { command: "check", input: "a list whose entries are not resources", argv: ["<dir>/resources.json"], setup: (copy) => writeFileSync(path.join(copy.dir, "resources.json"), "[1]\n"), code: 2, line: "<dir>/resources.json: entry 0 is not a resource {type: string, name: string, inputs: object}: got number 1" },
  {
    command: "check", input: "an entry with a field of the wrong type", argv: ["<dir>/resources.json"], code: 2,
    setup: (copy) => writeFileSync(path.join(copy.dir, "resources.json"), '[{"type": "kubernetes:core/v1:Service", "name": "mogi", "inputs": {}}, {"type": "kubernetes:apps/v1:Deployment", "name": 7}]\n'),
    line: "<dir>/resources.json: entry 1 is not a resource {type: string, name: string, inputs: object}: name is number 7, no inputs",
  },
  // npm run bench
  { command: "bench", input: "a bad flag", argv: ["--clusters", "many"], code: 2, line: 'bench: --clusters takes a whole number ≥ 1, not "many"; see `npm run bench -- --help`' },
  { command: "bench", input: "a broken stack file in stacks/", argv: ["--clusters", "1"], setup: withTemplate(tab), code: 1, line: `bench: ${TAB}` },
  // npm run bench:deploy, npm run engines: only their arguments are checked before they start real engines
  { command: "bench:deploy", input: "a bad flag", argv: ["--runs", "0"], code: 2, line: 'bench:deploy: --runs takes a whole number ≥ 1, not "0"; see `npm run bench:deploy -- --help`' },
  { command: "bench:deploy", input: "an unknown argument", argv: ["--fast"], code: 2, line: 'bench:deploy: unexpected argument "--fast"; see `npm run bench:deploy -- --help`' },
  { command: "engines", input: "a bad flag", argv: ["--all"], code: 2, line: 'engines: unexpected option "--all"; see `npm run engines -- --help`' },
  { command: "engines", input: "an unknown engine", argv: ["kubectl"], code: 2, line: 'engines: unknown engine "kubectl"; see `npm run engines -- --help`' },
];

/** A Pulumi CLI that records every call: a row must not reach it (nothing created or changed). */
function recordingCli(): { cli: PulumiCli; calls: string[][] } {
  const calls: string[][] = [];
  return { calls, cli: { run: async (args) => (calls.push(args), { code: 0, stdout: "", stderr: "" }), versionProblem: async () => undefined } };
}

interface Run {
  code: number;
  stdout: string[];
  stderr: string[];
  cliCalls: string[][];
}

async function runInProcess(row: Case, copy: ReturnType<typeof copyFor>, argv: string[], env: Record<string, string>): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io = { out: (t: string) => stdout.push(t), err: (t: string) => stderr.push(t) };
  const recorder = recordingCli();
  const options = { stacksDir: copy.stacks, projectDir: copy.dir };
  const mains: Record<Command, () => Promise<number>> = {
    start: () => start(argv, io.out, io.err, renderStack, options),
    status: () => status(argv, { ...options, env, ...io, waitPeriodMs: 100 }),
    deploy: () => deploy(argv, io, { stacksDir: copy.stacks, cli: recorder.cli, stream: io.out, env }),
    check: () => check(argv, io.out, io.err),
    bench: () => bench(argv, io, { stacksDir: copy.stacks }),
    "bench:deploy": () => benchDeploy(argv, io),
    engines: () => engines(argv, io),
  };
  const code = await mains[row.command]();
  return { code, stdout: stdout.flatMap((t) => t.split("\n")).filter(Boolean), stderr: stderr.flatMap((t) => t.split("\n")).filter(Boolean), cliCalls: recorder.calls };
}

/** Puts the row's copy in place of the placeholders of its expected line and arguments (escaped for a pattern). */
function fill(text: string, copy: ReturnType<typeof copyFor>, quote = (value: string) => value): string {
  return text.replaceAll(BROKEN, quote(copy.file("broken"))).replaceAll("<stacks>", quote(copy.stacks)).replaceAll("<dir>", quote(copy.dir)).replaceAll("<world>", quote(world));
}

function expectOneLine(run: Run, row: Case, copy: ReturnType<typeof copyFor>): void {
  const expected = typeof row.line === "string" ? fill(row.line, copy) : new RegExp(fill(row.line.source, copy, escape));
  const [line, ...more] = row.json ? [] : run.stderr;
  if (row.json) {
    expect(run.stderr).toEqual([]);
    expect(run.stdout).toHaveLength(1);
    const report = JSON.parse(run.stdout[0]);
    expect(report).toMatchObject({ stack: "broken", verdict: "unknown", exitCode: row.code });
    if (typeof expected === "string") expect(report.error).toBe(expected);
    else expect(report.error).toMatch(expected);
  } else {
    expect(more).toEqual([]);
    if (typeof expected === "string") expect(line).toBe(expected);
    else expect(line).toMatch(expected);
    expect(run.stdout).toEqual([]);
  }
  expect([...run.stdout, ...run.stderr].join("\n")).not.toMatch(/^\s+at /m);
  expect(run.code).toBe(row.code);
}

describe.each(CASES.map((row) => [`${row.command}: ${row.input}`, row] as const))("%s", (_name, row) => {
  test(`exit ${row.code}, one line naming the file or setting, nothing written`, async () => {
    const copy = copyFor(`${row.command}-${row.input}`);
    row.setup?.(copy);
    const argv = row.argv.map((arg) => fill(arg, copy));
    const env = { HOME: path.join(copy.dir, "home"), CONSUL_HTTP_TOKEN: "front-door-token", ...Object.fromEntries(Object.entries(row.env ?? {}).map(([k, v]) => [k, fill(v, copy)])) };
    const out = path.join(copy.dir, "out");
    const before = tree(copy.dir);
    const run = await runInProcess(row, copy, row.command === "start" && !argv.includes("--out") ? [...argv, "--out", out] : argv, env);
    expectOneLine(run, row, copy);
    expect(tree(copy.dir)).toEqual(before);
    expect(existsSync(out)).toBe(false);
    expect(run.cliCalls).toEqual([]);
    expect([...run.stdout, ...run.stderr].join("\n")).not.toContain("s3cr3t-t0ken");
  });
});

test("the table covers every command the README shows, with at least 25 broken inputs", () => {
  expect(new Set(CASES.map((row) => row.command))).toEqual(new Set<Command>(["start", "status", "deploy", "check", "bench", "bench:deploy", "engines"]));
  expect(CASES.length).toBeGreaterThanOrEqual(25);
});

/**
 * A stack file the user cannot read, through the real entry points: root reads any file, so as
 * root the commands run as `nobody`, in a copy of the project (its own stacks/), node_modules linked.
 */
const asRoot = process.getuid?.() === 0;
/** As root, `nobody` must be able to reach the temp folder (every parent searchable by others). */
const nobodyReachesTmp = (() => {
  for (let dir = tmpdir(); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (path.dirname(dir) === dir) return true;
  }
})();

describe("an unreadable stack file, each command as a process", () => {
  let project: string;
  let stackFile: string;

  beforeAll(() => {
    project = path.join(world, "project");
    mkdirSync(project, { recursive: true });
    for (const entry of ["infra", "components", "Pulumi.yaml", "tsconfig.json", "package.json"]) cpSync(path.join(ROOT, entry), path.join(project, entry), { recursive: true });
    symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
    cpSync(path.join(ROOT, "stacks"), path.join(project, "stacks"), { recursive: true });
    stackFile = path.join(project, "stacks", "Pulumi.locked.yaml");
    writeFileSync(stackFile, GOOD());
    chmodSync(stackFile, 0o000);
  });

  function runAsUser(entry: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--require", "./infra/transpile.js", entry, ...argv], {
        cwd: project,
        env: { PATH: path.dirname(process.execPath), HOME: path.join(project, "home") },
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  // Run as root with a temp folder only root can enter, these rows cannot make a file unreadable: skipped, not faked.
  (asRoot && !nobodyReachesTmp ? test.skip.each : test.each)([
    ["npm start", 1, "infra/render/cli.ts", ["--stack", "locked"], "start"],
    ["npm run status", 2, "infra/status/main.ts", ["--stack", "locked"], "status"],
    ["npm run deploy", 1, "infra/automation/main.ts", ["up", "--stack", "locked"], "deploy"],
    ["npm run bench", 1, "infra/render/bench.ts", ["--clusters", "1"], "bench"],
  ])("%s: exit %s, one line naming the file, nothing written", async (_command, code, entry, argv, prefix) => {
    const before = tree(project).filter((e) => !e.startsWith("node_modules"));
    const run = await runAsUser(entry as string, argv as string[]);
    expect(run.stderr).toBe(`${prefix}: stacks/Pulumi.locked.yaml: cannot read it (permission denied, EACCES)\n`);
    expect(run.stdout).toBe("");
    expect(run.code).toBe(code);
    expect(tree(project).filter((e) => !e.startsWith("node_modules"))).toEqual(before);
  });
});
