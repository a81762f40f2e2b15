/**
 * The images real nodes run, built from files (support/ociImage.ts) and imported into each node's
 * containerd (pods use them with no registry: the kubelet finds them present):
 * - pause: the kubelet's sandbox, compiled from k8s.io/kubernetes' pause.c by `npm run engines`;
 * - the test Mogi: a small /bin/sh + sleep base (Debian's busybox-static), which is all Mogi's
 *   image is promised to have, and the test Mogi (a static binary, test/engines/test-mogi);
 * - Consul: the same base and /bin/consul (the engine, built static as HashiCorp's releases
 *   are), which the init container copies; under every Consul image name the stack may use.
 */
import { existsSync } from "node:fs";
import { DEFAULT_CONSUL_IMAGE } from "../../../components/singletonWorkloadArgs";
import { engine } from "../../engines/paths";
import { buildImage, BuiltImage, busyboxBase } from "./ociImage";
import { PAUSE_IMAGE } from "./nodeConfig";

/** What the stack files of the real-node suites name Mogi's image (pinned by digest where a policy wants it). */
export const NODE_TEST_IMAGE = "localhost/mogi-test:e2e";
/** The test Mogi's path in its image: the stack's `mogi:command`. */
export const NODE_TEST_MOGI = "/usr/local/bin/test-mogi";
/** The user the test image runs as unless the pod says otherwise (non-root, as `restricted` wants). */
export const NODE_TEST_USER = "1000";

/** Docker's short names as containerd's CRI resolves them (hashicorp/consul:x → docker.io/hashicorp/consul:x). */
export function normalizedImageName(name: string): string {
  const first = name.split("/")[0];
  const hasRegistry = name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  const withRegistry = hasRegistry ? name : `docker.io/${name.includes("/") ? name : `library/${name}`}`;
  return withRegistry.replace(/@sha256:[0-9a-f]+$/, "");
}

export interface NodeImages {
  all: BuiltImage[];
  /** The test Mogi's image, by tag and by digest. */
  testImage: string;
  testImagePinned: string;
  /** The Consul image by digest (a platform's mirror, as the production shape names it). */
  consulImagePinned: string;
}

/** The name the Consul image also has, as a platform's mirror of it. */
export const NODE_CONSUL_MIRROR = "localhost/consul:e2e";

/** Builds the images into `dir` (seconds; the Consul layer is the large one). */
export function buildNodeImages(dir: string): NodeImages {
  const busybox = "/bin/busybox";
  if (!existsSync(busybox)) throw new Error("busybox-static is needed for the real nodes' images (apt-get install busybox-static; .ci/run does it)");
  const pause = buildImage({ name: PAUSE_IMAGE, files: { pause: { from: engine("pause"), mode: 0o755 } }, entrypoint: ["/pause"], user: "65535" }, dir);
  const test = buildImage({ name: NODE_TEST_IMAGE, files: { ...busyboxBase(busybox), [NODE_TEST_MOGI.slice(1)]: { from: engine("test-mogi"), mode: 0o755 } }, user: `${NODE_TEST_USER}:${NODE_TEST_USER}` }, dir);
  const consulFiles = { ...busyboxBase(busybox), "bin/consul": { from: engine("consul"), mode: 0o755 } };
  const consul = buildImage({ name: normalizedImageName(DEFAULT_CONSUL_IMAGE), aliases: [NODE_CONSUL_MIRROR], files: consulFiles, user: "100" }, dir);
  return { all: [pause, test, consul], testImage: NODE_TEST_IMAGE, testImagePinned: `${NODE_TEST_IMAGE}@${test.digest}`, consulImagePinned: `${NODE_CONSUL_MIRROR}@${consul.digest}` };
}
