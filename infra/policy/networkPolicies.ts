/**
 * The pod's NetworkPolicy must allow named peers only. `singleton-has-network-policy` checks that
 * one exists; this checks that it is not an allow-all in disguise.
 */
import { fail, onType, Props, TYPES } from "./shared";

/** A CIDR covering every address of its family: 0.0.0.0/0, ::/0 (any prefix length 0). */
const isEverything = (cidr: unknown) => typeof cidr === "string" && /\/0+$/.test(cidr.trim());

/** What in one rule's peers opens it to every address, or undefined. */
function openness(peers: Props[] | undefined): string | undefined {
  if (!peers || peers.length === 0) return "it names no peer, which allows every address";
  const open = peers.map((p) => p.ipBlock?.cidr).filter(isEverything);
  return open.length ? `it allows ${open.map((c) => JSON.stringify(c)).join(", ")}${peers.some((p) => p.ipBlock?.except?.length) ? " (with exceptions)" : ""}` : undefined;
}

export const networkPolicyNotOpen = onType(TYPES.networkPolicy, "network-policy-not-open", "No NetworkPolicy rule is open to every address (0.0.0.0/0, ::/0, or no peer).", "mandatory", (p, report) => {
  const directions = [
    ["ingress", "from", p.spec?.ingress],
    ["egress", "to", p.spec?.egress],
  ] as const;
  for (const [direction, field, rules] of directions) {
    (rules ?? []).forEach((rule: Props, i: number) => {
      const why = openness(rule[field]);
      if (why) {
        report(fail(`NetworkPolicy ${JSON.stringify(p.metadata?.name ?? "(auto-named)")} ${direction}[${i}]: ${why}`, direction === "ingress" ? "anything that reaches the pod network, in or out of the cluster, could reach Mogi's port" : "a Mogi that is compromised, or misconfigured, could reach any address, inside the cluster or out", `list the peers it needs (mogi:networkPolicy.${direction === "ingress" ? "ingressFrom" : "egress"}: namespaces, pod labels, or the narrowest CIDRs)`));
      }
    });
  }
});
