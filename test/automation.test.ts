import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseDeployArgs } from "../infra/automation/args";
import type { EngineEvent, Workspace } from "@pulumi/pulumi/automation";
import { describeViolation, DeployRefused, failureLine, formatChanges, guardDestroy, mandatoryViolations, openStack, StackMissingError, stackEnvironment } from "../infra/automation/deploy";
import { findOnPath } from "../infra/automation/pulumiCli";
import { UnknownStackError } from "../infra/stacks";
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

/** A CLI failure exactly as the Automation API builds it from the CLI's output. */
function cliFailure(stderr: string, code = 255): Error {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createCommandError } = require("@pulumi/pulumi/automation/errors");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { CommandResult } = require("@pulumi/pulumi/automation/cmd");
  return createCommandError(new CommandResult("", stderr, code));
}

describe("expected failures are one line", () => {
  test.each([
    // The CLI's own words (pulumi 3.248.0, seen in test/e2e).
    ["not logged in", "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\n", "PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"],
    ["backend unreachable", "error: unable to open bucket file:///nonexistent/dir?no_tmp_dir=true: stat /nonexistent/dir: no such file or directory\n", "unable to open bucket file:///nonexistent/dir?no_tmp_dir=true: stat /nonexistent/dir: no such file or directory"],
    ["a resource failed", "Updating (ci):\n  kubernetes:apps/v1:Deployment mogi **failed**\nerror: update failed\n", "update failed"],
    ["no error: line", "something went wrong\n  and here is the end\n", "and here is the end"],
  ])("%s", (_label, stderr, line) => {
    expect(failureLine(cliFailure(stderr))).toBe(line);
  });

  /** A workspace that knows `stacks`, as far as openStack uses one. */
  const workspaceWith = (stacks: string[], listFails = false) => {
    const created: string[] = [];
    const workspace = {
      selectStack: async (name: string) => {
        if (!stacks.includes(name)) throw cliFailure(`error: no stack named '${name}' found\n`);
      },
      createStack: async (name: string) => void created.push(name),
      listStacks: async () => {
        if (listFails) throw cliFailure("error: could not list stacks\n");
        return stacks.map((name) => ({ name, current: false, updateInProgress: false }));
      },
    };
    return { workspace: workspace as unknown as Workspace, created };
  };

  test.each(["preview", "refresh", "destroy"] as const)("%s of a stack the backend lacks fails, listing the stacks it has, and creates nothing", async (command) => {
    const { workspace, created } = workspaceWith(["staging", "prod-eu-1"]);
    await expect(openStack(command, "stagin", workspace)).rejects.toThrow(new StackMissingError('stack "stagin" does not exist in this backend; stacks in this backend: prod-eu-1, staging; `npm run deploy -- up --stack stagin` creates it'));
    expect(created).toEqual([]);
    expect((await openStack(command, "staging", workspace)).name).toBe("staging");
  });

  test("the missing stack is still one line when the backend cannot even list its stacks", async () => {
    const { workspace } = workspaceWith([], true);
    await expect(openStack("preview", "dev", workspace)).rejects.toThrow(new StackMissingError('stack "dev" does not exist in this backend; `npm run deploy -- up --stack dev` creates it'));
  });

  test("only up creates a stack", async () => {
    const { workspace, created } = workspaceWith([]);
    expect((await openStack("up", "new-cluster", workspace)).name).toBe("new-cluster");
    expect(created).toEqual(["new-cluster"]);
  });
});

/** Runs `npm run deploy -- <argv>` as a user would, with a PATH that has no `pulumi`. */
function deployWithoutCli(argv: string[]) {
  return spawnSync(process.execPath, [require.resolve("tsx/cli"), "infra/automation/main.ts", ...argv], {
    cwd: ROOT,
    env: { ...process.env, PATH: path.join(dir, "empty-bin") },
    encoding: "utf8",
    // tsx compiling the driver and loading the Automation API: 2 s alone, far more under load.
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
