/**
 * Throw-away certificates for the test suites, made by `openssl` (Debian package openssl): a CA per
 * use (the control plane's, Consul's, a wrong one), and leaf certificates it signs. ECDSA P-256,
 * valid 2 days: nothing here outlives a test run.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export function openssl(args: string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error) throw new Error(`openssl is needed for the e2e suites' certificates (Debian package openssl): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${result.stderr}`);
}

/** A CA: `<name>.crt` and `<name>.key` in `dir`, where its leaves are written too. */
export interface TestCa {
  dir: string;
  /** The CA certificate (PEM file). */
  cert: string;
  key: string;
}

/** A new self-signed CA named `commonName`, as `<dir>/<name>.crt` and `.key`, valid `days`. */
export function makeCa(dir: string, name: string, commonName: string, days = 2): TestCa {
  mkdirSync(dir, { recursive: true });
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-x509", "-new", "-key", `${name}.key`, "-sha256", "-days", String(days), "-subj", `/CN=${commonName}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", `${name}.crt`], dir);
  return { dir, cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/**
 * A certificate the CA signs, as `<dir>/<name>.crt` and `.key`. `extensions` are openssl x509 v3
 * lines (subjectAltName, extendedKeyUsage); key usage is the TLS one.
 */
export function issueLeaf(ca: TestCa, name: string, subject: string, extensions: string[], days = 2): { cert: string; key: string } {
  const dir = ca.dir;
  writeFileSync(path.join(dir, `${name}.ext`), [...extensions, "keyUsage=critical,digitalSignature,keyEncipherment", ""].join("\n"));
  openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`], dir);
  openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], dir);
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-days", String(days), "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.crt`], dir);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

/** The files a Consul server serves HTTPS with. */
export interface ConsulTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Consul's CA and a server certificate, named as consul-k8s names its servers' certificates, for
 * the addresses the suites reach the servers at. consul-k8s' `tls-init` (control-plane/subcommand/
 * tls-init/command.go, run by charts/consul/templates/tls-init-job.yaml) always puts
 * `server.<dc>.<domain>`, `localhost` and `127.0.0.1` in the SANs, and the chart adds
 * `<release>-consul-server`, `<release>-consul-server.<namespace>`, `…<namespace>.svc` (and `*.`
 * of each), `*.server.<dc>.<domain>`, plus `global.tls.serverAdditionalDNSSANs`/`…IPSANs`. So a
 * pod reaching `consul-server.consul.svc:8501` (the stack's default inClusterHost) verifies, and
 * `…svc.cluster.local` does not; `pulumi` outside the cluster must use a name the platform added
 * to serverAdditionalDNSSANs (a passthrough Route's host, as the OpenShift stacks' address), or a
 * `kubectl port-forward` to localhost. Here every address is 127.0.0.1 (the stand-in Service and
 * the nodes' links), which the certificate names as consul-k8s' does.
 */
export function consulTls(dir: string, datacenter: string, serviceIps: string[] = []): ConsulTlsFiles {
  const ca = makeCa(dir, "consul-agent-ca", "Consul Agent CA (mogi e2e)");
  // serviceIps: the Service's address pods use on real nodes, standing for the Service's DNS names
  // consul-k8s' certificate carries (there is no cluster DNS in the e2e cluster).
  const server = issueLeaf(ca, `${datacenter}-server-consul`, `/CN=server.${datacenter}.consul`, [
    `subjectAltName=DNS:server.${datacenter}.consul,DNS:localhost,IP:127.0.0.1${serviceIps.map((ip) => `,IP:${ip}`).join("")}`,
    // As `consul tls cert create -server`: servers are also clients of each other.
    "extendedKeyUsage=serverAuth,clientAuth",
  ]);
  return { caFile: ca.cert, certFile: server.cert, keyFile: server.key };
}
