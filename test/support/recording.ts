/** Helpers for tests that run components under the recording engine. */
import { findResource, isSecretValue, Recording, recordProgram, RecordedResource, revealSecrets } from "../../infra/render/recorder";

export { findResource, revealSecrets, isSecretValue as isSecret };
export type { Recording, RecordedResource };

/** Runs `declare` as the body of a throw-away stack and returns what it declared; fails on its error. */
export async function record(declare: () => void | Record<string, unknown>, stack = "test"): Promise<Recording> {
  const recording = await recordProgram(async () => declare() ?? {}, { project: "mogi", stack });
  if (recording.error) throw recording.error;
  return recording;
}

/** All recorded Kubernetes objects (custom resources of the kubernetes package). */
export function kubernetesObjects(recording: Recording): RecordedResource[] {
  return recording.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:"));
}

/** A recorded resource's inputs with secrets revealed, typed loosely for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function inputsOf(resource: RecordedResource): any {
  return revealSecrets(resource.inputs);
}
