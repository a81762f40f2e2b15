/**
 * Whether Consul's certificate verifies with the CA the stack gives Pulumi's Consul provider, and
 * the setting to fix when it does not. Without it a wrong CA shows only where the provider first
 * calls Consul: never in a first `preview` (creates are planned without a call), later as an x509
 * error in the middle of an `up` that has already changed the cluster. The program checks before
 * it declares anything (every `preview` and `up`, whoever runs it: `pulumi`, the workflows'
 * pulumi/actions, `npm run deploy`); the deploy driver also checks before every command, so that
 * `refresh` and `destroy` (no program) and an `up` that would create the stack stop first too.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { isIP } from "node:net";
import type { Settings } from "./config";
import { withDefaultPort } from "./consulAddress";

/** Node's codes for a certificate that does not verify (as opposed to a network failure). */
const VERIFICATION_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_SIGNATURE_FAILURE", "CERT_UNTRUSTED",
  "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "CERT_REJECTED", "INVALID_CA",
]);
const NAME_MISMATCH = "ERR_TLS_CERT_ALTNAME_INVALID";
const CHECK_TIMEOUT_MS = 10_000;

/** The CA the provider will trust, and the setting (or variable) it comes from. */
export interface ProviderCa {
  pem: string;
  source: string;
}

/**
 * Where the provider's CA comes from, as the program configures it (infra/program.ts gives it
 * `settings.consul.providerCa`), else the provider's own CONSUL_CA_FILE. Undefined when only
 * CONSUL_CAPATH (a directory of CAs) is set: the provider reads that itself.
 */
export function providerCaOf(settings: Settings, env: NodeJS.ProcessEnv): ProviderCa | undefined {
  const consul = settings.consul;
  if (consul.providerCa !== undefined) {
    const source = consul.providerCaFile !== undefined
      ? `mogi:consul.providerCaFile (${consul.providerCaFile})`
      : consul.providerCaPem !== undefined ? "mogi:consul.providerCaPem" : "mogi:consul.caPem";
    return { pem: consul.providerCa, source };
  }
  if (env.CONSUL_CA_FILE) return { pem: readFileSync(env.CONSUL_CA_FILE, "utf8"), source: `CONSUL_CA_FILE (${env.CONSUL_CA_FILE})` };
  return undefined;
}

/**
 * One line saying why Pulumi's provider cannot trust Consul, or undefined when it can, when the
 * stack is plain http, or when Consul cannot be reached at all (the engine reports that where it
 * needs Consul; this check is about TLS only).
 */
export async function consulTlsProblem(settings: Settings, env: NodeJS.ProcessEnv = process.env, timeoutMs = CHECK_TIMEOUT_MS): Promise<string | undefined> {
  if (settings.consul.scheme !== "https") return undefined;
  const ca = providerCaOf(settings, env);
  if (!ca) return undefined;
  const address = withDefaultPort(settings.consul.address, "https");
  const separator = address.lastIndexOf(":");
  const host = address.slice(0, separator).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(separator + 1));
  const error = await handshake(host, port, ca.pem, timeoutMs);
  if (!error) return undefined;
  const reason = error.message.replace(/\s+/g, " ").trim();
  if (error.code === NAME_MISMATCH) {
    return `TLS verification of Consul at ${address} failed: ${reason}; Consul's certificate does not name the host in mogi:consul.address: use a name its certificate carries (consul-k8s: global.tls.serverAdditionalDNSSANs, or localhost through a port-forward)`;
  }
  if (error.code !== undefined && VERIFICATION_CODES.has(error.code)) {
    return `TLS verification of Consul at ${address} failed: ${reason} (${error.code}); Pulumi's Consul provider trusts the CA from ${ca.source}, which did not sign Consul's certificate: set mogi:consul.providerCaFile to Consul's CA (kubectl -n consul get secret consul-ca-cert -o jsonpath='{.data.tls\\.crt}' | base64 -d)`;
  }
  return undefined;
}

/** A TLS handshake verifying `host`'s certificate with `ca`; the error, or undefined once it verified. */
function handshake(host: string, port: number, ca: string, timeoutMs: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, ca, servername: isIP(host) ? undefined : host, rejectUnauthorized: true });
    const done = (error?: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once("secureConnect", () => done(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error));
  });
}
