/**
 * Consul's addresses as this stack writes them, with no Pulumi SDK behind them: the deploy
 * driver's TLS check and `npm run status` use them without loading `@pulumi/pulumi` (≈ 0.6 s).
 */
export type ConsulScheme = "http" | "https";

/** Consul's default HTTP and HTTPS ports (the Helm chart's server ports). */
export const CONSUL_DEFAULT_PORT: Record<ConsulScheme, number> = { http: 8500, https: 8501 };

/** `host:port`, adding the scheme's default port when none is given. */
export function withDefaultPort(hostOrHostPort: string, scheme: ConsulScheme): string {
  return /:\d+$/.test(hostOrHostPort) ? hostOrHostPort : `${hostOrHostPort}:${CONSUL_DEFAULT_PORT[scheme]}`;
}

/** The address Mogi's pod uses: same scheme as the stack's, on the in-cluster Service. */
export function podConsulAddr(scheme: ConsulScheme, inClusterHost: string): string {
  return `${scheme}://${withDefaultPort(inClusterHost, scheme)}`;
}
