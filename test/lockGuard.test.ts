/**
 * The lock guard (components/scripts/consul-lock-guard.sh) as `consul lock` runs it, against the
 * fake `consul`: Mogi runs only while reads confirm the lock, and is stopped when the deadline
 * passes without one (silent partition, refused connections) or when Consul says the lock is not
 * ours; SIGTERM reaches Mogi; Mogi's own failure is the guard's status. Short periods (1 s reads,
 * 2 s deadline, 1 s grace) keep the suite fast; the shipped values are held to the safety
 * inequality in singletonWorkload.test.ts.
 */
import { existsSync, writeFileSync } from "node:fs";
import { argvMogi, envOf, FAKE_CONSUL_DIR, ignoresTermMogi, ScriptSandbox, TOKEN, until, untilTermMogi } from "./support/lockScripts";

const GUARD = "consul-lock-guard.sh";
const EX_UNAVAILABLE = 69;
const EX_TEMPFAIL = 75;
const EX_CONFIG = 78;

/**
 * The guard's tests wait out deadlines and grace periods, so they run side by side, each in a
 * sandbox of its own (the fake consul's files, the guard's state directory, Mogi's marker).
 */
function guardTest(name: string, body: (box: ScriptSandbox) => Promise<void>): void {
  test.concurrent(name, async () => {
    const box = new ScriptSandbox();
    box.setup();
    try {
      await body(box);
    } finally {
      box.teardown();
    }
  }, 30_000);
}

/** The environment `consul lock` gives the guard, with the fake's key already held by "our" session. */
function guardEnv(box: ScriptSandbox, overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  writeFileSync(box.file("session"), "fake-session-ours\n");
  return envOf({
    PATH: `${FAKE_CONSUL_DIR}:/usr/bin:/bin`,
    CONSUL_HTTP_ADDR: "http://consul-server.consul.svc:8500",
    CONSUL_HTTP_TOKEN_FILE: box.file("token"),
    CONSUL_LOCK_HELD: "true",
    CONSUL_LOCK_KEY: "service/mogi/lock/.lock",
    CONSUL_LOCK_STATE_DIR: box.dir,
    CONSUL_LOCK_CHECK_SECONDS: "1",
    CONSUL_LOCK_DEADLINE_SECONDS: "2",
    MOGI_GRACE_SECONDS: "1",
    FAKE_CONSUL_RECORD: box.file("record"),
    FAKE_CONSUL_SESSION_FILE: box.file("session"),
    FAKE_CONSUL_DOWN_FILE: box.file("down"),
    FAKE_CONSUL_KV_HANGS_FILE: box.file("hang"),
    MARKER: box.file("marker"),
    ...overrides,
  });
}

const reads = (box: ScriptSandbox) => box.count("record.kv");
const verdict = (box: ScriptSandbox) => box.read("consul-lock.verdict").trim();

/** Runs the guard; once Mogi is up and the lock was confirmed again, `fault` acts. */
function runWithFault(box: ScriptSandbox, mogi: string[], fault: () => void, env = guardEnv(box)) {
  return box.run(GUARD, mogi, env, async () => {
    await until(() => box.exists("marker.ready"), "Mogi to start");
    const before = reads(box);
    await until(() => reads(box) > before, "a read while Mogi runs");
    fault();
  }, 15_000);
}

describe("consul-lock-guard.sh", () => {
  guardTest("confirms the lock before starting Mogi, keeps reading it, and passes Mogi's arguments unchanged", async (box) => {
    const tricky = ["two words", "it's \"quoted\"", "$HOME and $(id)", "*", ""];
    const run = await box.run(GUARD, [process.execPath, "-e", "setTimeout(() => { require('fs').writeFileSync(process.env.MARKER, JSON.stringify(process.argv.slice(1))); }, 2500)", ...tricky], guardEnv(box), undefined, 10_000);
    expect(run.status).toBe(0);
    expect(JSON.parse(box.read("marker"))).toEqual(tricky);
    expect(reads(box)).toBeGreaterThanOrEqual(2); // the first read, then at least one while Mogi ran
    expect(run.stderr).toContain("lock confirmed (session fake-session-ours); starting Mogi");
    expect(run.stderr).toMatch(/Mogi \(pid \d+\) exited with status 0/);
    expect(verdict(box)).toBe("mogi 0");
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
  });

  guardTest("Mogi failing: its status is the guard's (consul lock then exits 2 and the wrapper ends the container)", async (box) => {
    const run = await box.run(GUARD, argvMogi(3), guardEnv(box));
    expect(run.status).toBe(3);
    expect(verdict(box)).toBe("mogi 3");
  });

  guardTest("SIGTERM (the kubelet's through consul lock, or consul lock's on a lost lock) reaches Mogi; the guard exits 0", async (box) => {
    const run = await box.run(GUARD, untilTermMogi, guardEnv(box), async (pid) => {
      await until(() => box.exists("marker.ready"), "Mogi to start");
      process.kill(pid, "SIGTERM");
    });
    expect(box.read("marker")).toBe("stopped\n");
    expect(run.status).toBe(0);
    expect(verdict(box)).toMatch(/^lock 0 stopped by a signal/);
  });

  describe("deadline: Mogi stops when the lock cannot be confirmed in time", () => {
    for (const [fault, file, why] of [
      ["a silent partition (reads never answer)", "hang", /could not confirm the lock within 2 s \(no answer( within 2 s)?\)/],
      ["refused connections", "down", /could not confirm the lock within 2 s \(Error querying agent: .*connection refused\)/],
    ] as const) guardTest(`${fault}: Mogi gets SIGTERM, the guard exits 75 and says why`, async (box) => {
      const run = await runWithFault(box, untilTermMogi, () => writeFileSync(box.file(file), ""));
      expect(run.status).toBe(EX_TEMPFAIL);
      expect(box.read("marker")).toBe("stopped\n");
      expect(run.stderr).toMatch(new RegExp(`stopping Mogi: ${why.source}`));
      expect(verdict(box)).toMatch(new RegExp(`^lock 75 ${why.source}`));
    });

    guardTest("a Mogi that ignores SIGTERM is SIGKILLed after the grace period; nothing outlives the guard", async (box) => {
      const run = await runWithFault(box, ignoresTermMogi, () => writeFileSync(box.file("hang"), ""));
      expect(run.status).toBe(EX_TEMPFAIL); // box.run also fails if any process still held the output
      expect(run.stderr).toMatch(/Mogi \(pid \d+\) exited with status 137/);
    });

    guardTest("a partition shorter than the deadline does not stop Mogi", async (box) => {
      const run = await box.run(GUARD, untilTermMogi, guardEnv(box), async (pid) => {
        await until(() => box.exists("marker.ready"), "Mogi to start");
        writeFileSync(box.file("down"), "");
        await new Promise((r) => setTimeout(r, 900));
        await import("node:fs").then((fs) => fs.rmSync(box.file("down")));
        const after = reads(box);
        await until(() => reads(box) >= after + 3, "three more reads", 8000);
        process.kill(pid, "SIGTERM");
      }, 15_000);
      expect(run.status).toBe(0);
      expect(box.read("marker")).toBe("stopped\n"); // stopped by the SIGTERM only
    });
  });

  describe("Consul answers that the lock is not ours", () => {
    for (const [what, session, why] of [
      ["held by another session (ours expired, the lock moved on)", "fake-session-theirs\n", /held by session fake-session-theirs/],
      ["free (our session was invalidated)", "", /has no session/],
    ] as const) guardTest(`${what}: Mogi is stopped at once, the guard exits 69`, async (box) => {
      const run = await runWithFault(box, untilTermMogi, () => writeFileSync(box.file("session"), session));
      expect(run.status).toBe(EX_UNAVAILABLE);
      expect(box.read("marker")).toBe("stopped\n");
      expect(run.stderr).toMatch(why);
    });
  });

  guardTest("Mogi never starts when the first read cannot confirm the lock within the deadline", async (box) => {
    writeFileSync(box.file("hang"), "");
    const run = await box.run(GUARD, argvMogi(), guardEnv(box), undefined, 10_000);
    expect(run.status).toBe(EX_TEMPFAIL);
    expect(existsSync(box.file("marker"))).toBe(false);
    expect(run.stderr).toContain("Mogi not started: could not confirm the lock within 2 s");
  });

  guardTest("refuses to run outside consul lock, and periods that would break exclusion", async (box) => {
    const outside = await box.run(GUARD, argvMogi(), guardEnv(box, { CONSUL_LOCK_HELD: undefined }));
    expect(outside.status).toBe(EX_CONFIG);
    expect(outside.stderr).toContain("not run by consul lock");
    const tooLate = await box.run(GUARD, argvMogi(), guardEnv(box, { CONSUL_LOCK_DEADLINE_SECONDS: "10", MOGI_GRACE_SECONDS: "4" }));
    expect(tooLate.status).toBe(EX_CONFIG);
    expect(tooLate.stderr).toContain("must stay below the 15 s lock-delay");
    const graceTooLong = await box.run(GUARD, argvMogi(), guardEnv(box, { MOGI_GRACE_SECONDS: "5" }));
    expect(graceTooLong.status).toBe(EX_CONFIG);
    expect(graceTooLong.stderr).toContain("below consul lock's own 5 s grace");
    expect(existsSync(box.file("marker"))).toBe(false);
  });
});
