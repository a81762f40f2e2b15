/**
 * The lock wrapper logging in (CONSUL_LOGIN_METHOD, mogi:consul.authMethod) instead of reading a
 * static token: with the fake `consul` enforcing ACLs for the login's tokens only (its `login`
 * checks the bearer token, every other call needs a token that still exists). What a user relies
 * on: no Mogi without a login Consul accepted; one token per container, deleted once the lock is
 * released at its end (and one a killed container left, at the next start), kept while a follower
 * has not applied it yet; a token deleted meanwhile stops Mogi as a lost lock does, and the
 * wrapper logs in again by itself.
 * The real auth method against a real API server: test/e2e/deployLogin.test.ts.
 */
import { FakeConsul } from "./support/fakeConsul";
import { argvMogi, slowStopMogi, until } from "./support/lockScripts";
import { cleanHistory, EX_CONFIG, FENCE, GONE_MS, LOCK, lockTest, mogiTree, startHolder, startPod, World, WRAPPER } from "./support/wrapperPods";

const METHOD = "mogi-k8s";
const BEARER = "the-pods-service-account-jwt";

/** Settings of a pod that logs in: no static token file, the auth method and the bearer token file. */
function loginEnv(world: World, extra: Record<string, string> = {}): Record<string, string | undefined> {
  world.box.write("sa-token", `${BEARER}\n`);
  return {
    CONSUL_HTTP_TOKEN_FILE: undefined,
    CONSUL_LOGIN_METHOD: METHOD,
    CONSUL_LOGIN_BEARER_TOKEN_FILE: world.box.file("sa-token"),
    FAKE_CONSUL_AUTH_METHOD: METHOD,
    FAKE_CONSUL_BEARER: BEARER,
    ...extra,
  };
}
/** The login tokens Consul holds (their secret IDs). */
const tokens = (consul: FakeConsul) => Object.keys(consul.read().tokens ?? {});
const commands = (consul: FakeConsul) => consul.calls().map((c) => c.args[0]);

describe("consul-lock-wrapper.sh with a login (CONSUL_LOGIN_METHOD)", () => {
  lockTest("logs in before its first call, gives Mogi the login token, and logs it out after the lock is released", async (world) => {
    cleanHistory(world.consul);
    const seeToken = [process.execPath, "-e", "require('fs').writeFileSync(process.env.MARKER, require('fs').readFileSync(process.env.CONSUL_HTTP_TOKEN_FILE, 'utf8'))"];
    const run = await world.box.run(WRAPPER, seeToken, world.env("mogi-a", loginEnv(world)), undefined, 10_000);
    expect(run.status).toBe(0);
    const calls = commands(world.consul);
    expect(calls[0]).toBe("login");
    expect(calls.at(-1)).toBe("logout");
    expect(calls.lastIndexOf("lock")).toBeLessThan(calls.lastIndexOf("logout"));
    const login = world.consul.calls()[0].args;
    expect(login).toEqual(["login", `-method=${METHOD}`, `-bearer-token-file=${world.box.file("sa-token")}`, `-token-sink-file=${world.box.file("state-mogi-a")}/consul-acl-token`, "-meta", "pod=mogi-a"]);
    expect(world.box.read("marker-mogi-a")).toMatch(/^[0-9a-f-]{36}$/); // Mogi read Consul with the login's token
    expect(tokens(world.consul)).toEqual([]); // and it is gone
    expect(world.consul.key(FENCE)?.value).toMatch(/^stopped mogi-a /);
    expect(run.stdout + run.stderr).not.toContain(world.box.read("marker-mogi-a"));
  });

  lockTest("a new token the answering server does not know yet is waited for, not thrown away: one login, no token left behind", async (world) => {
    cleanHistory(world.consul);
    // As a follower that applies the leader's write 1.5 s late (3 real servers: 99 of 100 immediate uses refused).
    const run = await world.box.run(WRAPPER, argvMogi(), world.env("mogi-a", loginEnv(world, { FAKE_CONSUL_TOKEN_LAG_MS: "1500" })), undefined, 15_000);
    expect(run.status).toBe(0);
    expect(commands(world.consul).filter((c) => c === "login")).toHaveLength(1);
    expect(tokens(world.consul)).toEqual([]);
  });

  lockTest("a login Consul refuses: no Mogi, the reason in the log, retried until Consul accepts it", async (world) => {
    cleanHistory(world.consul);
    const pod = startPod(world, "mogi-a", slowStopMogi, loginEnv(world, { FAKE_CONSUL_BEARER: "another-jwt" }));
    await pod.ready;
    await until(() => commands(world.consul).filter((c) => c === "login").length >= 3, "three refused logins", 10_000);
    expect(pod.starts()).toEqual([]);
    expect(commands(world.consul).filter((c) => c !== "login")).toEqual([]); // nothing else is tried without a token
    // The bearer token the auth method accepts (as the kubelet's refreshed file would be): Mogi starts.
    world.box.write("sa-token", "another-jwt\n");
    await until(() => pod.starts().length === 1, "Mogi once the login is accepted", 10_000);
    process.kill(pod.pid1(), "SIGTERM");
    const run = await pod.run;
    expect(run.stderr).toContain(`cannot log in to Consul with auth method ${METHOD} (attempt 1): Error logging in: Unexpected response code: 403 (Permission denied); retrying in 1 s`);
    expect(tokens(world.consul)).toEqual([]);
  });

  lockTest("rounds share the container's token: a lock lost and taken back logs in no more", async (world) => {
    cleanHistory(world.consul);
    const pod = await startHolder(world, "mogi-a", slowStopMogi, loginEnv(world));
    world.consul.delete(LOCK); // the lock lost: consul lock ends the round
    await until(() => pod.starts().length === 2, "Mogi again after the round ended", 30_000);
    expect(commands(world.consul).filter((c) => c === "login")).toHaveLength(1);
    expect(tokens(world.consul)).toHaveLength(1);
    process.kill(pod.pid1(), "SIGTERM");
    expect((await pod.run).status).toBe(0);
    expect(tokens(world.consul)).toEqual([]);
  }, 45_000);

  lockTest("the login token deleted while Mogi runs: Mogi stops as for a lost lock, the wrapper logs in again and Mogi runs again", async (world) => {
    cleanHistory(world.consul);
    // Nothing can release the old session once its token is gone: short TTL and lock-delay in the fake.
    const env = loginEnv(world, { FAKE_CONSUL_SESSION_TTL_MS: "3000", FAKE_CONSUL_LOCK_DELAY_MS: "2000" });
    const pod = await startHolder(world, "mogi-a", slowStopMogi, env, 45_000);
    const [first] = tokens(world.consul);
    const deleted = Date.now();
    world.consul.change((s) => delete s.tokens?.[first]);
    await until(() => mogiTree(pod.ns()).length === 0, "Mogi's tree to end", GONE_MS + 2000);
    const goneMs = Date.now() - deleted;
    await until(() => pod.starts().length === 2, "Mogi again, with a new login", 30_000);
    expect(tokens(world.consul)).toHaveLength(1);
    expect(tokens(world.consul)).not.toContain(first);
    process.kill(pod.pid1(), "SIGTERM");
    const run = await pod.run;
    expect(run.status).toBe(0);
    expect(goneMs).toBeLessThan(GONE_MS);
    expect(run.stderr).toContain("403 (ACL not found)");
    expect(tokens(world.consul)).toEqual([]);
  }, 60_000);

  lockTest("a token a killed container left behind is logged out when the next container starts", async (world) => {
    cleanHistory(world.consul);
    world.consul.change((s) => void (s.tokens = { "left-by-a-killed-container": { method: METHOD } }));
    const env = world.env("mogi-a", loginEnv(world));
    world.box.write("state-mogi-a/consul-acl-token", "left-by-a-killed-container");
    const run = await world.box.run(WRAPPER, argvMogi(), env, undefined, 10_000);
    expect(run.status).toBe(0);
    expect(commands(world.consul).slice(0, 2)).toEqual(["logout", "login"]);
    expect(tokens(world.consul)).toEqual([]);
  });

  lockTest("a static token and a login at once, or a login without its bearer token, are refused in one line", async (world) => {
    for (const [overrides, message] of [
      [{ ...loginEnv(world), CONSUL_HTTP_TOKEN_FILE: world.box.file("token") }, "CONSUL_HTTP_TOKEN_FILE and CONSUL_LOGIN_METHOD are both set: give a static token or an auth method, not both"],
      [{ ...loginEnv(world), CONSUL_LOGIN_BEARER_TOKEN_FILE: undefined }, "missing required setting(s): CONSUL_LOGIN_BEARER_TOKEN_FILE"],
      [{ ...loginEnv(world), CONSUL_LOGIN_BEARER_TOKEN_FILE: world.box.file("absent") }, "CONSUL_LOGIN_BEARER_TOKEN_FILE="],
    ] as const) {
      const run = await world.box.run(WRAPPER, argvMogi(), world.env("mogi-a", overrides), undefined, 5000);
      expect({ status: run.status, lines: run.stderr.trim().split("\n").length }).toEqual({ status: EX_CONFIG, lines: 1 });
      expect(run.stderr).toContain(message);
    }
    expect(world.consul.calls()).toEqual([]);
  });
});
