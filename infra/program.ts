/**
 * The Pulumi program: reads and validates the stack's configuration, then declares the Consul
 * access and the singleton workload on explicit providers for this stack's cluster and Consul.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ConsulAccess } from "../components/consulAccess";
import { SingletonWorkload } from "../components/singletonWorkload";
import { READINESS_PERIOD_SECONDS } from "../components/singletonWorkloadArgs";
import { CONFIG_NAMESPACE, ConfigError, parseStackConfig, Settings } from "./config";
import { podConsulAddr } from "./consulAddress";
import { consulProvider } from "./consulConnection";
import { consulTlsProblem } from "./consulTls";
import { failoverBudget } from "./failoverBudget";
import { PROJECT_DIR, readStack } from "./stacks";

// Whether a key was set with `--secret`. Exported by the SDK's runtime but left out of its type
// declarations; checked here so that an SDK upgrade without it fails loudly rather than leaking.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret?: (key: string) => boolean };
if (typeof isConfigSecret !== "function") throw new Error("@pulumi/pulumi no longer exports runtime/config isConfigSecret; update infra/program.ts");

/**
 * Validated settings, or a RunError (no stack trace) listing every problem, before any resource.
 * Every key the engine hands over is checked, whatever its namespace: the providers below are
 * explicit and take only `mogi:*` settings, so a `kubernetes:context` or `consul:address` would
 * otherwise be ignored without a word (parseStackConfig refuses it, naming the `mogi:` setting).
 */
export function readSettings(): Settings {
  try {
    return parseStackConfig(pulumi.runtime.allConfig(), (key) => isConfigSecret?.(key) ?? false, { projectDir: PROJECT_DIR, env: process.env });
  } catch (error) {
    if (error instanceof ConfigError) throw new pulumi.RunError(`stack "${pulumi.getStack()}": ${withStackFile(error).message}`);
    throw error;
  }
}

/** The problems placed in the stack's file (`stacks/Pulumi.<stack>.yaml:<line>`) when it is there to read. */
function withStackFile(error: ConfigError): ConfigError {
  try {
    const source = readStack(pulumi.getStack());
    return error.in({ file: source.file, locate: source.locate });
  } catch {
    return error;
  }
}

export interface ProgramOptions {
  /**
   * Declare everything without contacting Consul (the offline render and the unit tier run the
   * program under Pulumi's mocks). Default false: `pulumi preview`/`up` call it with no options.
   */
  offline?: boolean;
}

export async function mogiProgram(options: ProgramOptions = {}): Promise<Record<string, unknown>> {
  const settings = readSettings();
  const stack = pulumi.getStack();
  // A provider CA that cannot verify Consul stops the run here, before any resource (consulTls.ts).
  const tlsProblem = options.offline ? undefined : await consulTlsProblem(settings);
  if (tlsProblem) throw new pulumi.RunError(`stack "${stack}": ${tlsProblem}`);
  const config = new pulumi.Config(CONFIG_NAMESPACE);

  // Explicit providers: nothing falls back to whatever cluster or Consul the shell points at,
  // except where the stack says so (no kubeconfig set: the ambient one).
  const kubernetes = new k8s.Provider("kubernetes", {
    kubeconfig: settings.kubernetes.kubeconfig,
    context: settings.kubernetes.context,
  });
  const consul = consulProvider("consul", {
    address: settings.consul.address,
    scheme: settings.consul.scheme,
    datacenter: settings.consul.datacenter,
    token: config.getSecret("consulToken"),
    caPem: settings.consul.providerCa,
  });

  const access = new ConsulAccess(settings.name, {
    name: settings.name,
    policyName: `${settings.name}-${stack}-lock`,
    lockPrefix: settings.consul.lockPrefix,
    configPrefix: settings.consul.configPrefix,
    sessionNodePrefix: settings.consul.sessionNodePrefix,
    config: settings.consul.kv,
    datacenters: settings.consul.datacenters,
    // The workload's ServiceAccount is named like the service (components/singletonWorkload.ts).
    login: settings.consul.authMethod === undefined ? undefined : { authMethod: settings.consul.authMethod, namespace: settings.namespace, serviceAccount: settings.name },
    provider: consul,
  });

  const ca = settings.consul.caPem !== undefined
    ? { pem: settings.consul.caPem }
    : settings.consul.caFrom && { existing: settings.consul.caFrom };
  const workload = new SingletonWorkload(
    settings.name,
    {
      name: settings.name,
      namespace: settings.namespace,
      createNamespace: settings.createNamespace,
      instance: settings.name,
      image: settings.image,
      command: settings.command,
      env: settings.env,
      port: settings.port,
      healthPath: settings.healthPath,
      resources: settings.resources,
      maxUnavailable: settings.maxUnavailable,
      terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
      nodeLossTolerationSeconds: settings.nodeLossTolerationSeconds,
      runAsUser: settings.runAsUser,
      connectInject: settings.connectInject,
      consulCni: settings.consulCni,
      serviceTags: settings.serviceTags,
      serviceMeta: settings.serviceMeta,
      podLabels: settings.podLabels,
      podAnnotations: settings.podAnnotations,
      readOnlyRootFilesystem: settings.readOnlyRootFilesystem,
      networkPolicy: settings.networkPolicy,
      consul: {
        httpAddr: podConsulAddr(settings.consul.scheme, settings.consul.inClusterHost),
        lockPrefix: settings.consul.lockPrefix,
        configPrefix: settings.consul.configPrefix,
        sessionNodePrefix: settings.consul.sessionNodePrefix,
        ...(access.login ? { login: { authMethod: access.login.authMethod } } : { token: access.token?.secretId }),
        ca,
        binary: settings.consul.imageHasConsul ? "app-image" : { image: settings.consul.binaryImage },
      },
    },
    { providers: { kubernetes } },
  );

  return {
    environment: settings.environment,
    namespace: workload.namespace,
    deploymentName: workload.deploymentName,
    serviceName: workload.serviceName,
    lockKey: workload.lockKey,
    ...(access.token ? { tokenAccessorId: access.token.accessorId } : {}),
    ...(access.login ? { consulLogin: { authMethod: access.login.authMethod, role: access.login.roleName } } : {}),
    consulPolicy: access.policyName,
    configKeys: access.configKeys,
    failoverBudget: failoverBudget(READINESS_PERIOD_SECONDS, settings.nodeLossTolerationSeconds),
  };
}
