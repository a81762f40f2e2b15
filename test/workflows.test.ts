/**
 * `npm run lint` runs actionlint on the workflows; these tests check what they promise users.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { listStacks } from "../infra/stacks";

/* eslint-disable @typescript-eslint/no-explicit-any */
const WORKFLOWS = ["pull-request.yml", "deploy.yml"];
const workflowText = (name: string) => readFileSync(path.join(__dirname, "..", ".github", "workflows", name), "utf8");
const workflow = (name: string): any => parse(workflowText(name));
const uses = (job: any, action: string) => job.steps.filter((s: any) => typeof s.uses === "string" && s.uses.startsWith(action));

describe("pull-request workflow", () => {
  const wf = workflow("pull-request.yml");

  test("renders every shipped stack offline and uploads out/ as an artifact", () => {
    expect(wf.on).toHaveProperty("pull_request");
    expect(wf.jobs.render.strategy.matrix.stack.sort()).toEqual(listStacks());
    const run = wf.jobs.render.steps.map((s: any) => s.run).filter(Boolean);
    // Type-checked first: pulumi and the render only transpile the program.
    expect(run).toEqual(["npm ci", "npm run build", "npm start -- --stack ${{ matrix.stack }} --out out"]);
    expect(uses(wf.jobs.render, "actions/upload-artifact")[0].with.path).toBe("out/${{ matrix.stack }}/");
  });

  test("previews with the policy pack through the official action, commenting on the PR, after npm ci", () => {
    const job = wf.jobs.preview;
    const [action] = uses(job, "pulumi/actions@v7");
    expect(action.with).toMatchObject({ command: "preview", "comment-on-pr": true, policyPacks: "infra/policy" });
    const steps = job.steps.map((s: any) => s.run ?? s.uses);
    expect(steps.indexOf("npm ci")).toBeLessThan(steps.indexOf("pulumi/actions@v7"));
    const production = job.strategy.matrix.include.filter((i: any) => i.stack.startsWith("prod-"));
    for (const entry of production) expect(entry["policy-config"]).toBe("infra/policy/production.json");
  });
});

describe("deploy workflow", () => {
  const wf = workflow("deploy.yml");

  test("runs on main: staging first, production behind its environment's approval", () => {
    expect(wf.on.push.branches).toEqual(["main"]);
    expect(wf.jobs.staging.environment).toBe("staging");
    expect(wf.jobs.production.needs).toBe("staging");
    expect(wf.jobs.production.environment).toBe("production");
    expect(wf.jobs.production.strategy.matrix.include.map((i: any) => i.stack)).toEqual(listStacks().filter((s) => s.startsWith("prod-")));
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const [action] = uses(job, "pulumi/actions@v7");
      expect(action.with.command).toBe("up");
      expect(action.with.policyPacks).toBe("infra/policy");
    }
  });

  test("every `up` is followed by a health gate on the same stack, with the same Consul token and kubeconfig", () => {
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const steps: any[] = job.steps;
      const ups = steps.filter((s) => s.uses === "pulumi/actions@v7" && s.with?.command === "up");
      expect(ups.length).toBeGreaterThan(0);
      for (const up of ups) {
        const gate = steps[steps.indexOf(up) + 1];
        expect(gate?.run).toBe(`npm run -s status -- --stack ${up.with["stack-name"]} --wait 300`);
        expect(gate.env).toEqual({ CONSUL_HTTP_TOKEN: up.env.CONSUL_HTTP_TOKEN });
        // The kubeconfig step (~/.kube/config, which status reads as the provider does) comes before both.
        expect(steps.findIndex((s) => s.name === "kubeconfig")).toBeLessThan(steps.indexOf(up));
      }
    }
    // A failed gate cancels the production clusters still queued.
    expect(wf.jobs.production.strategy).toMatchObject({ "max-parallel": 1, "fail-fast": true });
  });

  test("no secret value is written in a workflow, only references", () => {
    const text = WORKFLOWS.map(workflowText).join("\n");
    for (const match of text.matchAll(/(TOKEN|KUBECONFIG_DATA):\s*(.+)/g)) expect(match[2]).toMatch(/^\$\{\{ secrets[.[]/);
  });
});

/** A secret a workflow step can look up: its name, and the stack whose deployment uses it (if any). */
interface SecretLookup {
  workflow: string;
  job: string;
  stack?: string;
  name: string;
}

/**
 * Every secret name each job can resolve: `secrets.NAME`, and `secrets[matrix.KEY]` for each matrix
 * entry. Any other dynamic lookup (e.g. `format(...)` of a stack name) fails the test: its names
 * cannot be checked, and a stack name with '-' can never be a secret name.
 */
function secretLookups(): SecretLookup[] {
  const found: SecretLookup[] = [];
  for (const file of WORKFLOWS) {
    for (const [jobName, job] of Object.entries<any>(workflow(file).jobs)) {
      const text = JSON.stringify(job);
      const entries: any[] = job.strategy?.matrix?.include ?? [{}];
      const stackOf = (entry: any) => {
        const stackName = uses(job, "pulumi/actions@v7")[0]?.with?.["stack-name"];
        return stackName === "${{ matrix.stack }}" ? entry.stack : stackName;
      };
      for (const [, name] of text.matchAll(/secrets\.([A-Za-z0-9_]+)/g)) {
        for (const entry of entries) found.push({ workflow: file, job: jobName, stack: stackOf(entry), name });
      }
      for (const [, expression] of text.matchAll(/secrets\[([^\]]*)\]/g)) {
        const key = /^matrix\.([\w-]+)$/.exec(expression.trim())?.[1];
        if (!key) throw new Error(`${file} ${jobName}: secrets[${expression}] cannot be checked; look secrets up by a matrix value naming them`);
        for (const entry of entries) found.push({ workflow: file, job: jobName, stack: stackOf(entry), name: entry[key] });
      }
    }
  }
  return found;
}

/** The secret names the README's "CI secrets" table tells users to create. */
function documentedSecrets(): string[] {
  const readme = readFileSync(path.join(__dirname, "..", "README.md"), "utf8");
  const section = readme.split(/^#+ /m).find((s) => s.startsWith("CI secrets")) ?? "";
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]);
}

describe("CI secrets", () => {
  const lookups = secretLookups();

  test("every secret a workflow can look up has a valid GitHub secret name", () => {
    expect(lookups.length).toBeGreaterThan(0);
    for (const { name } of lookups) {
      expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/); // GitHub: alphanumerics and '_', not starting with a digit
      expect(name).not.toMatch(/^GITHUB_/i);
    }
  });

  test("each stack reads one Consul token secret, the same in both workflows, named after the stack", () => {
    const tokenSecrets = new Map<string, Set<string>>();
    for (const { stack, name } of lookups.filter((l) => l.name.startsWith("CONSUL_TOKEN"))) {
      expect(stack).toBeDefined();
      tokenSecrets.set(stack as string, (tokenSecrets.get(stack as string) ?? new Set()).add(name));
    }
    expect([...tokenSecrets.keys()].sort()).toEqual(listStacks().filter((s) => s !== "dev"));
    for (const [stack, names] of tokenSecrets) expect([...names]).toEqual([`CONSUL_TOKEN_${stack.toUpperCase().replace(/-/g, "_")}`]);
  });

  test("the README names exactly the secrets the workflows read", () => {
    expect(documentedSecrets().sort()).toEqual([...new Set(lookups.map((l) => l.name))].sort());
  });

  test("pulumi/actions creates a stack on first use (upsert)", () => {
    for (const file of WORKFLOWS) {
      for (const job of Object.values<any>(workflow(file).jobs)) {
        for (const action of uses(job, "pulumi/actions@v7")) expect(action.with.upsert).toBe(true);
      }
    }
  });
});
