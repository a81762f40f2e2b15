/**
 * How this stack reaches Consul: the provider. Mogi's pod reaches it elsewhere (the wrapper's
 * CONSUL_HTTP_ADDR, podConsulAddr in ./consulAddress): `pulumi up` usually runs outside the
 * cluster, the pod inside.
 */
import * as pulumi from "@pulumi/pulumi";
import * as consul from "@pulumi/consul";
import { ConsulScheme, withDefaultPort } from "./consulAddress";

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
