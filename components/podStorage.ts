/**
 * Local ephemeral storage of the pod: each emptyDir's sizeLimit, sized from what it holds, and
 * each container's ephemeral-storage request and limit, derived from the volumes it writes.
 *
 * Why both: under a ResourceQuota on `requests.ephemeral-storage`/`limits.ephemeral-storage`,
 * the API server refuses a pod whose containers do not set them. The kubelet evicts a pod whose
 * usage (every container's writable layer and logs, plus its emptyDirs) passes the sum of its
 * containers' limits, or an emptyDir that passes its sizeLimit (Kubernetes docs, "Local
 * ephemeral storage"). So the main container's limit includes the emptyDirs, the binary's too.
 * An init container runs alone; the pod's effective figure is the larger of it and the main one.
 */
import * as k8s from "@pulumi/kubernetes";

type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;

/** MiB, as Kubernetes quantities. */
const mi = (n: number) => `${n}Mi`;

/**
 * The `consul` binary copied from `hashicorp/consul:1.21.3`. Measured here: the 1.14.11 binary
 * built by `npm run engines` (static, as released) is 107 MiB (112,717,986 bytes); release binaries have grown with each
 * minor version since, and 1.21's linux/amd64 binary is assumed to be at most 200 MiB (not
 * measured: no registry access here; check with `docker run --rm --entrypoint ls hashicorp/consul:1.21.3 -l /bin/consul`).
 * The request is that estimate (it sits there for the pod's life), the sizeLimit leaves 28 %
 * headroom for a patch upgrade: past it the kubelet evicts the pod, it does not truncate the copy.
 */
export const CONSUL_BINARY_MI = 200;
export const CONSUL_BIN_SIZE_LIMIT_MI = 256;
/** The wrapper's state files: a call's output and the fencing token, rewritten in place. */
export const LOCK_STATE_SIZE_LIMIT_MI = 1;
/**
 * Mogi's and the scripts' scratch space at /tmp (the root filesystem may be read-only). Neither
 * the wrapper nor `consul` writes there (the wrapper's files go to the lock-state volume); 64 MiB
 * is for Mogi's own temporary files. Mogi needing more is a bug to see, not to absorb.
 */
export const TMP_SIZE_LIMIT_MI = 64;
/** The kubelet rotates a container's log at 10 MiB and keeps 5 (containerLogMaxSize/-Files defaults). */
export const CONTAINER_LOG_MI = 50;
/** The image's writable layer, when the root filesystem is writable: Mogi writes nothing there by design. */
export const WRITABLE_LAYER_MI = 64;

export const EMPTY_DIR_SIZE_LIMITS = {
  consulBin: mi(CONSUL_BIN_SIZE_LIMIT_MI),
  lockState: mi(LOCK_STATE_SIZE_LIMIT_MI),
  tmp: mi(TMP_SIZE_LIMIT_MI),
} as const;

/** Adds ephemeral-storage to requests and limits, keeping whatever the caller set. */
export function withEphemeralStorage(resources: ResourceRequirements, request: number, limit: number): ResourceRequirements {
  const own = resources as { requests?: Record<string, string>; limits?: Record<string, string> };
  return {
    ...resources,
    requests: { "ephemeral-storage": mi(request), ...own.requests },
    limits: { "ephemeral-storage": mi(limit), ...own.limits },
  };
}

/**
 * The main container's request and limit. Request: what is there for the pod's life (the binary,
 * one log file); limit: every emptyDir full, every log file, and the writable layer if any.
 */
export function mainContainerStorage(hasConsulBin: boolean, readOnlyRootFilesystem: boolean): { request: number; limit: number } {
  const bin = hasConsulBin ? { request: CONSUL_BINARY_MI, limit: CONSUL_BIN_SIZE_LIMIT_MI } : { request: 0, limit: 0 };
  const writable = readOnlyRootFilesystem ? 0 : WRITABLE_LAYER_MI;
  return {
    request: bin.request + LOCK_STATE_SIZE_LIMIT_MI + CONTAINER_LOG_MI / 5,
    limit: bin.limit + LOCK_STATE_SIZE_LIMIT_MI + TMP_SIZE_LIMIT_MI + CONTAINER_LOG_MI + writable,
  };
}

/** The init container writes the binary into its emptyDir and logs next to nothing (`cp`). */
export const INIT_CONTAINER_STORAGE = { request: CONSUL_BINARY_MI, limit: CONSUL_BIN_SIZE_LIMIT_MI + CONTAINER_LOG_MI / 5 };
