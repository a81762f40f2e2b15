/**
 * The check of Consul's certificate (infra/consulTls.ts; the deploy driver and the program run it)
 * against a local TLS server whose certificate a throw-away CA signed (committed fixtures,
 * test/fixtures/tls/make.ts, so that the unit tier needs no openssl): the right CA passes; another
 * CA, or a certificate that does not name the address, is one line naming the setting to fix;
 * http stacks and an unreachable Consul are left to the engine.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, Server } from "node:tls";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { consulTlsProblem } from "../infra/consulTls";
import { parseSettings, Settings } from "../infra/config";
import { mogiProgram } from "../infra/program";
import { recordProgram } from "../infra/render/recorder";
import { freePort } from "./e2e/support/processes";

const FIXTURES = path.join(__dirname, "fixtures", "tls");
const ca = { cert: path.join(FIXTURES, "consul-agent-ca.crt") };
const wrongCa = { cert: path.join(FIXTURES, "wrong-ca.crt") };
let dir: string;
const servers: Server[] = [];

/** A TLS server on 127.0.0.1 serving the fixture leaf `name` (signed by `ca`); its port. */
async function tlsServer(name: "server" | "server-other-name"): Promise<number> {
  const server = createServer({ cert: readFileSync(path.join(FIXTURES, `${name}.crt`)), key: readFileSync(path.join(FIXTURES, `${name}.key`)) }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

/** A valid production-shape stack's settings, as text; its provider CA comes from `consul`. */
function rawSettings(consul: Record<string, unknown>): Record<string, string> {
  return {
    environment: "production",
    image: "quay.io/example/mogi:1.4.2",
    command: JSON.stringify(["/usr/local/bin/mogi"]),
    createNamespace: "false",
    readOnlyRootFilesystem: "true",
    networkPolicy: JSON.stringify({ platformOwned: "the platform's" }),
    consul: JSON.stringify({ scheme: "https", caFrom: { kind: "Secret", name: "consul-ca-cert", key: "tls.crt" }, ...consul }),
  };
}

function settings(consul: Record<string, unknown>, env: Record<string, string> = {}): Settings {
  return parseSettings(rawSettings(consul), { projectDir: dir, env });
}

let namedPort: number;
let otherNamePort: number;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mogi-consul-tls-"));
  namedPort = await tlsServer("server"); // names server.dc1.consul, localhost and 127.0.0.1
  otherNamePort = await tlsServer("server-other-name"); // names server.dc1.consul only
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(dir, { recursive: true, force: true });
});

describe("the deploy driver's check of Consul's certificate", () => {
  test("Consul's own CA: no problem", async () => {
    expect(await consulTlsProblem(settings({ address: `127.0.0.1:${namedPort}`, providerCaFile: ca.cert }))).toBeUndefined();
  });

  test("another CA in providerCaFile: one line naming TLS verification and the setting to fix", async () => {
    const problem = await consulTlsProblem(settings({ address: `127.0.0.1:${namedPort}`, providerCaFile: wrongCa.cert }));
    expect(problem).toMatch(new RegExp(`^TLS verification of Consul at 127\\.0\\.0\\.1:${namedPort} failed: .*\\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\\); Pulumi's Consul provider trusts the CA from mogi:consul\\.providerCaFile \\(${wrongCa.cert.replace(/[.]/g, "\\.")}\\), which did not sign Consul's certificate: set mogi:consul\\.providerCaFile to Consul's CA`));
    expect(problem).not.toContain("\n");
  });

  test("the CA from providerCaPem or CONSUL_CA_FILE is named as such", async () => {
    const pem = readFileSync(wrongCa.cert, "utf8");
    expect(await consulTlsProblem(settings({ address: `127.0.0.1:${namedPort}`, providerCaPem: pem }))).toContain("trusts the CA from mogi:consul.providerCaPem,");
    const env = { CONSUL_CA_FILE: wrongCa.cert };
    expect(await consulTlsProblem(settings({ address: `127.0.0.1:${namedPort}` }, env), env)).toContain(`trusts the CA from CONSUL_CA_FILE (${wrongCa.cert}),`);
  });

  test("a certificate that does not name the address: the address is what to fix", async () => {
    const problem = await consulTlsProblem(settings({ address: `127.0.0.1:${otherNamePort}`, providerCaFile: ca.cert }));
    expect(problem).toMatch(/^TLS verification of Consul at 127\.0\.0\.1:\d+ failed: .*IP: 127\.0\.0\.1 is not in the cert's list.*; Consul's certificate does not name the host in mogi:consul\.address/);
  });

  test("left to the engine: an http stack, a Consul that refuses connections", async () => {
    const closed = await freePort();
    expect(await consulTlsProblem(settings({ address: `127.0.0.1:${closed}`, providerCaFile: wrongCa.cert }))).toBeUndefined();
    const http = parseSettings({ image: "x:1", command: '["x"]', readOnlyRootFilesystem: "true", networkPolicy: '{"platformOwned":"x"}', consul: JSON.stringify({ address: `127.0.0.1:${namedPort}` }) }, { projectDir: dir, env: {} });
    expect(await consulTlsProblem(http)).toBeUndefined();
  });
});

describe("the program's own check, whoever runs pulumi (the CLI, the workflows' pulumi/actions, npm run deploy)", () => {
  const stackConfig = (consul: Record<string, unknown>) => Object.fromEntries(Object.entries(rawSettings(consul)).map(([key, value]) => [`mogi:${key}`, value]));

  test("a provider CA that did not sign Consul's certificate stops the program before it declares anything", async () => {
    const recording = await recordProgram(mogiProgram, { project: "mogi", stack: "prod-x", config: stackConfig({ address: `127.0.0.1:${namedPort}`, providerCaFile: wrongCa.cert }) });
    expect(recording.error?.message).toMatch(/^stack "prod-x": TLS verification of Consul at 127\.0\.0\.1:\d+ failed: .*set mogi:consul\.providerCaFile to Consul's CA/);
    expect(recording.resources).toEqual([]);
  });

  test("Consul's own CA: everything is declared", async () => {
    const recording = await recordProgram(mogiProgram, { project: "mogi", stack: "prod-x", config: stackConfig({ address: `127.0.0.1:${namedPort}`, providerCaFile: ca.cert }) });
    expect(recording.error).toBeUndefined();
    expect(recording.resources.map((r) => r.type)).toContain("kubernetes:apps/v1:Deployment");
  });
});
