/**
 * Runs the real lock wrapper with a fake `consul` (test/fixtures/fake-consul) first on PATH.
 * The fake follows `consul lock`'s documented contract; what is tested is the wrapper's side:
 * what it passes, what it refuses, that SIGTERM reaches Mogi, that Mogi's failure ends the
 * container and that a lost lock does not (it waits for the lock again in the same process).
 */
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { argvMogi, envOf, FAKE_CONSUL_DIR, ignoresTermMogi, Run, SCRIPTS, ScriptSandbox, TOKEN, until, untilTermMogi } from "./support/lockScripts";

const WRAPPER = "consul-lock-wrapper.sh";
const REQUIRED = ["CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_LOCK_PREFIX", "POD_NAME"];
const EX_CONFIG = 78;
const box = new ScriptSandbox();
beforeEach(() => box.setup());
afterEach(() => box.teardown());
const file = (name: string) => box.file(name);

function baseEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return envOf({
    PATH: `${FAKE_CONSUL_DIR}:/usr/bin:/bin`,
    CONSUL_HTTP_ADDR: "http://consul-server.consul.svc:8500",
    CONSUL_HTTP_TOKEN_FILE: file("token"),
    CONSUL_LOCK_PREFIX: "service/mogi/lock",
    CONSUL_LOCK_STATE_DIR: box.dir,
    POD_NAME: "mogi-7d9c-abcde",
    FAKE_CONSUL_RECORD: file("record"),
    FAKE_CONSUL_SESSION_FILE: file("session"),
    MARKER: file("marker"),
    ...overrides,
  });
}

const runWrapper = (args: string[], env: NodeJS.ProcessEnv, whileRunning?: (pid: number, stderr: () => string) => Promise<void>, limitMs?: number): Promise<Run> =>
  box.run(WRAPPER, args, env, whileRunning, limitMs);

/** What the fake consul recorded of its latest `consul lock`: its PID and its argument list, or undefined if never run. */
function consulCall(): { pid: number; args: string[] } | undefined {
  if (!existsSync(file("record"))) return undefined;
  const [pid, ...args] = readFileSync(file("record"), "utf8").split("\0").slice(0, -1);
  return { pid: Number(pid.replace("pid=", "")), args };
}

function expectRefused(run: Run, ...mentions: string[]): void {
  expect(run.status).toBe(EX_CONFIG);
  expect(run.stderr).toMatch(/^consul-lock-wrapper: /);
  for (const mention of mentions) expect(run.stderr).toContain(mention);
  expect(consulCall()).toBeUndefined();
  expect(existsSync(file("marker"))).toBe(false);
  expect(run.stdout + run.stderr).not.toContain(TOKEN);
}

describe("consul-lock-wrapper.sh", () => {
  // shellcheck runs in `npm run lint` (the unit suite needs only Node.js).
  test.each([WRAPPER, "consul-lock-guard.sh"])("%s is executable in the repository", (script) => {
    accessSync(path.join(SCRIPTS, script), constants.X_OK);
  });

  test("runs consul lock with the prefix, the guard beside it and Mogi's command, which then runs", async () => {
    const run = await runWrapper(argvMogi(), baseEnv());
    expect(consulCall()?.args).toEqual(["lock", "-shell=false", "-child-exit-code", "-name=mogi-7d9c-abcde", "service/mogi/lock", path.join(SCRIPTS, "consul-lock-guard.sh"), ...argvMogi()]);
    expect(run.stderr).toContain("waiting for the lock service/mogi/lock/.lock as session mogi-7d9c-abcde");
    expect(existsSync(file("marker"))).toBe(true);
    expect(run.status).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });

  test("arguments with spaces, quotes, $, * and newlines reach Mogi unchanged", async () => {
    const tricky = ["two words", "it's \"quoted\"", "$HOME and $(id)", "*", "line1\nline2", ""];
    const run = await runWrapper([...argvMogi(), ...tricky], baseEnv());
    expect(run.status).toBe(0);
    expect(JSON.parse(readFileSync(file("marker"), "utf8"))).toEqual(tricky);
  });

  test("Mogi's failure ends the container with Mogi's own status, so the kubelet restarts it", async () => {
    const run = await runWrapper(argvMogi(3), baseEnv());
    expect(existsSync(file("marker"))).toBe(true);
    expect(run.status).toBe(3);
    expect(run.stderr).toContain("Mogi exited with status 3; the container ends with it");
    expect(box.count("record.lock")).toBe(1);
  });

  test("SIGTERM sent to the wrapper's PID reaches Mogi; the wrapper exits 0 once the lock is released", async () => {
    const run = await runWrapper(untilTermMogi, baseEnv(), async (pid) => {
      await until(() => existsSync(file("marker.ready")), "Mogi to start");
      process.kill(pid, "SIGTERM");
    });
    expect(readFileSync(file("marker"), "utf8")).toBe("stopped\n");
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
    expect(run.stderr).toContain("stopped by SIGTERM; the lock is released");
    expect(box.read("session")).toBe(""); // released
  });

  describe("when the lock is lost (consul lock's contract, emulated by the fake)", () => {
    test("Mogi is stopped, and the same wrapper process waits for the lock again and runs Mogi again: no container restart", async () => {
      const run = await runWrapper(untilTermMogi, baseEnv({ FAKE_CONSUL_LOSE_LOCK_AFTER: "0.5" }), async (pid, stderr) => {
        await until(() => box.count("record.lock") >= 3, "consul lock run three times", 8000);
        // "starting Mogi" is logged before Mogi runs; SIGTERM must wait until the third Mogi's trap is set.
        await until(() => (stderr().match(/starting Mogi/g) ?? []).length >= 3, "Mogi started three times", 8000);
        await until(() => box.count("marker.ready") >= 3, "the third Mogi ready for SIGTERM", 8000);
        process.kill(pid, "SIGTERM");
      }, 15_000);
      expect(run.status).toBe(0);
      expect(readFileSync(file("marker"), "utf8").split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(3); // each lost lock stopped Mogi
      expect(run.stderr).toContain("lock given up (0 stopped by a signal");
      expect(run.stderr).not.toContain("the container ends");
    });

    test("a Mogi that ignores SIGTERM is killed after the grace period, and nothing outlives the lock", async () => {
      const run = await runWrapper(ignoresTermMogi, baseEnv({ FAKE_CONSUL_LOSE_LOCK_AFTER: "0.5", FAKE_CONSUL_CHILD_GRACE_TENTHS: "50", MOGI_GRACE_SECONDS: "1" }), async (pid) => {
        await until(() => box.count("record.lock") >= 2, "consul lock run again after the lost lock", 10_000);
        rmSync(file("marker.ready"), { force: true });
        await until(() => existsSync(file("marker.ready")), "Mogi to run again", 5000);
        process.kill(pid, "SIGTERM");
      }, 20_000);
      expect(run.stderr).toMatch(/Mogi \(pid \d+\) exited with status 137/); // the guard's SIGKILL, before consul lock's own
      expect(run.status).toBe(0); // box.run also fails if any process of the group still held the output
    });
  });

  describe("while Consul is unreachable (no container exit, so no restart back-off)", () => {
    const probes = () => box.count("record.info");
    const down = () => writeFileSync(file("down"), "");

    test("retries with consul itself, one log line per failed attempt, then locks and runs Mogi without exiting", async () => {
      down();
      let failedWhileDown = 0;
      const run = await runWrapper(argvMogi(), baseEnv({ FAKE_CONSUL_DOWN_FILE: file("down"), CONSUL_RETRY_SECONDS: "0.1" }), async () => {
        await until(() => probes() >= 3, "three failed checks");
        expect(consulCall()).toBeUndefined(); // never `consul lock` (nor Mogi) before Consul answers
        expect(existsSync(file("marker"))).toBe(false);
        failedWhileDown = probes();
        rmSync(file("down"));
      });
      expect(run.status).toBe(0);
      expect(existsSync(file("marker"))).toBe(true);
      const failures = run.stderr.split("\n").filter((l) => l.includes("is not usable yet"));
      expect(failures.length).toBeGreaterThanOrEqual(failedWhileDown);
      expect(failures.length).toBe(probes() - 1); // every failed attempt logged once; the last succeeded
      expect(failures[0]).toBe('consul-lock-wrapper: Consul at http://consul-server.consul.svc:8500 is not usable yet (attempt 1): Error querying agent: Get "http://consul-server.consul.svc:8500/v1/agent/self": dial tcp 127.0.0.1:8500: connect: connection refused; retrying in 0.1 s');
      expect(run.stdout + run.stderr).not.toContain(TOKEN);
    });

    test.each([
      ["between checks", false],
      ["during a check that hangs", true],
    ])("SIGTERM %s stops the wrapper at once, before the 30 s pause ends, and Mogi never runs", async (_when, hangs) => {
      down();
      const env = baseEnv({ CONSUL_RETRY_SECONDS: "30", ...(hangs ? { FAKE_CONSUL_INFO_HANGS: "1" } : { FAKE_CONSUL_DOWN_FILE: file("down") }) });
      let signalled = 0;
      const run = await runWrapper(argvMogi(), env, async (pid, stderr) => {
        await until(() => probes() >= 1 && (hangs || stderr().includes("retrying in 30 s")), hangs ? "the first check" : "the pause after the first failed check");
        signalled = Date.now();
        process.kill(pid, "SIGTERM");
      });
      expect(Date.now() - signalled).toBeLessThan(2000);
      expect(run.status).toBe(143);
      expect(run.stderr).toContain("stopped while waiting for Consul; Mogi was not started");
      expect(consulCall()).toBeUndefined();
      expect(existsSync(file("marker"))).toBe(false);
    });
  });

  test("CONSUL_BIN_DIR puts the copied consul on PATH", async () => {
    const run = await runWrapper(argvMogi(), baseEnv({ PATH: "/usr/bin:/bin", CONSUL_BIN_DIR: FAKE_CONSUL_DIR }));
    expect(run.status).toBe(0);
    expect(consulCall()?.args[0]).toBe("lock");
  });

  test.each(REQUIRED)("refuses to start without %s", async (variable) => {
    const run = await runWrapper(argvMogi(), baseEnv({ [variable]: undefined }));
    expectRefused(run, `missing required setting(s): ${variable}`);
  });

  test("reports every missing setting in one message", async () => {
    const run = await runWrapper(argvMogi(), baseEnv(Object.fromEntries(REQUIRED.map((v) => [v, ""]))));
    expectRefused(run, `missing required setting(s): ${REQUIRED.join(" ")}`);
  });

  test("refuses a token file that is missing or empty, without printing it", async () => {
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_HTTP_TOKEN_FILE: file("absent") })), "CONSUL_HTTP_TOKEN_FILE=", "is not a readable file");
    writeFileSync(file("empty"), "");
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_HTTP_TOKEN_FILE: file("empty") })), "CONSUL_HTTP_TOKEN_FILE=", "is empty");
  });

  test("refuses a CONSUL_CACERT that is not a readable file", async () => {
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_CACERT: file("no-ca.pem") })), "CONSUL_CACERT=", "is not a readable file");
  });

  test.each(["/service/mogi/lock", "service/mogi/lock/"])("refuses the lock prefix %p", async (prefix) => {
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_LOCK_PREFIX: prefix })), `CONSUL_LOCK_PREFIX=${prefix} must not start or end with '/'`);
  });

  test.each([" ", "soon", "1.2.3", "-1", "."])("refuses CONSUL_RETRY_SECONDS=%p", async (value) => {
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_RETRY_SECONDS: value })), "CONSUL_RETRY_SECONDS=", "must be a number of seconds");
  });

  test("refuses a CONSUL_LOCK_STATE_DIR it cannot write to", async () => {
    expectRefused(await runWrapper(argvMogi(), baseEnv({ CONSUL_LOCK_STATE_DIR: file("missing-dir") })), "CONSUL_LOCK_STATE_DIR=", "is not a writable directory");
  });

  test("refuses to start without a command", async () => {
    expectRefused(await runWrapper([], baseEnv()), "no command given");
  });

  test("refuses to start when consul is not on PATH, showing the PATH searched", async () => {
    const emptyBin = file("empty-bin");
    const run = await runWrapper(argvMogi(), baseEnv({ PATH: emptyBin }));
    expectRefused(run, "consul was not found on PATH", emptyBin);
  });
});
