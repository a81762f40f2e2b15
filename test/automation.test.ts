import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseDeployArgs } from "../infra/automation/args";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { describeViolation, DeployRefused, failureLine, formatChanges, guardDestroy, mandatoryViolations, runDeploy, stackEnvironment } from "../infra/automation/deploy";
import { findOnPath, PulumiCli, PulumiRunner } from "../infra/automation/pulumiCli";
import { parseEventLog } from "../infra/automation/stackCommand";
import { UnknownStackError } from "../infra/stacks";
import { integrationPrerequisites } from "./integration/prerequisites";

const ROOT = path.join(__dirname, "..");
/** A stack file the program accepts (no environment: development), plus `extra` lines; its kubeconfig is in `dir`. */
const validStack = (extra = "") => [
  "config:",
  "  mogi:image: quay.io/example/mogi:1.4.2",
  "  mogi:command: [mogi]",
  "  mogi:readOnlyRootFilesystem: true",
  "  mogi:networkPolicy: { dns: kube-dns }",
  `  mogi:kubernetes: { kubeconfig: ${path.join(dir, "kubeconfig")} }`,
  '  mogi:consul: { address: "127.0.0.1:8500" }',
  "",
].join("\n") + extra;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mogi-deploy-"));
  mkdirSync(path.join(dir, "stacks"));
  writeFileSync(path.join(dir, "kubeconfig"), "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:6443\"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: lab, context: {cluster: c, user: u}}]\ncurrent-context: lab\n");
  writeFileSync(path.join(dir, "stacks", "Pulumi.prod-x.yaml"), validStack("  mogi:environment: production\n"));
  writeFileSync(path.join(dir, "stacks", "Pulumi.lab.yaml"), validStack());
  mkdirSync(path.join(dir, "empty-bin"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("deploy arguments", () => {
  test.each([
    [["preview", "--stack", "dev"], { command: "preview", stack: "dev", policyPack: false, yes: false }],
    [["up", "--stack=staging", "--policy-pack"], { command: "up", stack: "staging", policyPack: true, yes: false }],
    [["--stack", "prod-eu-1", "destroy", "--yes"], { command: "destroy", stack: "prod-eu-1", policyPack: false, yes: true }],
    [["refresh", "--stack", "dev"], { command: "refresh", stack: "dev", policyPack: false, yes: false }],
  ])("%j", (argv, expected) => {
    expect(parseDeployArgs(argv)).toEqual(expected);
  });

  test.each([
    [[], "a command is required: one of preview, up, refresh, destroy"],
    [["preview"], "--stack is required"],
    [["deploy", "--stack", "dev"], 'unexpected argument "deploy"'],
    [["up", "--stack"], "--stack needs a value"],
    [["up", "up", "--stack", "dev"], 'unexpected argument "up"'],
    [["up", "--stack", "dev", "--force"], 'unexpected argument "--force"'],
  ])("refuses %j", (argv, message) => {
    expect(() => parseDeployArgs(argv)).toThrow(message);
  });
});

describe("deploy guards", () => {
  const args = (command: "destroy" | "up", yes = false) => ({ command, stack: "prod-x", policyPack: false, yes });

  test("destroying a production stack needs --yes", () => {
    expect(stackEnvironment("prod-x", path.join(dir, "stacks"))).toBe("production");
    expect(() => guardDestroy(args("destroy"), "production")).toThrow(DeployRefused);
    expect(() => guardDestroy(args("destroy"), "production")).toThrow('refusing to destroy production stack "prod-x"');
    expect(() => guardDestroy(args("destroy", true), "production")).not.toThrow();
    expect(() => guardDestroy(args("up"), "production")).not.toThrow();
    expect(() => guardDestroy(args("destroy"), "development")).not.toThrow();
  });

  test("a stack without an environment is development; an unknown one lists the known", () => {
    expect(stackEnvironment("lab", path.join(dir, "stacks"))).toBe("development");
    expect(() => stackEnvironment("nope", path.join(dir, "stacks"))).toThrow(new UnknownStackError("nope", ["lab", "prod-x"]));
  });

  test("changes are summarised, zero counts left out", () => {
    expect(formatChanges({ create: 3, same: 0, update: 1 })).toBe("create 3, update 1");
    expect(formatChanges({})).toBe("no changes");
  });
});

/** Engine events of the shapes @pulumi/pulumi/automation's EngineEvent and PolicyEvent define. */
const policyEvent = (policyName: string, enforcementLevel: "warning" | "mandatory", message: string): EngineEvent => ({
  sequence: 7,
  timestamp: 1764075000,
  policyEvent: {
    resourceUrn: "urn:pulumi:ci::mogi::mogi:components:SingletonWorkload$kubernetes:apps/v1:Deployment::mogi-deployment",
    message,
    color: "never",
    policyName,
    policyPackName: "mogi-singleton",
    policyPackVersion: "0.1.0",
    policyPackVersionTag: "0.1.0",
    enforcementLevel,
  },
});

describe("policy violations, from the engine's structured events", () => {
  const events: EngineEvent[] = [
    { sequence: 1, timestamp: 1764075000, cancelEvent: {} },
    policyEvent("image-pinned", "warning", "container mogi uses \"x:latest\": an unpinned image … Fix: pin."),
    // As the engine sends it (seen with the real CLI in test/e2e): the policy's description, then its message.
    policyEvent("singleton-one-replica", "mandatory", "A singleton Deployment runs exactly one replica.\nspec.replicas is 2: a singleton must have exactly one pod (the lock is for hand-over, not for a standing second replica). Fix: set spec.replicas: 1.\n"),
  ];

  test("only mandatory ones count, whatever the CLI's wording", () => {
    expect(mandatoryViolations(events).map((v) => v.policyName)).toEqual(["singleton-one-replica"]);
    expect(mandatoryViolations(events.slice(0, 2))).toEqual([]);
  });

  test("each is one line naming the policy and the resource", () => {
    expect(describeViolation(mandatoryViolations(events)[0])).toBe("singleton-one-replica (mogi-deployment): A singleton Deployment runs exactly one replica. spec.replicas is 2: a singleton must have exactly one pod (the lock is for hand-over, not for a standing second replica). Fix: set spec.replicas: 1.");
  });
});

// A failed update as the CLI reports it (3.248.0, seen against the e2e tier's control plane with a
// kubeconfig path that does not exist; 3.277.0 the same in test/e2e): exit 1, nothing on stderr, the
// cause in the events.
const diagnostic = (message: string, urn?: string): EngineEvent => ({ sequence: 53, timestamp: 1796202241, diagnosticEvent: { ...(urn ? { urn } : {}), prefix: "error: ", message, color: "never", severity: "error" } });
const namespaceFailed = diagnostic("configured Kubernetes cluster is unreachable: failed to parse kubeconfig data in `kubernetes:config:kubeconfig`- couldn't get version/kind\n", "urn:pulumi:fresh::mogi::mogi:components:SingletonWorkload$kubernetes:core/v1:Namespace::mogi-namespace");
const updateFailed = diagnostic("update failed\n");

describe("expected failures are one line", () => {
  test.each([
    // The CLI's own words (pulumi 3.277.0, seen in test/e2e; 3.248.0 said "unable to open bucket file:///…: stat …").
    ["not logged in", "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n", "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"],
    ["backend unreachable", 'error: unable to open state directory "file:///nonexistent/dir?no_tmp_dir=true": stat /nonexistent/dir: no such file or directory\n', 'unable to open state directory "file:///nonexistent/dir?no_tmp_dir=true": stat /nonexistent/dir: no such file or directory'],
    ["a resource failed", "Updating (ci):\n  kubernetes:apps/v1:Deployment mogi **failed**\nerror: update failed\n", "update failed"],
    ["no error: line", "something went wrong\n  and here is the end\n", "and here is the end"],
  ])("%s", (_label, stderr, line) => {
    expect(failureLine(stderr)).toBe(line);
  });


  test("a failed update: the first resource's error, naming the resource, not the closing 'update failed'", () => {
    expect(failureLine("", [namespaceFailed, updateFailed])).toBe("mogi-namespace: configured Kubernetes cluster is unreachable: failed to parse kubeconfig data in `kubernetes:config:kubeconfig`- couldn't get version/kind");
    expect(failureLine("", [updateFailed])).toBe("update failed");
  });

  test("the program's own error (on the stack itself) is its message; an unhandled exception's stack frames are left out", () => {
    expect(failureLine("", [diagnostic('stack "prod-x": TLS verification of Consul at 127.0.0.1:8501 failed: …\n', "urn:pulumi:prod-x::mogi::pulumi:pulumi:Stack::mogi-prod-x"), updateFailed])).toBe('stack "prod-x": TLS verification of Consul at 127.0.0.1:8501 failed: …');
    expect(failureLine("", [diagnostic("Running program '/p/infra' failed with an unhandled exception:\nError: boom\n    at mogiProgram (/p/infra/program.ts:40:11)\n", "urn:pulumi:s::mogi::pulumi:pulumi:Stack::mogi-s")])).toBe("Running program '/p/infra' failed with an unhandled exception: Error: boom");
  });
});

const summary = (resourceChanges: Record<string, number>): EngineEvent => ({ sequence: 9, timestamp: 1764075001, summaryEvent: { maybeCorrupt: false, durationSeconds: 3, resourceChanges, policyPacks: {} } });

/**
 * A `pulumi` that behaves like the real one as far as the driver can tell: a backend with
 * `stacks`, "no stack named" for any other (the CLI's words), `stack ls --json` and `stack init`,
 * and the engine's events written to the `--event-log` file it is given.
 */
function fakePulumi(stacks: string[], outcome: { events?: EngineEvent[]; code?: number; stderr?: string; listFails?: boolean; versionProblem?: string } = {}) {
  const calls: string[][] = [];
  const run: PulumiRunner = async (args, onStdout) => {
    calls.push(args);
    const ok = (stdout = "") => ({ code: 0, stdout, stderr: "" });
    if (args[0] === "stack" && args[1] === "ls") return outcome.listFails ? { code: 255, stdout: "", stderr: "error: could not list stacks\n" } : ok(JSON.stringify(stacks.map((name) => ({ name, current: false }))));
    if (args[0] === "stack" && args[1] === "init") return stacks.push(args[2]), ok();
    const stack = args[args.indexOf("--stack") + 1];
    if (!stacks.includes(stack)) return { code: 255, stdout: "", stderr: `error: no stack named '${stack}' found\n` };
    writeFileSync(args[args.indexOf("--event-log") + 1], (outcome.events ?? [summary({ same: 17 })]).map((e) => JSON.stringify(e)).join("\n") + "\n");
    onStdout?.(`${args[0]} ${stack}: engine output\n`);
    return { code: outcome.code ?? 0, stdout: "", stderr: outcome.stderr ?? "" };
  };
  const cli: PulumiCli = { run, versionProblem: async () => outcome.versionProblem };
  return { cli, calls, stacks };
}

/** `npm run deploy -- <argv>` against a fake CLI; the exit code and every line it printed. */
async function deployWith(fake: ReturnType<typeof fakePulumi>, argv: string[]) {
  const out: string[] = [];
  const log: string[] = [];
  const code = await runDeploy(parseDeployArgs(argv), { out: (text) => out.push(text), log: (line) => log.push(line) }, path.join(dir, "stacks"), fake.cli);
  return { code, out: out.join(""), log };
}

describe("one command, one CLI call: the engine's events decide the outcome", () => {
  test("the change summary is the engine's summary event; the engine's output is streamed", async () => {
    const fake = fakePulumi(["lab"], { events: [{ sequence: 1, timestamp: 1, cancelEvent: {} }, summary({ create: 3, same: 14, update: 0 })] });
    const run = await deployWith(fake, ["up", "--stack", "lab"]);
    expect(run).toEqual({ code: 0, out: "up lab: engine output\n", log: ["up lab (development): create 3, same 14"] });
    // No `stack select` before, no `stack output`/`stack history` after (what Stack.up adds).
    expect(fake.calls.map((args) => args[0])).toEqual(["up"]);
  });

  test("each command's arguments: --yes --skip-preview where it changes things, the pack where it is asked for", async () => {
    const fake = fakePulumi(["prod-x", "lab"]);
    await deployWith(fake, ["preview", "--stack", "prod-x", "--policy-pack"]);
    await deployWith(fake, ["up", "--stack", "lab", "--policy-pack"]);
    await deployWith(fake, ["destroy", "--stack", "prod-x", "--yes"]);
    const withoutLog = fake.calls.map((args) => args.filter((a, i) => a !== "--event-log" && args[i - 1] !== "--event-log"));
    const pack = path.join(__dirname, "..", "infra", "policy");
    expect(withoutLog).toEqual([
      ["preview", "--stack", "prod-x", "--policy-pack", pack, "--policy-pack-config", path.join(pack, "production.json")],
      ["up", "--stack", "lab", "--yes", "--skip-preview", "--policy-pack", pack],
      ["destroy", "--stack", "prod-x", "--yes", "--skip-preview"],
    ]);
  });

  test.each(["preview", "refresh", "destroy"])("%s of a stack the backend lacks fails, listing the stacks it has, and creates nothing", async (command) => {
    const fake = fakePulumi(["staging", "prod-eu-1"]);
    const run = await deployWith(fake, [command, "--stack", "lab"]);
    expect(run.code).toBe(1);
    expect(run.log).toEqual([`${command} lab failed: stack "lab" does not exist in this backend; stacks in this backend: prod-eu-1, staging; \`npm run deploy -- up --stack lab\` creates it`]);
    expect(fake.stacks).toEqual(["staging", "prod-eu-1"]);
  });

  test("the missing stack is still one line when the backend cannot even list its stacks", async () => {
    const run = await deployWith(fakePulumi([], { listFails: true }), ["preview", "--stack", "lab"]);
    expect(run.log).toEqual(['preview lab failed: stack "lab" does not exist in this backend; `npm run deploy -- up --stack lab` creates it']);
  });

  test("only up creates a stack, then runs", async () => {
    const fake = fakePulumi([], { events: [summary({ create: 17 })] });
    const run = await deployWith(fake, ["up", "--stack", "lab"]);
    expect(run.log).toEqual(["up lab (development): create 17"]);
    expect(fake.stacks).toEqual(["lab"]);
    expect(fake.calls.map((args) => args.slice(0, 3).join(" "))).toEqual(["up --stack lab", "stack init lab", "up --stack lab"]);
  });

  test("mandatory violations make exit 2, one line each, whatever the CLI's exit code and wording", async () => {
    const violation = policyEvent("singleton-one-replica", "mandatory", "spec.replicas is 2. Fix: set spec.replicas: 1.");
    const run = await deployWith(fakePulumi(["lab"], { events: [violation, summary({ same: 17 })], code: 255, stderr: "error: preview failed\n" }), ["preview", "--stack", "lab", "--policy-pack"]);
    expect(run.code).toBe(2);
    expect(run.log).toEqual(["mandatory policy violation: singleton-one-replica (mogi-deployment): spec.replicas is 2. Fix: set spec.replicas: 1.", "preview lab: 1 mandatory policy violation"]);
  });

  test("a failure is the failed resource's error, the CLI's last error line, or why the CLI itself cannot be used", async () => {
    expect((await deployWith(fakePulumi(["lab"], { code: 255, stderr: "error: update failed\n" }), ["up", "--stack", "lab"])).log).toEqual(["up lab failed: update failed"]);
    const outdated = fakePulumi(["lab"], { code: 255, stderr: "error: unknown flag: --event-log\n", versionProblem: "the Pulumi CLI on PATH cannot be used: Minimum version requirement failed" });
    expect((await deployWith(outdated, ["up", "--stack", "lab"])).log).toEqual(["up lab failed: the Pulumi CLI on PATH cannot be used: Minimum version requirement failed"]);
    const resourceFailed = fakePulumi(["lab"], { code: 1, stderr: "", events: [namespaceFailed, updateFailed] });
    expect((await deployWith(resourceFailed, ["up", "--stack", "lab"])).log).toEqual(["up lab failed: mogi-namespace: configured Kubernetes cluster is unreachable: failed to parse kubeconfig data in `kubernetes:config:kubeconfig`- couldn't get version/kind"]);
  });

  test("an event log cut short by a crash keeps its whole lines", () => {
    expect(parseEventLog(`${JSON.stringify(summary({ same: 1 }))}\n{"sequence": 10, "timest`)).toEqual([summary({ same: 1 })]);
  });
});

/** Runs `npm run deploy -- <argv>` as a user would, with a PATH that has no `pulumi`. */
function deployWithoutCli(argv: string[]) {
  return spawnSync(process.execPath, ["--require", "./infra/transpile.js", "infra/automation/main.ts", ...argv], {
    cwd: ROOT,
    env: { ...process.env, PATH: path.join(dir, "empty-bin") },
    encoding: "utf8",
    // As `npm run deploy` starts it: under 1 s alone, far more under load.
    timeout: 50_000,
  });
}

describe("without the Pulumi CLI", () => {
  test("findOnPath finds executables only where PATH says", () => {
    expect(findOnPath("sh", "/bin:/usr/bin")).toMatch(/\/sh$/);
    expect(findOnPath("pulumi", path.join(dir, "empty-bin"))).toBeUndefined();
  });

  test("npm run deploy fails fast, naming the CLI and how to install it", () => {
    const result = deployWithoutCli(["preview", "--stack", "dev"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("deploy: the Pulumi CLI (`pulumi`) is not on PATH");
    expect(result.stderr).toContain("https://www.pulumi.com/docs/install/");
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test("the production-destroy guard comes before the CLI check", () => {
    const result = deployWithoutCli(["destroy", "--stack", "prod-eu-1"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('refusing to destroy production stack "prod-eu-1"');
  });
});

describe("integration suites' skip logic", () => {
  const everything = { PATH: "/x", KUBECONFIG: "/k", CONSUL_HTTP_ADDR: "http://127.0.0.1:8500", CONSUL_HTTP_TOKEN: "t", MOGI_TEST_IMAGE: "mogi-test:local" };
  const onPath = (tools: string[]) => (name: string) => (tools.includes(name) ? `/x/${name}` : undefined);

  test("ready when the CLI, kubectl, a cluster, Consul and the test image are there", () => {
    expect(integrationPrerequisites(everything, onPath(["pulumi", "kubectl"]), "/none")).toEqual({ ready: true });
  });

  test("names exactly what is missing", () => {
    const { KUBECONFIG: _k, CONSUL_HTTP_TOKEN: _t, ...partial } = everything;
    expect(integrationPrerequisites(partial, onPath(["kubectl"]), "/none")).toEqual({
      ready: false,
      missing: "`pulumi` on PATH, KUBECONFIG (or ~/.kube/config) for a cluster, CONSUL_HTTP_TOKEN (a management token, e.g. the Helm chart's bootstrap token)",
    });
  });
});
