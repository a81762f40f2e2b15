/**
 * What the stack's program declares for a test configuration, read from the real program under
 * the offline recording engine (the same path `npm start` renders): the wrapper script exactly as
 * its ConfigMap ships it, the Deployment's pod, the ACL rules ConsulAccess generates, the KV keys.
 */
import { mogiProgram } from "../../../infra/program";
import { CONFIG_NAMESPACE } from "../../../infra/config";
import { KubernetesObject, kubernetesObjects } from "../../../infra/render/kubernetesObjects";
import { findResource, recordProgram } from "../../../infra/render/recorder";
import { loadStackConfig } from "../../../infra/stacks";

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface TestRender {
  objects: KubernetesObject[];
  deployment: any;
  /** ConfigMaps by name (their data), as the pod's volumes refer to them. */
  configMaps: Record<string, Record<string, string>>;
  /** The ACL policy's rules (JSON text), as ConsulAccess generates them. */
  aclRules: string;
  /** Mogi's configuration keys: full path → value. */
  kv: Record<string, string>;
}

/** The dev stack's configuration with `overrides` (keys `mogi:<key>`, values as the CLI gives them). */
export function testConfig(overrides: Record<string, string>): Record<string, string> {
  return { ...loadStackConfig("dev").config, ...overrides };
}

export async function renderForTest(config: Record<string, string>): Promise<TestRender> {
  const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: CONFIG_NAMESPACE, stack: "e2e", config });
  if (recording.error) throw recording.error;
  const objects = kubernetesObjects(recording.resources);
  const configMaps = Object.fromEntries(objects.filter((o) => o.kind === "ConfigMap").map((o) => [o.metadata.name as string, o.data as Record<string, string>]));
  const keys = (findResource(recording, "consul:index/keys:Keys").inputs.keys ?? []) as { path: string; value: string }[];
  return {
    objects,
    deployment: objects.find((o) => o.kind === "Deployment"),
    configMaps,
    aclRules: findResource(recording, "consul:index/aclPolicy:AclPolicy").inputs.rules as string,
    kv: Object.fromEntries(keys.map((k) => [k.path, k.value])),
  };
}
