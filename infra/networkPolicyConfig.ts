/**
 * `mogi:networkPolicy`: the shape of the setting. What its values mean, and the checks on them
 * (label syntax, CIDRs, ports, empty peers), live with the component (components/networkPolicy.ts),
 * so that the stack and the component refuse the same things with the same words.
 */
import { z } from "zod";
import { DNS_PRESETS, DnsPreset, NetworkPolicyArgs, networkPolicyProblems, PlatformOwnedNetworkPolicy } from "../components/networkPolicy";

const labels = z.record(z.string(), z.string());
/** Pods (namespace, namespaceLabels, podLabels) or addresses (cidr, except); mixing them is refused below. */
const peer = z
  .object({ namespace: z.string().optional(), namespaceLabels: labels.optional(), podLabels: labels.optional(), cidr: z.string().optional(), except: z.array(z.string()).optional() })
  .strict();
const podPeer = peer.omit({ cidr: true, except: true }).strict();
const port = z.number().int();
const egressRule = z.object({ to: z.array(peer), ports: z.array(z.object({ port, protocol: z.enum(["TCP", "UDP", "SCTP"]).optional() }).strict()) }).strict();
const dnsPresets = Object.keys(DNS_PRESETS) as [DnsPreset, ...DnsPreset[]];

export const networkPolicySchema = z
  .object({
    /** Present: no policy, for this reason. Excludes every other field. */
    platformOwned: z.string().optional(),
    consul: peer.optional(),
    dns: z
      .union([z.enum(dnsPresets), z.object({ namespace: z.string(), podLabels: labels, port }).strict()], {
        error: `must be ${dnsPresets.map((p) => JSON.stringify(p)).join(" or ")}, or {namespace, podLabels, port} of the cluster's DNS pods`,
      })
      .optional(),
    egress: z.union([z.literal("all"), z.array(egressRule)], { error: 'must be "all" (egress left open) or a list of {to, ports} rules Mogi needs beyond Consul and DNS' }).optional(),
    ingressFrom: z.array(podPeer).optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    const others = Object.keys(value).filter((k) => k !== "platformOwned");
    if (value.platformOwned !== undefined && others.length > 0) {
      ctx.addIssue({ code: "custom", message: `platformOwned leaves the policy out, so ${others.join(", ")} would do nothing; remove them, or remove platformOwned`, path: ["platformOwned"] });
    }
  })
  .transform((value) => value as NetworkPolicyArgs | PlatformOwnedNetworkPolicy);

/** The component's own checks on the setting, as `mogi:networkPolicy.<field>: …`. */
export function networkPolicySettingProblems(namespace: string, value: NetworkPolicyArgs | PlatformOwnedNetworkPolicy): string[] {
  return networkPolicyProblems(value).map((problem) => `${namespace}:${problem}`);
}
