/**
 * `npm run lint` runs actionlint on the workflows; these tests check what they promise users.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { listStacks } from "../infra/render/stacks";

/* eslint-disable @typescript-eslint/no-explicit-any */
const workflow = (name: string): any => parse(readFileSync(path.join(__dirname, "..", ".github", "workflows", name), "utf8"));
const uses = (job: any, action: string) => job.steps.filter((s: any) => typeof s.uses === "string" && s.uses.startsWith(action));

describe("pull-request workflow", () => {
  const wf = workflow("pull-request.yml");

  test("renders every shipped stack offline and uploads out/ as an artifact", () => {
    expect(wf.on).toHaveProperty("pull_request");
    expect(wf.jobs.render.strategy.matrix.stack.sort()).toEqual(listStacks());
    const run = wf.jobs.render.steps.map((s: any) => s.run).filter(Boolean);
    expect(run).toEqual(["npm ci", "npm start -- --stack ${{ matrix.stack }} --out out"]);
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
    expect(wf.jobs.production.strategy.matrix.stack).toEqual(listStacks().filter((s) => s.startsWith("prod-")));
    for (const job of [wf.jobs.staging, wf.jobs.production]) {
      const [action] = uses(job, "pulumi/actions@v7");
      expect(action.with.command).toBe("up");
      expect(action.with.policyPacks).toBe("infra/policy");
    }
  });

  test("no secret value is written in a workflow, only references", () => {
    const text = readFileSync(path.join(__dirname, "..", ".github", "workflows", "deploy.yml"), "utf8") + readFileSync(path.join(__dirname, "..", ".github", "workflows", "pull-request.yml"), "utf8");
    for (const match of text.matchAll(/(TOKEN|KUBECONFIG_DATA):\s*(.+)/g)) expect(match[2]).toMatch(/^\$\{\{ secrets[.[]/);
  });
});
