/**
 * A stack file the program accepts (plain HTTP to Consul, a NetworkPolicy, a read-only root), as
 * lines, for tests that write stack files and break them one way at a time.
 */
export function validStackLines(options: { kubernetes: string; consulAddress: string }): string[] {
  return [
    "config:",
    "  mogi:namespace: mogi-lab",
    "  mogi:image: quay.io/example/mogi:1.4.2",
    '  mogi:command: ["/usr/local/bin/mogi", "serve"]',
    "  mogi:readOnlyRootFilesystem: true",
    "  mogi:networkPolicy: { dns: kube-dns }",
    `  mogi:kubernetes: ${options.kubernetes}`,
    `  mogi:consul: { address: "${options.consulAddress}", scheme: http }`,
  ];
}
