/**
 * The wrapper's test pods, shared by the unit tier's wrapper suites: each test in a sandbox of
 * its own with the fake `consul` first on PATH (test/fixtures/fake-consul), the wrapper run as a
 * container's PID 1, and short periods that keep the same inequalities as the shipped ones.
 */
import { mkdirSync } from "node:fs";
import { FakeConsul } from "./fakeConsul";
import { envOf, FAKE_CONSUL_DIR, pidNamespace, processesIn, Run, ScriptSandbox, until } from "./lockScripts";

export const WRAPPER = "consul-lock-wrapper.sh";
export const REQUIRED = ["CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_LOCK_PREFIX", "POD_NAME"];
export const EX_CONFIG = 78;
export const PREFIX = "service/mogi/lock";
export const LOCK = `${PREFIX}/.lock`;
export const FENCE = `${PREFIX}/.fence`;
export const PERIODS = { CONSUL_LOCK_CHECK_SECONDS: "1", CONSUL_LOCK_DEADLINE_SECONDS: "3", MOGI_GRACE_SECONDS: "1", CONSUL_LOCK_FENCE_SECONDS: "8", CONSUL_RETRY_SECONDS: "1" };
/** Deadline + tick + grace + the 2 s starvation bound, with these periods: Mogi's tree is gone by then. */
export const GONE_MS = (3 + 1 + 1 + 2) * 1000;

export interface World {
  box: ScriptSandbox;
  consul: FakeConsul;
  env: (pod: string, overrides?: Record<string, string | undefined>) => NodeJS.ProcessEnv;
}

/** Each test in a sandbox of its own (the fake's state, the pods' state directories, Mogi's marker), side by side. */
export function lockTest(name: string, body: (world: World) => Promise<void>, limitMs = 40_000): void {
  test.concurrent(name, async () => {
    const box = new ScriptSandbox();
    box.setup();
    const consul = new FakeConsul(box.file("consul-state.json"));
    const env = (pod: string, overrides: Record<string, string | undefined> = {}) => {
      const state = box.file(`state-${pod}`);
      mkdirSync(state, { recursive: true });
      return envOf({
        PATH: `${FAKE_CONSUL_DIR}:/usr/bin:/bin`,
        FAKE_CONSUL_NODE: process.execPath,
        FAKE_CONSUL_STATE: consul.stateFile,
        CONSUL_HTTP_ADDR: "http://consul-server.consul.svc:8500",
        CONSUL_HTTP_TOKEN_FILE: box.file("token"),
        CONSUL_LOCK_PREFIX: PREFIX,
        CONSUL_LOCK_STATE_DIR: state,
        POD_NAME: pod,
        MARKER: box.file(`marker-${pod}`),
        ...PERIODS,
        ...overrides,
      });
    };
    try {
      await body({ box, consul, env });
    } finally {
      box.teardown();
    }
  }, limitMs);
}

/** A previous holder that stopped cleanly: the next holder need not wait. */
export const cleanHistory = (consul: FakeConsul) => consul.seed(FENCE, "stopped mogi-old fake-session-old 0");

/** Mogi's processes (the test Mogi's shell and its `sleep 1000` child) alive in a container's PID namespace. */
export const mogiTree = (namespace: string) => processesIn(namespace).filter((p) => p.nsPid !== 1 && (p.cmd.includes("MARKER.ready") || p.cmd === "sleep 1000"));
/**
 * The test Mogi running as it should: its shell and its `sleep 1000`, nothing else. Awaited, not
 * sampled once: the shell's loop forks `sleep 0.05` every 50 ms, and a fork not yet exec'd shows
 * the shell's own command line for a moment (a third process that is gone a moment later).
 */
export const mogiAndChild = (namespace: string) => until(() => mogiTree(namespace).length === 2, "Mogi's shell and its child, and nothing else of Mogi's", 2000);

export interface Pod {
  run: Promise<Run>;
  /** Resolves once the container's PID 1 is up. */
  ready: Promise<void>;
  /** The container's PID namespace and its PID 1 (host PID). */
  ns: () => string;
  pid1: () => number;
  /** One line per Mogi start: its PID and its child's inside the container, and its fencing token. */
  starts: () => string[];
}

/** One pod: the wrapper as its container's PID 1 around `mogi`. */
export function startPod(world: World, pod: string, mogi: string[], overrides: Record<string, string | undefined> = {}, limitMs = 35_000): Pod {
  let namespace = "";
  let init = 0;
  let up: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (up = resolve));
  const run = world.box.run(WRAPPER, mogi, world.env(pod, overrides), async (pid) => {
    init = pid;
    namespace = pidNamespace(pid) as string;
    up();
  }, limitMs);
  return { run, ready, ns: () => namespace, pid1: () => init, starts: () => world.box.lines(`marker-${pod}.ready`) };
}

/** startPod, once its Mogi runs (its first start recorded). */
export async function startHolder(world: World, pod: string, mogi: string[], overrides: Record<string, string | undefined> = {}, limitMs?: number): Promise<Pod> {
  const started = startPod(world, pod, mogi, overrides, limitMs);
  await started.ready;
  await until(() => started.starts().length === 1, `${pod}'s Mogi to start`, 10_000);
  return started;
}
