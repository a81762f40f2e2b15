/**
 * `npm run lint` runs actionlint on the workflows; these tests check what they promise users:
 * what each job does, and that code from a pull request never runs with a write credential.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { listStacks } from "../infra/stacks";

/* eslint-disable @typescript-eslint/no-explicit-any */
const ROOT = path.join(__dirname, "..");
const WORKFLOWS = ["pull-request.yml", "deploy.yml"];
const workflowText = (name: string) => readFileSync(path.join(ROOT, ".github", "workflows", name), "utf8");
const workflow = (name: string): any => parse(workflowText(name));
const jobsOf = (name: string): [string, any][] => Object.entries<any>(workflow(name).jobs);
const allJobs = (): [string, string, any][] => WORKFLOWS.flatMap((file) => jobsOf(file).map(([name, job]): [string, string, any] => [file, name, job]));
/** Steps using `action` (owner/name), whatever the ref. */
const uses = (job: any, action: string): any[] => job.steps.filter((s: any) => typeof s.uses === "string" && s.uses.split("@")[0] === action);
const pulumiStep = (job: any) => uses(job, "pulumi/actions")[0];
const runs = (job: any): string[] => job.steps.map((s: any) => s.run).filter(Boolean);

const PULUMI_SDK_VERSION: string = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")).dependencies["@pulumi/pulumi"];
/** Pulumi stack names are qualified by the organization the OIDC token belongs to. */
const ORG_PREFIX = "${{ vars.PULUMI_ORGANIZATION }}/";
const stackOfName = (stackName: string | undefined, entry: any): string | undefined => {
  const name = stackName?.startsWith(ORG_PREFIX) ? stackName.slice(ORG_PREFIX.length) : stackName;
  return name === "${{ matrix.stack }}" ? entry.stack : name;
};
const secretName = (stack: string) => stack.toUpperCase().replace(/-/g, "_");

/** Workflows whose jobs run a pull request's own code, with that pull request's own copy of the file. */
const runsPullRequestCode = (wf: any) => Object.keys(wf.on ?? {}).some((event) => event.startsWith("pull_request"));

describe("pull-request workflow", () => {
  const wf = workflow("pull-request.yml");

  test("builds, lints and unit-tests every pull request, with no secret", () => {
    const job = wf.jobs.check;
    expect(runs(job)).toEqual(["npm ci", "npm run build", "npm run lint", "npm test"]);
    expect(JSON.stringify(job)).not.toMatch(/secrets|id-token/);
    expect(job.permissions).toEqual({ contents: "read" });
  });

  test("renders every shipped stack offline and uploads out/ as an artifact", () => {
    expect(wf.on).toHaveProperty("pull_request");
    expect(wf.jobs.render.strategy.matrix.stack.sort()).toEqual(listStacks());
    // Type-checked first: pulumi and the render only transpile the program.
    expect(runs(wf.jobs.render)).toEqual(["npm ci", "npm run build", "npm start -- --stack ${{ matrix.stack }} --out out"]);
    expect(uses(wf.jobs.render, "actions/upload-artifact")[0].with.path).toBe("out/${{ matrix.stack }}/");
    expect(JSON.stringify(wf.jobs.render)).not.toMatch(/secrets/);
  });

  test("previews every deployed stack with the policy pack, commenting on the PR, after the checks and npm ci", () => {
    const job = wf.jobs.preview;
    expect(job.needs).toEqual(expect.arrayContaining(["check", "render"]));
    const action = pulumiStep(job);
    expect(action.with).toMatchObject({ command: "preview", "comment-on-pr": true, policyPacks: "infra/policy" });
    const steps: any[] = job.steps;
    expect(steps.findIndex((s) => s.run === "npm ci")).toBeLessThan(steps.indexOf(action));
    const entries: any[] = job.strategy.matrix.include;
    expect(entries.map((e) => e.stack).sort()).toEqual(listStacks().filter((s) => s !== "dev"));
    for (const entry of entries.filter((e) => e.stack.startsWith("prod-"))) expect(entry["policy-config"]).toBe("infra/policy/production.json");
  });

  test("production previews run only in the reviewed preview-production environment, apart from staging's", () => {
    const job = wf.jobs.preview;
    expect(job.environment).toBe("${{ matrix.environment }}");
    const entries: any[] = job.strategy.matrix.include;
    for (const entry of entries) expect(entry.environment).toBe(entry.stack.startsWith("prod-") ? "preview-production" : "preview-staging");
    // Never the deploy environments, whose secrets can write.
    for (const entry of entries) expect(["staging", "production"]).not.toContain(entry.environment);
  });
});

describe("jobs that run pull-request code", () => {
  const prJobs = WORKFLOWS.filter((file) => runsPullRequestCode(workflow(file))).flatMap((file) => jobsOf(file).map(([name, job]) => ({ file, name, job })));

  test("exist, and no workflow runs a pull request's code with the base repository's rights", () => {
    expect(prJobs.length).toBeGreaterThan(0);
    for (const file of WORKFLOWS) {
      // pull_request_target and workflow_run run with write tokens and the repository's secrets.
      expect(Object.keys(workflow(file).on)).not.toEqual(expect.arrayContaining(["pull_request_target"]));
      expect(Object.keys(workflow(file).on)).not.toEqual(expect.arrayContaining(["workflow_run"]));
    }
  });

  test("read only the read-only secrets: a read-only Consul token and kubeconfig per stack, never a Pulumi access token", () => {
    for (const { file, name } of prJobs) {
      const names = secretLookups().filter((l) => l.workflow === file && l.job === name).map((l) => l.name);
      for (const secret of names) expect(secret).toMatch(/^(CONSUL_TOKEN|KUBECONFIG)_READONLY_[A-Z0-9_]+$/);
    }
    const text = WORKFLOWS.filter((file) => runsPullRequestCode(workflow(file))).map(workflowText).join("\n");
    expect(text).not.toContain("PULUMI_ACCESS_TOKEN");
    expect(text).not.toMatch(/secrets:\s*inherit/);
  });

  test("get Pulumi credentials only through OIDC, as the read-only preview team", () => {
    for (const { job } of prJobs.filter(({ job }) => pulumiStep(job))) {
      const [auth] = uses(job, "pulumi/auth-actions");
      expect(auth).toBeDefined();
      expect(job.steps.indexOf(auth)).toBeLessThan(job.steps.indexOf(pulumiStep(job)));
      expect(auth.with).toMatchObject({ "requested-token-type": "urn:pulumi:token-type:access_token:team", scope: "team:${{ vars.PULUMI_PREVIEW_TEAM }}" });
    }
  });

  test("only preview: no up, destroy, refresh or import, and no stack creation (upsert)", () => {
    for (const { job } of prJobs) {
      for (const action of uses(job, "pulumi/actions")) {
        expect(action.with.command).toBe("preview");
        expect(action.with.upsert).toBeUndefined();
        expect(action.with.refresh).toBeUndefined();
      }
      for (const run of runs(job)) expect(run).not.toMatch(/\bpulumi\s+(up|destroy|refresh|import|stack\s+(init|rm))\b/);
    }
  });

  test("may write only what they need: an OIDC token where they log in, PR comments where they comment", () => {
    for (const { file, name, job } of prJobs) {
      const writes = Object.entries<string>(job.permissions ?? {}).filter(([, level]) => level === "write").map(([scope]) => scope).sort();
      const expected = [
        ...(uses(job, "pulumi/auth-actions").length ? ["id-token"] : []),
        ...(uses(job, "pulumi/actions").some((a) => a.with?.["comment-on-pr"] === true) ? ["pull-requests"] : []),
      ].sort();
      expect({ job: `${file} ${name}`, writes }).toEqual({ job: `${file} ${name}`, writes: expected });
    }
  });
});

describe("every workflow", () => {
  test("pins every action to a full commit SHA, with its version in a comment, the same SHA everywhere", () => {
    const pins = new Map<string, Set<string>>();
    for (const file of WORKFLOWS) {
      const lines = workflowText(file).split("\n").filter((line) => /^\s*(-\s+)?uses:/.test(line));
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        const match = /uses:\s*([^@\s]+)@([^\s#]+)\s*#\s*(v\d+\.\d+\.\d+)\s*$/.exec(line);
        expect({ file, line: line.trim(), pinned: !!match && /^[0-9a-f]{40}$/.test(match[2]) }).toEqual({ file, line: line.trim(), pinned: true });
        const [, action, sha, version] = match as RegExpExecArray;
        pins.set(action, (pins.get(action) ?? new Set()).add(`${sha} ${version}`));
      }
    }
    for (const [action, versions] of pins) expect({ action, versions: versions.size }).toEqual({ action, versions: 1 });
  });

  test("denies every permission by default, and every job declares its own, never write-all", () => {
    for (const file of WORKFLOWS) expect(workflow(file).permissions).toEqual({});
    for (const [file, name, job] of allJobs()) {
      expect({ job: `${file} ${name}`, declared: typeof job.permissions === "object" && job.permissions !== null }).toEqual({ job: `${file} ${name}`, declared: true });
      expect(job.permissions.contents).toBe("read");
    }
  });

  test("checks out without persisting the token in .git/config", () => {
    for (const [, , job] of allJobs()) {
      const checkouts = uses(job, "actions/checkout");
      expect(checkouts).toHaveLength(1);
      for (const step of checkouts) expect(step.with?.["persist-credentials"]).toBe(false);
    }
  });

  test("installs the Pulumi CLI of the SDK's version", () => {
    const actions = allJobs().flatMap(([, , job]) => uses(job, "pulumi/actions"));
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) expect(action.with["pulumi-version"]).toBe(PULUMI_SDK_VERSION);
  });

  test("runs Node.js on a supported LTS line (22 or 24)", () => {
    for (const [, , job] of allJobs()) {
      for (const step of uses(job, "actions/setup-node")) expect([22, 24, "22", "24"]).toContain(step.with["node-version"]);
    }
  });

  test("jobs that hold a credential restore no dependency cache", () => {
    for (const [file, name, job] of allJobs()) {
      const text = JSON.stringify(job);
      if (!/secrets|id-token/.test(text)) continue;
      for (const step of uses(job, "actions/setup-node")) {
        expect({ job: `${file} ${name}`, cache: step.with.cache, auto: step.with["package-manager-cache"] }).toEqual({ job: `${file} ${name}`, cache: undefined, auto: false });
      }
    }
  });

  test("has a concurrency group", () => {
    expect(workflow("pull-request.yml").concurrency).toEqual({ group: "pull-request-${{ github.event.pull_request.number }}", "cancel-in-progress": true });
    // A deploy is never cancelled half-way; the next one waits.
    expect(workflow("deploy.yml").concurrency).toEqual({ group: "deploy", "cancel-in-progress": false });
  });
});

/**
 * The owners CODEOWNERS gives `file`: those of the last matching line (GitHub's rule). Handles the
 * pattern forms a CODEOWNERS here may use: `*`, `*.ext`, `/dir/` and `dir/` prefixes, exact paths.
 */
function codeOwners(file: string): string[] {
  const lines = readFileSync(path.join(ROOT, ".github", "CODEOWNERS"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  let owners: string[] = [];
  for (const line of lines) {
    const [pattern, ...rest] = line.split(/\s+/);
    const anchored = pattern.startsWith("/") ? pattern.slice(1) : pattern;
    const matches =
      pattern === "*" ? true
      : pattern.startsWith("*.") ? file.endsWith(pattern.slice(1))
      : anchored.endsWith("/") ? (pattern.startsWith("/") ? file.startsWith(anchored) : `/${file}`.includes(`/${anchored}`))
      : file === anchored;
    if (matches) owners = rest;
  }
  return owners;
}

describe("CODEOWNERS", () => {
  test("the policy pack, its production levels, the workflows and CODEOWNERS itself need the platform team's review", () => {
    for (const file of ["infra/policy/policies.ts", "infra/policy/production.json", "infra/policy/consulAclPolicies.ts", ".github/workflows/pull-request.yml", ".github/workflows/deploy.yml", ".github/CODEOWNERS"]) {
      expect({ file, owners: codeOwners(file) }).toEqual({ file, owners: ["@example/platform-team"] });
    }
  });
});

describe("deploy workflow", () => {
  const wf = workflow("deploy.yml");

  test("runs on main: staging first, production behind its environment's approval", () => {
    expect(wf.on).toEqual({ push: { branches: ["main"] } });
    expect(wf.jobs.staging.environment).toBe("staging");
    expect(wf.jobs.production.needs).toBe("staging");
    expect(wf.jobs.production.environment).toBe("production");
    expect(wf.jobs.production.strategy.matrix.include.map((i: any) => i.stack)).toEqual(listStacks().filter((s) => s.startsWith("prod-")));
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const action = pulumiStep(job);
      expect(action.with.command).toBe("up");
      expect(action.with.policyPacks).toBe("infra/policy");
      expect(action.with["stack-name"].startsWith(ORG_PREFIX)).toBe(true);
    }
    expect(pulumiStep(wf.jobs.production).with.policyPackConfigs).toBe("infra/policy/production.json");
  });

  test("logs in to Pulumi through OIDC as the deploy team, with no long-lived access token", () => {
    expect(workflowText("deploy.yml")).not.toContain("PULUMI_ACCESS_TOKEN");
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const [auth] = uses(job, "pulumi/auth-actions");
      expect(auth.with).toMatchObject({ "requested-token-type": "urn:pulumi:token-type:access_token:team", scope: "team:${{ vars.PULUMI_DEPLOY_TEAM }}" });
      expect(job.steps.indexOf(auth)).toBeLessThan(job.steps.indexOf(pulumiStep(job)));
      expect(job.permissions).toEqual({ contents: "read", "id-token": "write" });
    }
  });

  test("every `up` is followed by a health gate on the same stack, with the same Consul token and kubeconfig", () => {
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const steps: any[] = job.steps;
      const ups = uses(job, "pulumi/actions").filter((s) => s.with?.command === "up");
      expect(ups.length).toBeGreaterThan(0);
      for (const up of ups) {
        const gate = steps[steps.indexOf(up) + 1];
        const stack = (up.with["stack-name"] as string).slice(ORG_PREFIX.length);
        expect(gate?.run).toBe(`npm run -s status -- --stack ${stack} --wait 300`);
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
  for (const [file, jobName, job] of allJobs()) {
    const text = JSON.stringify(job);
    const entries: any[] = job.strategy?.matrix?.include ?? [{}];
    const stackOf = (entry: any) => stackOfName(pulumiStep(job)?.with?.["stack-name"], entry);
    for (const [, name] of text.matchAll(/secrets\.([A-Za-z0-9_]+)/g)) {
      for (const entry of entries) found.push({ workflow: file, job: jobName, stack: stackOf(entry), name });
    }
    for (const [, expression] of text.matchAll(/secrets\[([^\]]*)\]/g)) {
      const key = /^matrix\.([\w-]+)$/.exec(expression.trim())?.[1];
      if (!key) throw new Error(`${file} ${jobName}: secrets[${expression}] cannot be checked; look secrets up by a matrix value naming them`);
      for (const entry of entries) found.push({ workflow: file, job: jobName, stack: stackOf(entry), name: entry[key] });
    }
  }
  return found;
}

/** The secret names the README's "CI secrets" table tells users to create. */
function documentedSecrets(): string[] {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
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

  test("each deployed stack has its own Consul token and kubeconfig: read-only ones for previews, the deploy ones for up", () => {
    const deployed = listStacks().filter((s) => s !== "dev");
    const byStack = (file: string) => {
      const names = new Map<string, string[]>();
      for (const { stack, name } of lookups.filter((l) => l.workflow === file)) {
        expect(stack).toBeDefined();
        names.set(stack as string, [...new Set([...(names.get(stack as string) ?? []), name])].sort());
      }
      return Object.fromEntries([...names].sort(([a], [b]) => a.localeCompare(b)));
    };
    const expected = (infix: string) => Object.fromEntries(deployed.map((s) => [s, [`CONSUL_TOKEN_${infix}${secretName(s)}`, `KUBECONFIG_${infix}${secretName(s)}`]]));
    expect(byStack("pull-request.yml")).toEqual(expected("READONLY_"));
    expect(byStack("deploy.yml")).toEqual(expected(""));
  });

  test("the README names exactly the secrets the workflows read", () => {
    expect(documentedSecrets().sort()).toEqual([...new Set(lookups.map((l) => l.name))].sort());
  });

  test("a deploy creates its stack on first use (upsert); a pull request never does", () => {
    for (const job of Object.values<any>(workflow("deploy.yml").jobs)) {
      for (const action of uses(job, "pulumi/actions")) expect(action.with.upsert).toBe(true);
    }
    for (const job of Object.values<any>(workflow("pull-request.yml").jobs)) {
      for (const action of uses(job, "pulumi/actions")) expect(action.with.upsert).toBeUndefined();
    }
  });
});
