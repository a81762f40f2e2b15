/**
 * TEST INFRASTRUCTURE: runs a Kubernetes pod spec as local processes, the part of a kubelet the
 * e2e suites need, since no kubelet can run on these machines. What it stands in for:
 * - volumes: each mount is a directory under the pod's own root (`<root><mountPath>`), filled the
 *   way the kubelet fills it (ConfigMap/Secret keys as files, with `items`, `defaultMode`/`mode`;
 *   emptyDir empty). There is no mount namespace, so paths the container sees are rewritten:
 *   a command path or an env value that starts with a mount path points into the pod's root;
 *   any other absolute command path is looked up in the container's "image" (a directory).
 * - init containers run first, in order, and must exit 0; then the main container starts.
 * - env: literal values, and fieldRef metadata.name / metadata.namespace / status.podIP.
 * - the main container runs as PID 1 of a PID namespace of its own with its own /proc
 *   (test/support/container.ts); SIGTERM reaches that PID 1, as a runtime sends it.
 * Everything the pod runs (the wrapper, `consul`, the test Mogi) is the real program.
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { DEFAULT_CONSUL_IMAGE } from "../../../components/singletonWorkloadArgs";
import { engine } from "../../engines/paths";
import type { MogiIntervals } from "./mogiIntervals";
import { Proc } from "./processes";

/** The image name the e2e stacks give Mogi: the test Mogi, run from the host's filesystem. */
export const TEST_IMAGE = "mogi-test:e2e";
/**
 * The same image pinned by digest, as the production policy levels require: the digest of what
 * this stand-in image holds of its own (the test Mogi's file). The test kubelet checks nothing.
 */
export const TEST_IMAGE_PINNED = `${TEST_IMAGE}@sha256:${createHash("sha256").update(readFileSync(path.join(__dirname, "..", "fixtures", "test-mogi.js"))).digest("hex")}`;

/**
 * The images the suites' pods use, as directories: the Consul images (the official one and any
 * mirror a shipped stack names; their /bin/consul is the one `npm run engines` built, made under
 * `dir`) and the test image (the host's "/").
 */
export function testImages(dir: string, consulImages: string[] = []): Record<string, string> {
  const consulImage = path.join(dir, "image-consul");
  mkdirSync(path.join(consulImage, "bin"), { recursive: true });
  symlinkSync(engine("consul"), path.join(consulImage, "bin", "consul"));
  const consul = Object.fromEntries([DEFAULT_CONSUL_IMAGE, ...consulImages].map((name) => [name, consulImage]));
  return { ...consul, [TEST_IMAGE]: "/", [TEST_IMAGE_PINNED]: "/" };
}

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Where a pod's ConfigMap and Secret volumes come from (the API server, or a render). */
export interface VolumeSources {
  configMap(name: string): Record<string, string> | undefined;
  secret(name: string): Record<string, string> | undefined;
}

export interface LocalPodOptions {
  podName: string;
  namespace: string;
  /** The pod's own directory: mounts are laid out below it. */
  root: string;
  /** Image name → directory standing for its filesystem ("/" for the host's). */
  images: Record<string, string>;
  sources: VolumeSources;
  /** Extra environment for the main container (e.g. the test Mogi's listen address). */
  extraEnv?: Record<string, string>;
  logFile: string;
  /** Where the main container's output tells when Mogi started and ended (its parent's view). */
  intervals?: MogiIntervals;
}

const DEFAULT_FILE_MODE = 0o644;

export class LocalPod {
  /** The main container's process, once started. */
  main?: Proc;
  private readonly mounts = new Map<string, string>(); // volume name → directory under root

  constructor(readonly spec: any, readonly options: LocalPodOptions) {}

  /** Fills the volumes, runs the init containers, starts the main container. */
  start(): Proc {
    this.prepare();
    return this.startMain();
  }

  /** What happens once per pod: volumes filled, init containers run to completion. */
  prepare(): void {
    for (const volume of this.spec.volumes ?? []) this.fillVolume(volume);
    for (const init of this.spec.initContainers ?? []) {
      const { command, env } = this.resolve(init);
      const result = spawnSync(command[0], command.slice(1), { env, encoding: "utf8" });
      if (result.status !== 0) throw new Error(`init container ${init.name} failed (${result.status}): ${result.stderr || result.error?.message}`);
    }
  }

  /** Starts (or, after it exited, restarts) the main container. */
  startMain(): Proc {
    const container = this.spec.containers[0];
    const { command, env } = this.resolve(container);
    const intervals = this.options.intervals;
    const onLine = intervals && ((line: string, t: number) => intervals.observe(this.options.podName, line, t));
    // As a container runtime runs it: PID 1 of a PID namespace of its own (the wrapper requires it).
    this.main = new Proc(`${this.options.podName}/${container.name}`, command[0], command.slice(1), { env: { ...env, ...this.options.extraEnv }, logFile: this.options.logFile, onLine, container: true });
    return this.main;
  }

  /** Every process of the main container SIGKILLed at once, as when its node dies. */
  kill(): void {
    this.main?.signalGroup("SIGKILL");
    this.options.intervals?.killed(this.options.podName, Date.now());
  }

  private fillVolume(volume: any): void {
    const dir = path.join(this.options.root, "volumes", volume.name);
    mkdirSync(dir, { recursive: true });
    this.mounts.set(volume.name, dir);
    const source = volume.configMap
      ? { data: this.options.sources.configMap(volume.configMap.name), spec: volume.configMap, what: `ConfigMap ${volume.configMap.name}` }
      : volume.secret
        ? { data: this.options.sources.secret(volume.secret.secretName), spec: volume.secret, what: `Secret ${volume.secret.secretName}` }
        : undefined;
    if (!source) return; // emptyDir
    if (!source.data) throw new Error(`${source.what} does not exist (the kubelet would keep the pod in ContainerCreating)`);
    const items: { key: string; path: string; mode?: number }[] = source.spec.items ?? Object.keys(source.data).map((key) => ({ key, path: key }));
    for (const item of items) {
      if (!(item.key in source.data)) throw new Error(`${source.what} has no key ${item.key}`);
      const file = path.join(dir, item.path);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, source.data[item.key]);
      chmodSync(file, item.mode ?? source.spec.defaultMode ?? DEFAULT_FILE_MODE);
    }
  }

  /** A container's command and environment, with mount paths mapped into the pod's root. */
  private resolve(container: any): { command: string[]; env: NodeJS.ProcessEnv } {
    const mounts: { at: string; dir: string }[] = (container.volumeMounts ?? []).map((m: any) => ({ at: m.mountPath, dir: this.mounts.get(m.name) as string }));
    const image = this.options.images[container.image];
    if (image === undefined) throw new Error(`image ${container.image} is not known to the test kubelet (known: ${Object.keys(this.options.images).join(", ")})`);
    const mapPath = (value: string, orImage: boolean): string => {
      const mount = mounts.find((m) => value === m.at || value.startsWith(`${m.at}/`));
      if (mount) return mount.dir + value.slice(mount.at.length);
      return orImage && value.startsWith("/") ? path.join(image, value) : value;
    };
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: this.options.root };
    for (const variable of container.env ?? []) {
      const field = variable.valueFrom?.fieldRef?.fieldPath;
      if (field === "metadata.name") env[variable.name] = this.options.podName;
      else if (field === "metadata.namespace") env[variable.name] = this.options.namespace;
      else if (field === "status.podIP") env[variable.name] = "127.0.0.1";
      else if (variable.valueFrom) throw new Error(`env ${variable.name}: valueFrom ${JSON.stringify(variable.valueFrom)} is not supported by the test kubelet`);
      else env[variable.name] = mapPath(String(variable.value ?? ""), false);
    }
    const command: string[] = [...(container.command ?? []), ...(container.args ?? [])];
    // Arguments are the program's business; only the executable (and, for an init container's
    // file copy, its path arguments) are resolved against mounts and the image.
    const resolved = container.args === undefined && (container.command ?? []).length > 1
      ? command.map((arg, i) => (i === 0 || arg.startsWith("/") ? mapPath(arg, true) : arg))
      : [mapPath(command[0], true), ...command.slice(1)];
    return { command: resolved, env };
  }
}
