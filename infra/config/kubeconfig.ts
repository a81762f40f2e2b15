/**
 * Which kubeconfig and context a stack's Kubernetes provider uses, found the way pulumi-kubernetes
 * and kubectl find them (`mogi:kubernetes.kubeconfig`, a path or the file's text; else
 * KUBECONFIG, a list of files; else ~/.kube/config; else, inside a pod, the in-cluster account),
 * and whether the context is there. Read with `yaml` alone, so that `npm run deploy` can check it
 * before the CLI creates or changes anything, and `npm run status` before it asks the cluster.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";

/** What the provider will use: the files (or the text) and the context, named for messages as `source`. */
export interface KubeconfigChoice {
  /** The setting, variable or file it comes from, for messages: `KUBECONFIG=/a:/b`. */
  source: string;
  /** Files, in KUBECONFIG order (the first one's current-context wins); empty for text or in-cluster. */
  files: string[];
  /** The kubeconfig's text, when the setting holds it. */
  text?: string;
  /** Inside a pod without a kubeconfig: the pod's own service account. */
  inCluster?: boolean;
  context?: string;
}

/** No kubeconfig, an unreadable or invalid one, or no such context: one line naming the setting or file. */
export class KubeconfigProblem extends Error {}

interface Kubeconfig {
  "current-context"?: string;
  contexts?: { name?: string; context?: { cluster?: string } }[];
  clusters?: { name?: string }[];
}

function parseKubeconfig(text: string, where: string): Kubeconfig {
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new KubeconfigProblem(`${where} is not a valid kubeconfig: ${String((error as Error).message).split("\n")[0].replace(/:$/, "")}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new KubeconfigProblem(`${where} is not a valid kubeconfig: expected a mapping with clusters, users and contexts`);
  return parsed as Kubeconfig;
}

/**
 * The kubeconfig and context for `kubernetes` (the stack's `mogi:kubernetes`), with `env` the
 * environment pulumi or status runs in; relative paths start at `projectDir`. Throws
 * KubeconfigProblem, naming the setting or the variable, when the provider could not find the cluster.
 */
export function chooseKubeconfig(kubernetes: { kubeconfig?: string; context?: string }, env: NodeJS.ProcessEnv, projectDir: string): KubeconfigChoice {
  const setting = kubernetes.kubeconfig;
  let choice: KubeconfigChoice;
  const configs: Kubeconfig[] = [];
  if (setting !== undefined && setting.includes("\n")) {
    choice = { source: "mogi:kubernetes.kubeconfig (the kubeconfig's text)", files: [], text: setting };
    configs.push(parseKubeconfig(setting, choice.source));
  } else {
    if (setting !== undefined) {
      choice = { source: `mogi:kubernetes.kubeconfig = ${JSON.stringify(setting)}`, files: [path.resolve(projectDir, setting)] };
    } else if (env.KUBECONFIG) {
      // As kubectl: files in the list that do not exist are skipped.
      choice = { source: `KUBECONFIG=${env.KUBECONFIG}`, files: env.KUBECONFIG.split(path.delimiter).filter((file) => file && existsSync(file)) };
      if (choice.files.length === 0) throw new KubeconfigProblem(`${choice.source}: no such file; point KUBECONFIG (or mogi:kubernetes.kubeconfig) at the cluster's kubeconfig`);
    } else {
      const file = path.join(env.HOME || homedir(), ".kube", "config");
      if (!existsSync(file)) {
        if (env.KUBERNETES_SERVICE_HOST && kubernetes.context === undefined) return { source: "the pod's service account (in-cluster)", files: [], inCluster: true };
        throw new KubeconfigProblem(`no kubeconfig: mogi:kubernetes.kubeconfig is not set, KUBECONFIG is not set, and ${file} does not exist; set one of them to reach the cluster`);
      }
      choice = { source: file, files: [file] };
    }
    for (const file of choice.files) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new KubeconfigProblem(`${choice.source}: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`);
      }
      configs.push(parseKubeconfig(text, choice.files.length > 1 || setting === undefined ? file : choice.source));
    }
  }
  const contexts = configs.flatMap((c) => c.contexts ?? []);
  const names = [...new Set(contexts.map((c) => c.name).filter((n): n is string => typeof n === "string"))];
  const listed = names.length > 0 ? `its contexts: ${names.join(", ")}` : "it has no contexts";
  const wanted = kubernetes.context;
  if (wanted !== undefined && !names.includes(wanted)) throw new KubeconfigProblem(`mogi:kubernetes.context = ${JSON.stringify(wanted)}: no such context in ${choice.source} (${listed})`);
  const context = wanted ?? configs.map((c) => c["current-context"]).find((c) => c);
  if (!context) throw new KubeconfigProblem(`${choice.source} has no current-context; set mogi:kubernetes.context (${listed})`);
  if (!names.includes(context)) throw new KubeconfigProblem(`${choice.source}: its current-context ${JSON.stringify(context)} is not one of its contexts; set mogi:kubernetes.context (${listed})`);
  const cluster = contexts.find((c) => c.name === context)?.context?.cluster;
  if (!cluster || !configs.some((c) => (c.clusters ?? []).some((k) => k.name === cluster))) {
    throw new KubeconfigProblem(`${choice.source}: context ${JSON.stringify(context)} names cluster ${JSON.stringify(cluster ?? "")}, which it does not define`);
  }
  return { ...choice, context };
}
