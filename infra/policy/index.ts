/**
 * The CrossGuard pack: `pulumi preview --policy-pack infra/policy`. For production stacks add
 * `--policy-pack-config infra/policy/production.json` (advisory policies become mandatory).
 */
import { PolicyPack } from "@pulumi/policy";
import { allPolicies } from "./policies";

new PolicyPack("mogi-singleton", { policies: allPolicies });
