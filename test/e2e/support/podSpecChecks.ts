/**
 * The checks of what the rendered pod spec promises, in the holder's running container on a real
 * node (support/runningContainer.ts), shared by the dev-shape and production-shape suites.
 */
import { TMP_SIZE_LIMIT_MI } from "../../../components/podStorage";
import { SERVICE_ACCOUNT_TOKEN_SECONDS } from "../../../components/singletonPod";
import { jwtClaims } from "./consulAuthMethod";
import type { DeployEnvironment } from "./deployEnvironment";
import { NODE_TEST_USER } from "./nodeImages";
import { waitFor } from "./processes";
import { consulSha256, execAs, fileInside, inspect, podInit, RunningContainer } from "./runningContainer";

/** Where the pod's projected service-account token is (components/singletonPod.ts). */
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** No capability at all (drop: [ALL], and no-new-privileges keeps it so). */
const NO_CAPABILITIES = "0000000000000000";

/** The holder's main container, once its PID 1 is found. */
export async function holderContainer(env: DeployEnvironment): Promise<{ pod: string; container: RunningContainer }> {
  return waitFor("the holder's running container", async () => {
    const pod = await env.target.holderPod();
    const pid = pod ? podInit(pod) : undefined;
    return pod && pid ? { pod, container: inspect(pid) } : undefined;
  }, 120_000, 500);
}

/**
 * Registers the checks in the calling suite (inside its describe). `uid`: the stack's
 * `mogi:runAsUser`, or the image's user when the stack leaves it to the image.
 */
export function podSpecChecks(env: DeployEnvironment, uid = Number(NODE_TEST_USER)): void {
  test(`the main container runs as ${uid}, with no capability, no-new-privileges and a seccomp filter`, async () => {
    const { container } = await holderContainer(env);
    expect({ uid: container.uid, capEff: container.capEff, capPrm: container.capPrm, capBnd: container.capBnd, noNewPrivs: container.noNewPrivs, seccomp: container.seccomp })
      .toEqual({ uid, capEff: NO_CAPABILITIES, capPrm: NO_CAPABILITIES, capBnd: NO_CAPABILITIES, noNewPrivs: 1, seccomp: 2 });
    expect(container.uid).not.toBe(0);
  });

  test("its root is read-only; the emptyDirs it writes are writable; the token, the wrapper and `consul` are mounted read-only; of the service account only its token, for 600 s", async () => {
    const { container } = await holderContainer(env);
    expect(container.mounts).toMatchObject({ "/": "ro", "/tmp": "rw", "/run/consul-lock": "rw", "/opt/consul-lock": "ro", "/var/run/secrets/consul": "ro" });
    // consul-k8s' injection logs in with it (components/README.md, "The service-account token"):
    // the kubelet's TokenRequest, no CA or namespace file as the automounted volume would have.
    expect(Object.entries(container.mounts).filter(([m]) => m.startsWith("/var/run/secrets/kubernetes.io"))).toEqual([[SA_DIR, "ro"]]);
    expect(execAs(container, ["/bin/ls", "-A", SA_DIR]).output.split(/\s+/).filter((f) => f && !f.startsWith(".."))).toEqual(["token"]);
    const claims = jwtClaims(execAs(container, ["/bin/cat", `${SA_DIR}/token`]).output);
    expect(claims.exp - claims.iat).toBe(SERVICE_ACCOUNT_TOKEN_SECONDS);
    const root = execAs(container, ["/bin/touch", "/written-by-the-test"]);
    expect(root).toMatchObject({ status: 1 });
    expect(root.output).toMatch(/Read-only file system/);
    expect(execAs(container, ["/bin/touch", "/tmp/written-by-the-test"])).toMatchObject({ status: 0 });
    expect(execAs(container, ["/bin/touch", "/run/consul-lock/written-by-the-test"])).toMatchObject({ status: 0 });
  });

  test("the wrapper is the ConfigMap's file with mode 0555, and its PID 1", async () => {
    const { container } = await holderContainer(env);
    expect(fileInside(container, "/opt/consul-lock/consul-lock-wrapper.sh").mode).toBe(0o555);
    expect(execAs(container, ["/bin/cat", "/proc/1/cmdline"]).output).toContain("/opt/consul-lock/consul-lock-wrapper.sh");
  });

  test("`consul` is the binary the init container copied from the Consul image", async () => {
    const { container } = await holderContainer(env);
    if (!("/opt/consul-bin" in container.mounts)) throw new Error("no /opt/consul-bin mount: the stack ships consul in Mogi's image; this check is for the init container");
    expect(container.mounts["/opt/consul-bin"]).toBe("ro");
    expect(fileInside(container, "/opt/consul-bin/consul").sha256).toBe(consulSha256());
  });
}

/** The emptyDir the eviction test fills, and by how much beyond its limit. */
export const FILLED_EMPTY_DIR = { name: "tmp", mountPath: "/tmp", limitMi: TMP_SIZE_LIMIT_MI, overMi: 8 };
