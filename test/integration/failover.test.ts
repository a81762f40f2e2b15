/**
 * Deploys the stack for real (Automation API, file backend, ephemeral stack) to a kind cluster with
 * Consul from the Helm chart, then runs the shared failover scenarios (test/support/failover.ts,
 * the same the real-engine tier runs) and measures each hand-over, asserting at every 250 ms
 * sample that at most one pod runs Mogi. Needs what test/integration/env/up.sh sets up.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { pulumiCli } from "../../infra/automation/pulumiCli";
import { loadStackConfig, PROJECT_DIR, STACKS_DIR } from "../../infra/stacks";
import { FailoverCluster, MogiSampler, SCENARIOS } from "../support/failover";
import { describeIfReady } from "./prerequisites";

const exec = promisify(execFile);
const sh = async (cmd: string, args: string[]) => (await exec(cmd, args, { maxBuffer: 1 << 24 })).stdout.trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const run = `it-${Date.now().toString(36)}`;
const namespace = `mogi-${run}`;
const lockPrefix = `test/mogi/${run}/lock`;
const selector = "app.kubernetes.io/name=mogi";
/** The test image's process, as `pgrep -f` sees it (env/test-image/server.js). */
const MOGI_PROCESS = "mogi-test-server";

async function consul(pathname: string): Promise<unknown> {
  const response = await fetch(`${process.env.CONSUL_HTTP_ADDR}${pathname}`, { headers: { "X-Consul-Token": process.env.CONSUL_HTTP_TOKEN ?? "" } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`Consul ${pathname}: HTTP ${response.status}`);
  return response.json();
}

async function pods(): Promise<string[]> {
  const out = await sh("kubectl", ["-n", namespace, "get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"]);
  return out.split(/\s+/).filter(Boolean);
}

/** Pods whose main container runs Mogi right now. */
async function podsRunningMogi(): Promise<string[]> {
  const found = await Promise.all(
    (await pods()).map(async (pod) => {
      try {
        await sh("kubectl", ["-n", namespace, "exec", pod, "-c", "mogi", "--", "pgrep", "-f", MOGI_PROCESS]);
        return pod;
      } catch {
        return undefined; // not running, or the container is not up
      }
    }),
  );
  return found.filter((p): p is string => p !== undefined);
}

/** Samples every 250 ms which pods run Mogi; records any sample with two. */
class Sampler implements MogiSampler {
  readonly overlaps: { at: number; pods: string[] }[] = [];
  maxConcurrent = 0;
  private latest: string[] = [];
  private stopped = false;
  private loop?: Promise<void>;

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const running = await podsRunningMogi();
        this.latest = running;
        this.maxConcurrent = Math.max(this.maxConcurrent, running.length);
        if (running.length > 1) this.overlaps.push({ at: Date.now(), pods: running });
        await sleep(250);
      }
    })();
  }

  async until(condition: (running: string[]) => boolean, timeoutMs: number, since = Date.now()): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (condition(this.latest)) return Date.now() - since;
      await sleep(100);
    }
    throw new Error(`condition not met within ${timeoutMs / 1000} s; running: ${this.latest.join(", ")}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

const consulNamespace = process.env.CONSUL_NAMESPACE ?? "consul";

/** The shared scenarios (test/support/failover.ts) acted out with kubectl and Docker on kind. */
const kind: FailoverCluster = {
  holderPod: async () => (await holder().catch(() => undefined))?.pod,
  deletePod: async (pod) => void (await sh("kubectl", ["-n", namespace, "delete", "pod", pod, "--wait=false"])),
  evictPod: async (pod) => {
    const eviction = path.join(tmpdir(), `eviction-${pod}.json`);
    writeFileSync(eviction, JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace } }));
    try {
      await sh("kubectl", ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/eviction`, "-f", eviction]);
      return 201;
    } catch (error) {
      return /429|TooManyRequests|disruption budget/i.test(String(error)) ? 429 : 500;
    }
  },
  loseNode: async (pod) => {
    const node = await sh("kubectl", ["-n", namespace, "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"]);
    // PID 1 of a container ignores SIGKILL sent from inside its own PID namespace, so the kill
    // comes from the node (a kind node is a container named like the node).
    await sh("docker", ["exec", node, "pkill", "-9", "-f", `consul lock .*-name=${pod} `]);
    await sh("kubectl", ["-n", namespace, "delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"]);
  },
  restartConsulServers: async () => {
    await sh("kubectl", ["-n", consulNamespace, "rollout", "restart", "statefulset/consul-server"]);
    await sh("kubectl", ["-n", consulNamespace, "rollout", "status", "statefulset/consul-server", "--timeout=300s"]);
  },
};

async function holder(): Promise<{ pod: string; session: string }> {
  const kv = (await consul(`/v1/kv/${lockPrefix}/.lock`)) as { Session?: string }[] | undefined;
  const session = kv?.[0]?.Session;
  if (!session) throw new Error(`${lockPrefix}/.lock is not held`);
  const info = (await consul(`/v1/session/info/${session}`)) as { Name: string }[];
  return { pod: info[0].Name, session };
}

describeIfReady("failover on a real cluster and Consul", () => {
  const stackName = run;
  // Created in beforeAll: jest runs a skipped describe's body too, and nothing would remove it.
  let backend = "";
  const measured: { scenario: string; handoverSeconds: number }[] = [];
  const sampler = new Sampler();
  let stack: Stack;

  beforeAll(async () => {
    backend = mkdtempSync(path.join(tmpdir(), "mogi-pulumi-backend-"));
    process.env.PULUMI_BACKEND_URL = `file://${backend}`;
    process.env.PULUMI_CONFIG_PASSPHRASE = "throw-away-integration-passphrase";
    stack = await LocalWorkspace.createStack({ stackName, workDir: PROJECT_DIR }, { pulumiCommand: await pulumiCli() });
    const { config } = loadStackConfig("dev");
    const consulSettings = { ...JSON.parse(config["mogi:consul"]), address: new URL(process.env.CONSUL_HTTP_ADDR as string).host, lockPrefix, configPrefix: `test/mogi/${run}/config` };
    const overrides: Record<string, string> = {
      "mogi:image": process.env.MOGI_TEST_IMAGE as string,
      "mogi:command": JSON.stringify(["node", "/app/server.js"]),
      "mogi:namespace": namespace,
      "mogi:consul": JSON.stringify(consulSettings),
      "mogi:kubernetes": "{}",
    };
    await stack.setAllConfig(Object.fromEntries(Object.entries({ ...config, ...overrides }).map(([k, value]) => [k, { value }])));
  });

  afterAll(async () => {
    await sampler.stop();
    try {
      await stack?.destroy({ onOutput: (o) => process.stdout.write(o) });
      await stack?.workspace.removeStack(stackName);
    } finally {
      rmSync(path.join(STACKS_DIR, `Pulumi.${stackName}.yaml`), { force: true });
      if (backend) rmSync(backend, { recursive: true, force: true });
      if (measured.length) {
        console.log(["scenario                     hand-over", ...measured.map((m) => `${m.scenario.padEnd(28)} ${m.handoverSeconds.toFixed(1)} s`)].join("\n"));
        const dir = path.join(__dirname, "results");
        mkdirSync(dir, { recursive: true });
        writeFileSync(path.join(dir, `handover-${new Date().toISOString().replace(/[:.]/g, "-")}.json`), JSON.stringify({ run, measured, overlaps: sampler.overlaps }, null, 2));
      }
    }
  });

  test("preview with the policy pack passes", async () => {
    await stack.preview({ policyPacks: [path.join(PROJECT_DIR, "infra", "policy")], onOutput: (o) => process.stdout.write(o) });
  });

  test("up: the pod becomes ready, holds the lock, and is the only one running Mogi", async () => {
    await stack.up({ onOutput: (o) => process.stdout.write(o) });
    await sh("kubectl", ["-n", namespace, "wait", "--for=condition=Ready", "pod", "-l", selector, "--timeout=300s"]);
    const { pod } = await holder();
    expect(await podsRunningMogi()).toEqual([pod]);
    sampler.start();
  });

  test.each(Object.entries(SCENARIOS))("%s: hand-over measured, never two Mogis at once", async (_name, scenario) => {
    const result = await scenario(kind, sampler);
    measured.push({ scenario: result.scenario, handoverSeconds: result.ms / 1000 });
    expect(sampler.overlaps).toEqual([]);
    expect(sampler.maxConcurrent).toBe(1);
  }, 10 * 60_000);
});
