/**
 * How this stack reaches Consul (the provider) and how Mogi's pod reaches it (the wrapper's
 * CONSUL_HTTP_ADDR). They differ: `pulumi up` usually runs outside the cluster, the pod inside.
 */
import * as pulumi from "@pulumi/pulumi";
import * as consul from "@pulumi/consul";

export type ConsulScheme = "http" | "https";

/** Consul's default HTTP and HTTPS ports (the Helm chart's server ports). */
export const CONSUL_DEFAULT_PORT: Record<ConsulScheme, number> = { http: 8500, https: 8501 };

export interface ConsulConnectionArgs {
  /** `host` or `host:port` the provider talks to; without a port, the scheme's default port. */
  address: string;
  scheme: ConsulScheme;
  /** Datacenter; default: the answering agent's. */
  datacenter?: string;
  /**
   * Token with rights to manage ACLs and write KV. Unset: the provider reads `CONSUL_HTTP_TOKEN`
   * from its environment, so that CI can inject it without it ever touching stack files.
   */
  token?: pulumi.Output<string>;
  /** PEM CA for `https`. */
  caPem?: string;
}

/** `host:port`, adding the scheme's default port when none is given. */
export function withDefaultPort(hostOrHostPort: string, scheme: ConsulScheme): string {
  return /:\d+$/.test(hostOrHostPort) ? hostOrHostPort : `${hostOrHostPort}:${CONSUL_DEFAULT_PORT[scheme]}`;
}

/** The address Mogi's pod uses: same scheme as the stack's, on the in-cluster Service. */
export function podConsulAddr(scheme: ConsulScheme, inClusterHost: string): string {
  return `${scheme}://${withDefaultPort(inClusterHost, scheme)}`;
}

/** An explicit provider, so no resource falls back to ambient `consul:*` configuration. */
export function consulProvider(name: string, args: ConsulConnectionArgs, opts?: pulumi.CustomResourceOptions): consul.Provider {
  return new consul.Provider(
    name,
    {
      address: withDefaultPort(args.address, args.scheme),
      scheme: args.scheme,
      datacenter: args.datacenter,
      token: args.token ? pulumi.secret(args.token) : undefined,
      caPem: args.scheme === "https" ? args.caPem : undefined,
    },
    opts,
  );
}
