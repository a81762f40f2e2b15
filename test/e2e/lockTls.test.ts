/**
 * The lock over HTTPS, the production stacks' shape: a real Consul 1.14 server serving HTTPS with a
 * throw-away CA (support/pki.ts, openssl), and the wrapper exactly as the render ships it for
 * `consul.scheme: https` (CONSUL_HTTP_ADDR https://…, CONSUL_CACERT from the CA the stack
 * declares), run as local pods (support/lockPods.ts, the kubelet's stand-in) around the test Mogi,
 * which reads its fencing token over HTTPS with the same CA.
 *
 * Proves: `consul lock` and the wrapper hold, hand over and take over the lock over TLS as over plain
 * HTTP (graceful and hard loss, 3 runs each, never two Mogis at once, judged from the intervals
 * Mogi's parent observed); a pod given another CA logs Consul's TLS error while it waits and never
 * starts Mogi. Measures into test/e2e/results/lock-tls.json.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { lockKey } from "../../components/lockWrapper";
import { engine } from "../engines/paths";
import { ConsulServer } from "./support/consulServer";
import { testImages } from "./support/localPod";
import { lockStackConfig, lockSuite } from "./support/lockSuite";
import { gracefulHandovers, hardLossTakeovers, HANDOVER_NOTES, LockPods } from "./support/lockPods";
import type { ScenarioResult } from "./support/mogiIntervals";
import { fencingTokens } from "./support/mogiWatch";
import { consulTls, makeCa } from "../support/pki";
import { removeWorkDir, stopAll, waitFor } from "./support/processes";
import { renderForTest, TestRender } from "./support/renderedStack";
import { formatScenarios, writeResults } from "./support/results";

const execFileAsync = promisify(execFile);
const RUNS = 3;
const DATACENTER = "dc1";

const suite = lockSuite("lock-tls");
const { dir, run, lockPrefix, watch, intervals } = suite;
const tls = consulTls(path.join(dir, "pki"), DATACENTER);
const consul = new ConsulServer(path.join(dir, "consul"), { tls, datacenter: DATACENTER });
const results: Record<string, ScenarioResult> = {};
const holderPod = async () => (await consul.lockHolder(lockKey(lockPrefix)))?.name;
let pods: LockPods;
let render: TestRender;
let token: string;
let consulVersion = "";

/** The stack over HTTPS at `address` (the pods reach it there too), trusting `caFile`. */
function stackConfig(address: string, caFile: string): Record<string, string> {
  return lockStackConfig(suite, address, { consul: { scheme: "https", datacenter: DATACENTER, caPem: readFileSync(caFile, "utf8") } });
}

function record(scenario: string, runs: number[], note: string, since: number): void {
  results[scenario] = intervals.scenario(scenario, runs, note, since);
}

beforeAll(async () => {
  consulVersion = (await execFileAsync(engine("consul"), ["version"])).stdout.split("\n")[0];
  await consul.start();
  render = await renderForTest(stackConfig(consul.httpsAddress, tls.caFile));
  pods = new LockPods({ dir, watch, intervals, images: testImages(dir), scheme: "https", holderPod });
  token = await consul.tokenFor(`mogi-e2e-tls-${run}`, render.aclRules);
  for (const [key, value] of Object.entries(render.kv)) await consul.call("PUT", `/v1/kv/${key}`, { body: value });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await pods?.stopLinks();
  if (Object.keys(results).length) {
    writeResults("lock-tls.json", { consul: consulVersion, scheme: "https", overlapJudgedBy: "intervals observed by Mogi's parent (the wrapper's log lines, stamped on read; SIGKILL time for killed pods)", scenarios: results });
    console.log(`${consulVersion}, over HTTPS: ms (${RUNS} runs each)\n${formatScenarios(results)}`);
  }
  removeWorkDir(dir);
});

describe("the rendered wrapper over HTTPS (CONSUL_CACERT), never two Mogis at once (parent-observed)", () => {
  const start = () => pods.start(render, token, consul.httpsPort);
  afterEach(() => pods.endTest(), 120_000);

  test("the render gives the pod an https address and the CA the stack declares", () => {
    const env = render.deployment.spec.template.spec.containers[0].env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === "CONSUL_HTTP_ADDR")?.value).toBe(`https://${consul.httpsAddress}`);
    const caFile = env.find((e) => e.name === "CONSUL_CACERT")?.value as string;
    const caConfigMap = Object.values(render.configMaps).find((data) => data[path.basename(caFile)] !== undefined);
    expect(caConfigMap?.[path.basename(caFile)]).toBe(readFileSync(tls.caFile, "utf8"));
  });

  test("graceful, three wrappers competing: SIGTERM to the holder's wrapper hands over at once", async () => {
    const since = Date.now();
    record("graceful over TLS (SIGTERM, 3 wrappers)", await gracefulHandovers(pods, start, RUNS, intervals), HANDOVER_NOTES.graceful, since);
  });

  test("hard loss: the holder's processes SIGKILLed, taken over after TTL and lock-delay", async () => {
    const since = Date.now();
    const takeovers = await hardLossTakeovers(pods, start, RUNS, intervals);
    record("hard loss over TLS (SIGKILL, 2 wrappers)", takeovers, HANDOVER_NOTES.hardLoss, since);
    for (const t of takeovers) expect(t).toBeLessThanOrEqual(60_000);
  }, 15 * 60_000);

  test("every Mogi read its fencing token over HTTPS, each greater than the ones before", () => {
    const tokens = [...fencingTokens(watch.events()).values()].flat().sort((a, b) => a.t - b.t);
    expect(tokens.length).toBeGreaterThanOrEqual(2 * RUNS);
    expect(tokens.filter((t, i) => i > 0 && t.token <= Math.max(...tokens.slice(0, i).map((e) => e.token)))).toEqual([]);
  });

  test("a pod given another CA logs Consul's TLS error while it waits and never starts Mogi", async () => {
    const wrongCa = makeCa(path.join(dir, "pki-wrong"), "wrong-ca", "not Consul's CA");
    const wrong = await renderForTest(stackConfig(consul.httpsAddress, wrongCa.cert));
    const since = Date.now();
    const pod = await pods.start(wrong, token, consul.httpsPort);
    // Two failed checks (3 s apart): the wrapper keeps waiting in the same process.
    await waitFor("the wrapper's second failed check", () => /attempt 2\): .*x509: certificate signed by unknown authority/.test(pod.main.tail(10)), 60_000);
    expect(pod.main.tail(10)).toMatch(/consul-lock-wrapper: Consul at https:\/\/127\.0\.0\.1:\d+ is not usable yet \(attempt 1\): .*tls: failed to verify certificate: x509: certificate signed by unknown authority/);
    expect(pod.main.alive).toBe(true);
    expect(intervals.since(since).filter((i) => i.pod === pod.name)).toEqual([]);
    expect(await holderPod()).toBeUndefined();
  });
});
