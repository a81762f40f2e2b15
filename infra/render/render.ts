/**
 * The offline render: runs the real program for one stack under the recording engine and writes
 * what it declares, with secrets replaced by "[secret]":
 * - `<out>/<stack>/kubernetes.yaml`: every Kubernetes object as it would be sent;
 * - `<out>/<stack>/resources.json`: every Pulumi resource as { type, name, parent, inputs }.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { mogiProgram } from "../program";
import { CONFIG_NAMESPACE } from "../config";
import { KubernetesObject, kubernetesObjects, validateObject } from "./kubernetesObjects";
import { recordProgram, redactSecrets, ResourceRef } from "./recorder";
import { readStack, requireStackFileOnly, stackSettings, StackSource, STACKS_DIR, PROJECT_DIR } from "../stacks";
import { evaluatePolicies, productionConfig, Violation } from "../policy/evaluate";

/** One entry of resources.json. */
export interface RenderedResource {
  type: string;
  name: string;
  parent: ResourceRef | null;
  inputs: Record<string, unknown>;
}

export interface StackRender {
  stack: string;
  /**
   * Set when the program failed although the stack file and its settings were valid (they are
   * checked before it runs: renderStack throws for those); nothing else is then written.
   */
  error?: string;
  objects: KubernetesObject[];
  resources: RenderedResource[];
  outputs: Record<string, unknown>;
  /** Invalid Kubernetes objects: schema and name-rule violations. */
  problems: string[];
  /** The policy pack's verdict on `resources` (production levels for production stacks). */
  violations: Violation[];
}

export interface RenderOptions {
  stacksDir?: string;
  /** Where Pulumi.yaml is, and what relative paths in settings start from (default the project's). */
  projectDir?: string;
  /** Output folder; nothing is written when undefined. */
  outDir?: string;
}

/**
 * Reads one stack's file and validates its settings exactly as the program will, before anything
 * runs: throws UnknownStackError, StackFileError (the file cannot be read or parsed, or imports
 * what only the Pulumi CLI resolves) or ConfigError (every problem, each naming its line).
 */
export function validateStack(stack: string, options: RenderOptions = {}, env: NodeJS.ProcessEnv = process.env): StackSource {
  const projectDir = options.projectDir ?? PROJECT_DIR;
  const source = readStack(stack, { stacksDir: options.stacksDir ?? STACKS_DIR, projectDir });
  requireStackFileOnly(source, projectDir);
  stackSettings(source, env, projectDir);
  return source;
}

/**
 * Renders one stack; a stack file or settings that are not valid throw (validateStack) before the
 * program runs, so nothing is declared or written for them.
 */
export async function renderStack(stack: string, options: RenderOptions = {}): Promise<StackRender> {
  const { config, secretKeys } = validateStack(stack, options);
  const recording = await recordProgram(() => mogiProgram({ offline: true }), { project: CONFIG_NAMESPACE, stack, config, secretKeys });
  if (recording.error) return { stack, error: recording.error.message, objects: [], resources: [], outputs: {}, problems: [], violations: [] };
  const objects = kubernetesObjects(recording.resources);
  const resources = recording.resources.map((r) => ({ type: r.type, name: r.name, parent: r.parent, inputs: redactSecrets(r.inputs) as Record<string, unknown> }));
  const outputs = redactSecrets(recording.outputs) as Record<string, unknown>;
  const result: StackRender = {
    stack,
    objects,
    resources,
    outputs,
    problems: objects.flatMap(validateObject),
    violations: await evaluatePolicies(resources, outputs.environment === "production" ? productionConfig() : {}, stack),
  };
  if (options.outDir) writeRender(result, options.outDir);
  return result;
}

export function writeRender(render: StackRender, outDir: string): string {
  const dir = path.join(outDir, render.stack);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "kubernetes.yaml"), render.objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"));
  writeFileSync(path.join(dir, "resources.json"), `${JSON.stringify(render.resources, null, 2)}\n`);
  return dir;
}
