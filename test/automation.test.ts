import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseDeployArgs } from "../infra/automation/args";
import { DeployRefused, formatChanges, guardDestroy, isPolicyViolation, stackEnvironment } from "../infra/automation/deploy";
import { findOnPath } from "../infra/automation/pulumiCli";
import { UnknownStackError } from "../infra/render/stacks";
import { integrationPrerequisites } from "./integration/prerequisites";

const ROOT = path.join(__dirname, "..");
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mogi-deploy-"));
  mkdirSync(path.join(dir, "stacks"));
  writeFileSync(path.join(dir, "stacks", "Pulumi.prod-x.yaml"), "config:\n  mogi:environment: production\n");
  writeFileSync(path.join(dir, "stacks", "Pulumi.lab.yaml"), "config:\n  mogi:image: x:1\n");
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
    [["up", "--stack"], "--stack needs a stack name"],
    [["up", "up", "--stack", "dev"], 'unexpected argument "up"'],
    [["up", "--stack", "dev", "--force"], 'unexpected argument "--force"'],
  ])("refuses %j", (argv, message) => {
    expect(() => parseDeployArgs(argv)).toThrow(message);
  });

  test("--help", () => expect(parseDeployArgs(["--help"])).toBe("help"));
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

  test("policy violations are told apart from other failures", () => {
    expect(isPolicyViolation("error: preview failed\nmandatory policy violation: singleton-one-replica")).toBe(true);
    expect(isPolicyViolation("error: configured Kubernetes cluster is unreachable")).toBe(false);
    expect(formatChanges({ create: 3, same: 0, update: 1 })).toBe("create 3, update 1");
    expect(formatChanges({})).toBe("no changes");
  });
});

/** Runs `npm run deploy -- <argv>` as a user would, with a PATH that has no `pulumi`. */
function deployWithoutCli(argv: string[]) {
  return spawnSync(process.execPath, [require.resolve("tsx/cli"), "infra/automation/main.ts", ...argv], {
    cwd: ROOT,
    env: { ...process.env, PATH: path.join(dir, "empty-bin") },
    encoding: "utf8",
    timeout: 20_000,
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
