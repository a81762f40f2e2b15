/**
 * Runs the real lock wrapper with a fake `consul` (test/fixtures/fake-consul) first on PATH.
 * The fake follows `consul lock`'s documented contract; what is tested is the wrapper's side:
 * what it passes, what it refuses, and that it hands the process over with `exec`.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..");
const WRAPPER = path.join(ROOT, "components", "scripts", "consul-lock-wrapper.sh");
const FAKE_CONSUL_DIR = path.join(__dirname, "fixtures", "fake-consul");
const TOKEN = "s3cr3t-token-never-printed";
const REQUIRED = ["CONSUL_HTTP_ADDR", "CONSUL_HTTP_TOKEN_FILE", "CONSUL_LOCK_PREFIX", "POD_NAME"];
const EX_CONFIG = 78;

let dir: string;
/** Process groups started by a test: killed afterwards, so a broken wrapper leaves no orphans. */
const groups: number[] = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "lock-wrapper-"));
  writeFileSync(path.join(dir, "token"), `${TOKEN}\n`);
});
afterEach(() => {
  for (const pgid of groups.splice(0)) killGroup(pgid);
  rmSync(dir, { recursive: true, force: true });
});

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {
    // already gone
  }
}

const file = (name: string) => path.join(dir, name);

function baseEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    PATH: `${FAKE_CONSUL_DIR}:/usr/bin:/bin`,
    CONSUL_HTTP_ADDR: "http://consul-server.consul.svc:8500",
    CONSUL_HTTP_TOKEN_FILE: file("token"),
    CONSUL_LOCK_PREFIX: "service/mogi/lock",
    POD_NAME: "mogi-7d9c-abcde",
    FAKE_CONSUL_RECORD: file("record"),
    MARKER: file("marker"),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
}

interface Run {
  pid: number;
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

/**
 * Starts the wrapper in a process group of its own; `whileRunning` may act on the live process.
 * Anything still holding its output after 5 s (a hang, or processes that outlived it) fails the test.
 */
function runWrapper(args: string[], env: NodeJS.ProcessEnv, whileRunning?: (pid: number, stderr: () => string) => Promise<void>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(WRAPPER, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    groups.push(child.pid as number);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      killGroup(child.pid as number);
      reject(new Error(`the wrapper, or a process it started, was still running after 5 s; stderr: ${stderr}`));
    }, 5000);
    child.on("error", reject);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid as number, status, signal, stdout, stderr });
    });
    if (whileRunning) whileRunning(child.pid as number, () => stderr).catch(reject);
  });
}

/** What the fake consul recorded: its PID and its argument list, or undefined if never run. */
function consulCall(): { pid: number; args: string[] } | undefined {
  if (!existsSync(file("record"))) return undefined;
  const [pid, ...args] = readFileSync(file("record"), "utf8").split("\0").slice(0, -1);
  return { pid: Number(pid.replace("pid=", "")), args };
}

async function until(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A child that writes its argv (as JSON) to $MARKER and exits with `code`. */
const argvChild = (code = 0) => [process.execPath, "-e", `require("fs").writeFileSync(process.env.MARKER, JSON.stringify(process.argv.slice(1))); process.exit(${code})`];

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
  test("is executable in the repository", () => {
    accessSync(WRAPPER, constants.X_OK);
  });

  test("execs consul lock with the prefix and Mogi's command, which then runs", async () => {
    const run = await runWrapper(["/usr/bin/mogi", "--listen", ":8080"], baseEnv({}));
    // The fake cannot run /usr/bin/mogi; only its arguments matter here.
    expect(consulCall()?.args).toEqual(["lock", "-shell=false", "-child-exit-code", "-name=mogi-7d9c-abcde", "service/mogi/lock", "/usr/bin/mogi", "--listen", ":8080"]);
    expect(run.stderr).toContain("waiting for the lock service/mogi/lock/.lock as session mogi-7d9c-abcde");
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });

  test("replaces itself with consul (exec), so the kubelet's SIGTERM reaches consul lock", async () => {
    const run = await runWrapper(argvChild(), baseEnv());
    expect(run.status).toBe(0);
    expect(consulCall()?.pid).toBe(run.pid);
  });

  test("arguments with spaces, quotes, $, * and newlines reach the child unchanged", async () => {
    const tricky = ["two words", "it's \"quoted\"", "$HOME and $(id)", "*", "line1\nline2", ""];
    const run = await runWrapper([...argvChild(), ...tricky], baseEnv());
    expect(run.status).toBe(0);
    expect(JSON.parse(readFileSync(file("marker"), "utf8"))).toEqual(tricky);
  });

  test("the child's failure is the wrapper's failure (exit 2, -child-exit-code)", async () => {
    const run = await runWrapper(argvChild(3), baseEnv());
    expect(existsSync(file("marker"))).toBe(true);
    expect(run.status).toBe(2);
  });

  test("SIGTERM sent to the wrapper's PID reaches the child", async () => {
    const child = ["/bin/sh", "-c", 'trap \'echo terminated > "$MARKER"; exit 0\' TERM; : > "$MARKER.ready"; while :; do sleep 0.05; done'];
    const run = await runWrapper(child, baseEnv(), async (pid) => {
      await until(() => existsSync(file("marker.ready")), "the child to start");
      process.kill(pid, "SIGTERM");
    });
    expect(readFileSync(file("marker"), "utf8")).toBe("terminated\n");
    expect(run.signal).toBeNull();
    expect(run.status).toBe(0);
  });

  describe("when the lock is lost (consul lock's contract, emulated by the fake)", () => {
    const untilTerm = ["/bin/sh", "-c", 'trap \'echo stopped > "$MARKER"; exit 0\' TERM; while :; do sleep 0.05; done'];
    const ignoresTerm = ["/bin/sh", "-c", 'trap "" TERM; : > "$MARKER"; while :; do sleep 0.05; done'];

    test("Mogi is stopped and the container exits 0, so the pod restarts and waits for the lock again", async () => {
      const run = await runWrapper(untilTerm, baseEnv({ FAKE_CONSUL_LOSE_LOCK_AFTER: "0.2" }));
      expect(readFileSync(file("marker"), "utf8")).toBe("stopped\n");
      expect(run.status).toBe(0);
    });

    test("a Mogi that ignores SIGTERM is killed after the grace period, and nothing outlives the lock", async () => {
      const run = await runWrapper(ignoresTerm, baseEnv({ FAKE_CONSUL_LOSE_LOCK_AFTER: "0.2", FAKE_CONSUL_CHILD_GRACE_TENTHS: "3" }));
      expect(existsSync(file("marker"))).toBe(true);
      expect(run.status).toBe(0); // runWrapper also fails if any process of the group still held the output
    });
  });

  describe("while Consul is unreachable (no container exit, so no restart back-off)", () => {
    const probes = () => (existsSync(file("record.info")) ? readFileSync(file("record.info"), "utf8").split("\n").filter(Boolean).length : 0);
    const down = () => writeFileSync(file("down"), "");

    test("retries with consul itself, one log line per failed attempt, then locks and runs Mogi without exiting", async () => {
      down();
      let failedWhileDown = 0;
      const run = await runWrapper(argvChild(), baseEnv({ FAKE_CONSUL_DOWN_FILE: file("down"), CONSUL_RETRY_SECONDS: "0.1" }), async () => {
        await until(() => probes() >= 3, "three failed checks");
        expect(consulCall()).toBeUndefined(); // never `consul lock` (nor Mogi) before Consul answers
        expect(existsSync(file("marker"))).toBe(false);
        failedWhileDown = probes();
        rmSync(file("down"));
      });
      expect(run.status).toBe(0);
      expect(existsSync(file("marker"))).toBe(true);
      expect(consulCall()?.pid).toBe(run.pid); // the same process went on to exec consul lock
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
      const run = await runWrapper(argvChild(), env, async (pid, stderr) => {
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
    const run = await runWrapper(argvChild(), baseEnv({ PATH: "/usr/bin:/bin", CONSUL_BIN_DIR: FAKE_CONSUL_DIR }));
    expect(run.status).toBe(0);
    expect(consulCall()?.args[0]).toBe("lock");
  });

  test.each(REQUIRED)("refuses to start without %s", async (variable) => {
    const run = await runWrapper(argvChild(), baseEnv({ [variable]: undefined }));
    expectRefused(run, `missing required setting(s): ${variable}`);
  });

  test("reports every missing setting in one message", async () => {
    const run = await runWrapper(argvChild(), baseEnv(Object.fromEntries(REQUIRED.map((v) => [v, ""]))));
    expectRefused(run, `missing required setting(s): ${REQUIRED.join(" ")}`);
  });

  test("refuses a token file that is missing or empty, without printing it", async () => {
    expectRefused(await runWrapper(argvChild(), baseEnv({ CONSUL_HTTP_TOKEN_FILE: file("absent") })), "CONSUL_HTTP_TOKEN_FILE=", "is not a readable file");
    writeFileSync(file("empty"), "");
    expectRefused(await runWrapper(argvChild(), baseEnv({ CONSUL_HTTP_TOKEN_FILE: file("empty") })), "CONSUL_HTTP_TOKEN_FILE=", "is empty");
  });

  test("refuses a CONSUL_CACERT that is not a readable file", async () => {
    expectRefused(await runWrapper(argvChild(), baseEnv({ CONSUL_CACERT: file("no-ca.pem") })), "CONSUL_CACERT=", "is not a readable file");
  });

  test.each(["/service/mogi/lock", "service/mogi/lock/"])("refuses the lock prefix %p", async (prefix) => {
    expectRefused(await runWrapper(argvChild(), baseEnv({ CONSUL_LOCK_PREFIX: prefix })), `CONSUL_LOCK_PREFIX=${prefix} must not start or end with '/'`);
  });

  test.each([" ", "soon", "1.2.3", "-1", "."])("refuses CONSUL_RETRY_SECONDS=%p", async (value) => {
    expectRefused(await runWrapper(argvChild(), baseEnv({ CONSUL_RETRY_SECONDS: value })), "CONSUL_RETRY_SECONDS=", "must be a number of seconds");
  });

  test("refuses to start without a command", async () => {
    expectRefused(await runWrapper([], baseEnv()), "no command given");
  });

  test("refuses to start when consul is not on PATH, showing the PATH searched", async () => {
    const emptyBin = file("empty-bin");
    const run = await runWrapper(argvChild(), baseEnv({ PATH: emptyBin }));
    expectRefused(run, "consul was not found on PATH", emptyBin);
  });
});
