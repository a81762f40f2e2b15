/**
 * The real lock wrapper (components/scripts/consul-lock-wrapper.sh) as a container's PID 1, with
 * the fake `consul` (a stand-in with Consul's session, key and lock-delay rules) first on PATH.
 * What a user relies on: Mogi runs only while the pod's session holds the fence key; whichever
 * piece of the lock machinery dies, Mogi's whole tree is gone before another Mogi can start; a
 * deleted key makes the next holder wait; a lock lost and taken back does not stop Mogi again;
 * bad settings are refused in one line. Short periods (1 s checks, 3 s deadline, 1 s grace, 8 s
 * fence) keep it fast; the shipped values are held to the same inequalities in
 * singletonWorkload.test.ts and by the wrapper itself.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { FakeConsul } from "./support/fakeConsul";
import {
  argvMogi, envOf, FAKE_CONSUL_DIR, ignoresTermMogi, pidNamespace, processAlive, processesIn, Run, SCRIPTS, ScriptSandbox, slowStopMogi, TOKEN, until,
} from "./support/lockScripts";
import { cleanHistory, EX_CONFIG, FENCE, GONE_MS, LOCK, lockTest, mogiAndChild, mogiTree, PERIODS, PREFIX, REQUIRED, startHolder, startPod, World, WRAPPER } from "./support/wrapperPods";

describe("consul-lock-wrapper.sh, fail-closed", () => {
  lockTest("runs Mogi with its arguments unchanged and its fencing token, once the pod's session holds the fence key", async (world) => {
    cleanHistory(world.consul);
    const tricky = ["two words", "it's \"quoted\"", "$HOME and $(id)", "*", "line1\nline2", ""];
    const run = await world.box.run(WRAPPER, [process.execPath, "-e", "require('fs').writeFileSync(process.env.MARKER, JSON.stringify({ argv: process.argv.slice(1), token: process.env.MOGI_FENCING_TOKEN, file: require('fs').readFileSync(process.env.MOGI_FENCING_TOKEN_FILE, 'utf8') }))", ...tricky], world.env("mogi-a"), undefined, 10_000);
    expect(run.status).toBe(0);
    const seen = JSON.parse(world.box.read("marker-mogi-a"));
    expect(seen.argv).toEqual(tricky);
    const calls = world.consul.calls().map((c) => c.args);
    expect(calls).toContainEqual(["lock", "-shell=false", "-name=mogi-a", PREFIX, "/bin/sh", "-c", 'kill -USR1 "$1" && exec sleep 2147483647', "consul-lock-holder", "1"]);
    // The token is the fence key's ModifyIndex after this pod's acquire, the one the wrapper confirmed.
    const acquire = calls.findIndex((a) => a[0] === "kv" && a[1] === "put" && a.includes("-acquire"));
    expect(acquire).toBeGreaterThan(0);
    expect(Number(seen.token)).toBeGreaterThan(0);
    expect(seen.file.trim()).toBe(seen.token);
    // Released cleanly after Mogi ended: the next holder need not wait.
    expect(world.consul.key(FENCE)).toMatchObject({ session: "", value: expect.stringMatching(/^stopped mogi-a fake-session-[0-9a-f-]+ 0$/) });
    expect(world.consul.key(LOCK)).toBeUndefined();
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });

  lockTest("SIGTERM stops Mogi and the child it started, then releases the fence key and the lock; exit 0", async (world) => {
    cleanHistory(world.consul);
    const pod = await startHolder(world, "mogi-a", slowStopMogi);
    const ns = pod.ns();
    await mogiAndChild(ns);
    const signalled = Date.now();
    process.kill(pod.pid1(), "SIGTERM");
    await until(() => mogiTree(ns).length === 0, "Mogi's tree to end", 5000);
    const stoppedAfter = Date.now() - signalled;
    const run = await pod.run;
    expect(run.status).toBe(0);
    // It was given its grace (it takes 2 s), then killed; the wrapper counts in /proc/uptime's
    // centiseconds, so the grace may start up to 10 ms before this process's clock saw the signal.
    expect(stoppedAfter).toBeGreaterThanOrEqual(1000 - 10);
    expect(world.box.exists("marker-mogi-a")).toBe(false); // the grace of 1 s ran out before its own stop
    expect(run.stderr).toContain("stopped by a signal; the lock is released");
    expect(world.consul.key(FENCE)?.value).toMatch(/^stopped mogi-a /);
  });

  lockTest("Mogi's failure ends the container with Mogi's own status", async (world) => {
    cleanHistory(world.consul);
    const run = await world.box.run(WRAPPER, argvMogi(3), world.env("mogi-a"), undefined, 10_000);
    expect(run.status).toBe(3);
    expect(run.stderr).toContain("Mogi exited with status 3; the container ends with it");
  });

  lockTest("a Mogi that ignores SIGTERM is killed with its child after the grace", async (world) => {
    cleanHistory(world.consul);
    const pod = await startHolder(world, "mogi-a", ignoresTermMogi);
    const ns = pod.ns();
    const signalled = Date.now();
    process.kill(pod.pid1(), "SIGTERM");
    await until(() => mogiTree(ns).length === 0, "Mogi's tree to end", 5000);
    expect(Date.now() - signalled).toBeLessThan(1000 + 1000);
    expect((await pod.run).status).toBe(0);
  });

  describe("a piece of the lock machinery dies while Mogi runs: Mogi's tree is gone before another Mogi can start", () => {
    /**
     * Two pods compete; `kill` ends one process of the holder's chain. The holder's Mogi tree must be
     * gone (host /proc) before the other pod's Mogi starts, and the other must get the lock (or the
     * holder must start again) once the fence key's rules allow.
     */
    async function killOne(world: World, which: (pid1: number) => number, expectTakeover: boolean, overrides: Record<string, string> = {}): Promise<{ goneMs: number; nextMs: number }> {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi, overrides);
      const b = startPod(world, "mogi-b", slowStopMogi, overrides);
      await b.ready;
      await until(() => world.consul.calls().some((c) => c.args[0] === "lock" && c.args.includes("-name=mogi-b")), "the second pod waiting", 5000);
      const target = which(a.pid1());
      const killed = Date.now();
      process.kill(target, "SIGKILL");
      await until(() => mogiTree(a.ns()).length === 0, "the holder's Mogi tree to end", GONE_MS + 2000);
      const goneMs = Date.now() - killed;
      expect(b.starts()).toHaveLength(0); // never while the holder's tree lived
      let nextMs = -1;
      if (expectTakeover) {
        await until(() => b.starts().length + a.starts().length > 1, "a Mogi again", 30_000);
        nextMs = Date.now() - killed;
      }
      for (const pod of [a, b]) if (processAlive(pod.pid1())) process.kill(pod.pid1(), "SIGTERM");
      await Promise.all([a.run, b.run]);
      return { goneMs, nextMs };
    }
    const childOf = (pid: number, pattern: RegExp) => {
      const ns = pidNamespace(pid) as string;
      const found = processesIn(ns).find((p) => pattern.test(p.cmd));
      if (!found) throw new Error(`no process matching ${pattern} in the container`);
      return found.hostPid;
    };

    lockTest("consul lock killed: the wrapper stops Mogi, releases the fence key, takes the lock again", async (world) => {
      // Nothing releases .lock: a 3 s session TTL in the fake (Consul's is 15 s) keeps the test short.
      const { goneMs } = await killOne(world, (pid1) => childOf(pid1, /consul\.js lock /), true, { FAKE_CONSUL_SESSION_TTL_MS: "3000" });
      expect(goneMs).toBeLessThan(1000 + 1000); // L's end is seen within a tick; Mogi's grace is 1 s
    }, 60_000);

    lockTest("the holder (consul lock's child) killed: consul lock releases .lock at once, but the other pod waits for the fence key's lock-delay", async (world) => {
      const { goneMs, nextMs } = await killOne(world, (pid1) => childOf(pid1, /^sleep 2147483647$/), true);
      expect(goneMs).toBeLessThan(2000);
      expect(nextMs).toBeGreaterThan(goneMs);
    }, 60_000);

    lockTest("the wrapper (PID 1) killed: the kernel ends the whole container at once", async (world) => {
      // A 3 s session TTL in the fake (Consul's is 15 s) keeps the test short; the lock-delay stays 15 s.
      const { goneMs, nextMs } = await killOne(world, (pid1) => pid1, true, { FAKE_CONSUL_SESSION_TTL_MS: "3000" });
      expect(goneMs).toBeLessThan(500);
      // Nothing was released: the other pod waits for the session's TTL and the lock-delay.
      expect(nextMs).toBeGreaterThan(15_000);
    }, 60_000);

    lockTest("a check in flight killed: a failed read, Mogi keeps running on the next confirmation", async (world) => {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi);
      const ns = a.ns();
      let check: { hostPid: number } | undefined;
      await until(() => (check = processesIn(ns).find((p) => /consul\.js kv get -detailed .*\.fence/.test(p.cmd))) !== undefined, "a check in flight", 3000);
      process.kill((check as { hostPid: number }).hostPid, "SIGKILL");
      await new Promise((r) => setTimeout(r, 4000));
      await mogiAndChild(ns);
      expect(a.starts()).toHaveLength(1);
      process.kill(a.pid1(), "SIGTERM");
      expect((await a.run).status).toBe(0);
    });
  });

  describe("the keys are deleted", () => {
    lockTest("the lock key deleted: the other pod gets .lock but waits for the fence key until the holder's Mogi is gone", async (world) => {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi);
      const b = startPod(world, "mogi-b", slowStopMogi);
      await b.ready;
      await until(() => world.consul.calls().some((c) => c.args[0] === "lock" && c.args.includes("-name=mogi-b")), "the second pod waiting", 5000);
      world.consul.delete(LOCK);
      let goneAt = 0;
      await until(() => {
        if (!goneAt && mogiTree(a.ns()).length === 0) goneAt = Date.now();
        return b.starts().length + a.starts().length > 1;
      }, "a Mogi again", 25_000);
      expect(goneAt).toBeGreaterThan(0); // the holder's tree ended before the next Mogi started
      for (const pod of [a, b]) process.kill(pod.pid1(), "SIGTERM");
      await Promise.all([a.run, b.run]);
    });

    lockTest("both keys deleted (kv delete -recurse): the next holder waits the whole fence time first", async (world) => {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi);
      const deleted = Date.now();
      world.consul.delete(FENCE);
      world.consul.delete(LOCK);
      await until(() => mogiTree(a.ns()).length === 0, "Mogi's tree to end", GONE_MS);
      await until(() => a.starts().length === 2, "Mogi again", 20_000);
      expect(Date.now() - deleted).toBeGreaterThanOrEqual(8000); // the fence time
      process.kill(a.pid1(), "SIGTERM");
      expect((await a.run).stderr).toContain("the fence key was deleted or never written");
    });
  });

  lockTest("a holder stopped inside its fence wait passes the wait on: the next holder waits the whole fence time too (the model's counterexample)", async (world) => {
    // No fence key: the first holder must wait; it is stopped during that wait.
    const a = startPod(world, "mogi-a", slowStopMogi);
    await a.ready;
    await until(() => /^running mogi-a /.test(world.consul.key(FENCE)?.value ?? ""), "the first pod to hold the fence key", 5000);
    process.kill(a.pid1(), "SIGTERM");
    expect((await a.run).status).toBe(0);
    expect(a.starts()).toEqual([]);
    expect(world.consul.key(FENCE)?.value).toMatch(/^stopped mogi-a \S+ 1$/);
    const released = Date.now();
    const b = await startHolder(world, "mogi-b", slowStopMogi);
    expect(Date.now() - released).toBeGreaterThanOrEqual(8000); // the fence time, in full
    process.kill(b.pid1(), "SIGTERM");
    await b.run;
  });

  lockTest("the lock lost and taken back: Mogi runs again, then is not stopped while Consul answers (rounds share nothing)", async (world) => {
    cleanHistory(world.consul);
    const a = await startHolder(world, "mogi-a", slowStopMogi, {}, 55_000);
    world.consul.delete(LOCK);
    // consul lock sees the loss, ends its child and destroys its session: the fence key comes back
    // after the lock-delay (15 s), unless the wrapper released it first.
    await until(() => a.starts().length === 2, "Mogi again, in the same container", 25_000);
    const [, second] = a.starts();
    await new Promise((r) => setTimeout(r, 12_000));
    expect(a.starts()).toHaveLength(2);
    expect(mogiTree(a.ns()).map((p) => p.nsPid)).toContain(Number(second.split(" ")[0]));
    // A higher fencing token for the new round.
    const [first] = a.starts();
    expect(Number(second.split(" ")[2])).toBeGreaterThan(Number(first.split(" ")[2]));
    process.kill(a.pid1(), "SIGTERM");
    expect((await a.run).status).toBe(0);
  }, 60_000);

  describe("Consul unreachable or slow", () => {
    lockTest("answers that hang: Mogi's tree is gone within deadline + tick + grace + starvation of the last confirmation", async (world) => {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi, { FAKE_CONSUL_HANG_FILE: world.box.file("hang") });
      const reads = () => world.consul.calls().filter((c) => c.args.includes(FENCE) && c.args[1] === "get");
      const before = reads().length;
      await until(() => reads().length > before, "a check while Mogi runs", 3000);
      const lastSent = reads().at(-1)?.t as number;
      writeFileSync(world.box.file("hang"), "");
      await until(() => mogiTree(a.ns()).length === 0, "Mogi's tree to end", GONE_MS + 2000);
      expect(Date.now() - lastSent).toBeLessThanOrEqual(GONE_MS);
      process.kill(a.pid1(), "SIGTERM");
      await a.run;
    });

    lockTest("answers delayed by 0.7 s (a slow link, within the deadline less a tick): Mogi keeps running", async (world) => {
      cleanHistory(world.consul);
      const a = await startHolder(world, "mogi-a", slowStopMogi, { FAKE_CONSUL_DELAY_MS: "700" });
      await new Promise((r) => setTimeout(r, 8000));
      expect(a.starts()).toHaveLength(1);
      await mogiAndChild(a.ns());
      process.kill(a.pid1(), "SIGTERM");
      await a.run;
    });

    lockTest("while Consul refuses connections the wrapper retries in the same container, then runs Mogi", async (world) => {
      cleanHistory(world.consul);
      writeFileSync(world.box.file("down"), "");
      const run = await world.box.run(WRAPPER, argvMogi(), world.env("mogi-a", { FAKE_CONSUL_DOWN_FILE: world.box.file("down") }), async () => {
        await until(() => world.consul.calls().filter((c) => c.args[0] === "info").length >= 2, "two failed checks", 5000);
        expect(world.consul.calls().some((c) => c.args[0] === "lock")).toBe(false);
        rmSync(world.box.file("down"));
      }, 15_000);
      expect(run.status).toBe(0);
      expect(run.stderr).toContain('is not usable yet (attempt 1): Error querying Consul agent: Get "http://consul-server.consul.svc:8500/v1/agent/self"');
      expect(run.stdout + run.stderr).not.toContain(TOKEN);
    });
  });

  // RLIMIT_NPROC is enforced only for a non-root UID, which only root can switch to (CI runs as root).
  (process.getuid?.() === 0 ? lockTest : (name: string) => test.skip(name, () => undefined))("out of forks (Mogi uses up the pids limit): PID 1's fork fails, the kernel ends the container", async (world) => {
    cleanHistory(world.consul);
    chmodSync(world.box.dir, 0o777);
    for (const f of ["token", "consul-state.json"]) chownSync(world.box.file(f), 61234, 61234);
    const state = world.env("mogi-a").CONSUL_LOCK_STATE_DIR as string;
    chownSync(state, 61234, 61234);
    // Mogi keeps every process it can get (a Node.js Mogi survives its own failed forks).
    const forkBomb = [process.execPath, "-e", 'const { spawn } = require("child_process"); require("fs").appendFileSync(process.env.MARKER + ".ready", process.pid + "\\n"); setInterval(() => { try { spawn("sleep", ["1000"]).on("error", () => undefined); } catch {} }, 2);'];
    const env = world.env("mogi-a");
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn("unshare", ["--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", "sh", "-c", 'ulimit -p 200 && exec setpriv --reuid 61234 --regid 61234 --clear-groups "$@"', "container", path.join(SCRIPTS, WRAPPER), ...forkBomb], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      const timer = setTimeout(() => {
        process.kill(-(child.pid as number), "SIGKILL");
        reject(new Error(`still running after 20 s: ${stderr}`));
      }, 20_000);
      child.on("close", (status: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        resolve({ pid: child.pid as number, status, signal, stdout: "", stderr });
      });
    });
    expect(world.box.lines("marker-mogi-a.ready")).toHaveLength(1); // Mogi ran, and forked until the limit
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/^consul-lock-wrapper: .*starting Mogi$/m);
    expect(run.stderr).toMatch(/Cannot fork/); // the wrapper's own fork failed: it ended, and the kernel ended the rest
    // Nothing of the container is left (host view), and the fence key was not released: the next
    // holder waits for the session's TTL and the lock-delay.
    expect(spawnSync("pgrep", ["-u", "61234"]).status).toBe(1); // no process of the container's UID

    expect(world.consul.key(FENCE)?.value).toMatch(/^running mogi-a /);
  }, 30_000);
});

describe("consul-lock-wrapper.sh refuses bad settings in one line, before it calls Consul", () => {
  const box = new ScriptSandbox();
  beforeEach(() => box.setup());
  afterEach(() => box.teardown());
  const env = (overrides: Record<string, string | undefined> = {}) => envOf({
    PATH: `${FAKE_CONSUL_DIR}:/usr/bin:/bin`, FAKE_CONSUL_NODE: process.execPath, FAKE_CONSUL_STATE: box.file("consul-state.json"),
    CONSUL_HTTP_ADDR: "http://consul-server.consul.svc:8500", CONSUL_HTTP_TOKEN_FILE: box.file("token"), CONSUL_LOCK_PREFIX: PREFIX,
    CONSUL_LOCK_STATE_DIR: box.dir, POD_NAME: "mogi-7d9c-abcde", MARKER: box.file("marker"), ...overrides,
  });
  async function expectRefused(args: string[], overrides: Record<string, string | undefined>, ...mentions: string[]): Promise<void> {
    const run = await box.run(WRAPPER, args, env(overrides));
    expect(run.status).toBe(EX_CONFIG);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(/^consul-lock-wrapper: /);
    for (const mention of mentions) expect(run.stderr).toContain(mention);
    expect(new FakeConsul(box.file("consul-state.json")).calls()).toEqual([]);
    expect(box.exists("marker")).toBe(false);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  }

  test.each(REQUIRED)("without %s", (variable) => expectRefused(argvMogi(), { [variable]: undefined }, `missing required setting(s): ${variable}`));
  test("every missing setting in one message", () => expectRefused(argvMogi(), Object.fromEntries(REQUIRED.map((v) => [v, ""])), `missing required setting(s): ${REQUIRED.join(" ")}`));
  test("a token file that is missing", () => expectRefused(argvMogi(), { CONSUL_HTTP_TOKEN_FILE: box.file("absent") }, "CONSUL_HTTP_TOKEN_FILE=", "is not a readable file"));
  test("a token file that is empty", () => {
    writeFileSync(box.file("empty"), "");
    return expectRefused(argvMogi(), { CONSUL_HTTP_TOKEN_FILE: box.file("empty") }, "is empty");
  });
  test("a CONSUL_CACERT that is not a readable file", () => expectRefused(argvMogi(), { CONSUL_CACERT: box.file("no-ca.pem") }, "CONSUL_CACERT=", "is not a readable file"));
  test.each(["/service/mogi/lock", "service/mogi/lock/"])("the lock prefix %p", (prefix) => expectRefused(argvMogi(), { CONSUL_LOCK_PREFIX: prefix }, `CONSUL_LOCK_PREFIX=${prefix} must not start or end with '/'`));
  test.each([" ", "soon", "1.5", "-1", "0"])("CONSUL_LOCK_DEADLINE_SECONDS=%p", (value) => expectRefused(argvMogi(), { CONSUL_LOCK_DEADLINE_SECONDS: value }, "must be a whole number of seconds above 0"));
  test("periods that would let another pod start Mogi before this one stopped it (deadline + grace + 3 ≥ the 15 s lock-delay)", () =>
    expectRefused(argvMogi(), { CONSUL_LOCK_DEADLINE_SECONDS: "9", MOGI_GRACE_SECONDS: "3", CONSUL_LOCK_FENCE_SECONDS: "20" }, "must stay below Consul's 15 s lock-delay"));
  test("a fence time not above the time Mogi may still run", () =>
    expectRefused(argvMogi(), { CONSUL_LOCK_FENCE_SECONDS: "13" }, "CONSUL_LOCK_FENCE_SECONDS must exceed", "(13)"));
  test("a check period not below the deadline", () => expectRefused(argvMogi(), { CONSUL_LOCK_CHECK_SECONDS: "6" }, "CONSUL_LOCK_CHECK_SECONDS must be below CONSUL_LOCK_DEADLINE_SECONDS"));
  test("a state directory it cannot write to", () => expectRefused(argvMogi(), { CONSUL_LOCK_STATE_DIR: box.file("missing-dir") }, "CONSUL_LOCK_STATE_DIR=", "is not a writable directory"));
  test("no command", () => expectRefused([], {}, "no command given"));
  test("consul not on PATH, showing the PATH searched", () => expectRefused(argvMogi(), { PATH: box.file("empty-bin") }, "consul was not found on PATH", box.file("empty-bin")));

  test("not the container's PID 1 (shareProcessNamespace, or run by another process): it would not fail closed", async () => {
    const run = await box.run(WRAPPER, argvMogi(), env(), undefined, 5000, false);
    expect(run.status).toBe(EX_CONFIG);
    expect(run.stderr).toMatch(/^consul-lock-wrapper: must run as the container's PID 1 \(it is PID \d+\)/);
    expect(box.exists("marker")).toBe(false);
  });

  test("CONSUL_BIN_DIR puts the copied consul on PATH", async () => {
    new FakeConsul(box.file("consul-state.json")).seed(FENCE, "stopped x s 0");
    const run = await box.run(WRAPPER, argvMogi(), env({ PATH: "/usr/bin:/bin", CONSUL_BIN_DIR: FAKE_CONSUL_DIR, ...PERIODS }), undefined, 10_000);
    expect(run.status).toBe(0);
    expect(box.exists("marker")).toBe(true);
  });
});
