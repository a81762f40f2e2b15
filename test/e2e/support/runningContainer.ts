/**
 * What the rendered pod spec promises, read from a container a real node runs (as the kernel
 * shows it to the host, and by acting inside it as its own user): its UID and GID, no
 * capabilities, no-new-privileges, a seccomp filter, a read-only root with writable emptyDirs, the
 * wrapper's mode from the ConfigMap, and the `consul` binary the init container copied.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { argvOf, hostPids, innermostPid, podOf } from "../../support/container";
import { engine } from "../../engines/paths";

export interface RunningContainer {
  /** The container's PID 1 (the lock wrapper) as the host numbers it. */
  hostPid: number;
  uid: number;
  gid: number;
  /** Effective, permitted and bounding capability sets (hex, as /proc shows them). */
  capEff: string;
  capPrm: string;
  capBnd: string;
  noNewPrivs: number;
  /** 2: a seccomp filter (RuntimeDefault) is in force. */
  seccomp: number;
  /** Mount point → "ro" | "rw", as the container sees its mounts. */
  mounts: Record<string, string>;
}

/** The host PID of `pod`'s main container's PID 1: PID 1 of a nested PID namespace, the wrapper, of the pod. */
export function podInit(pod: string): number | undefined {
  return hostPids().find((pid) => innermostPid(pid) === 1 && pid !== 1 && (argvOf(pid)?.join(" ") ?? "").includes("consul-lock-wrapper") && podOf(pid) === pod);
}

/** Pods (of `pods`) that have a process on this host now. */
export function podsWithProcesses(pods: string[]): Set<string> {
  if (pods.length === 0) return new Set();
  const present = new Set(hostPids().map(podOf));
  return new Set(pods.filter((pod) => present.has(pod)));
}

/** The host PID of `pod`'s process running `command` (its argv[0], e.g. the test Mogi; not the wrapper, whose arguments name it). */
export function podProcess(pod: string, command: string): number | undefined {
  return hostPids().find((pid) => argvOf(pid)?.[0] === command && podOf(pid) === pod);
}

/** The pids limit of the pod's cgroup (the kubelet's podPidsLimit), read from the pids hierarchy. */
export function podPidsMax(hostPid: number): string {
  const container = /^\d+:pids:(.*)$/m.exec(readFileSync(`/proc/${hostPid}/cgroup`, "utf8"))?.[1];
  if (!container) throw new Error(`process ${hostPid} is in no pids cgroup`);
  return readFileSync(`/sys/fs/cgroup/pids${container.replace(/\/[^/]+$/, "")}/pids.max`, "utf8").trim();
}

export function inspect(hostPid: number): RunningContainer {
  const status = readFileSync(`/proc/${hostPid}/status`, "utf8");
  const field = (name: string) => (new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim();
  const mounts: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${hostPid}/mountinfo`, "utf8").split("\n").filter(Boolean)) {
    const fields = line.split(" ");
    mounts[fields[4]] = fields[5].split(",")[0];
  }
  return {
    hostPid,
    uid: Number(field("Uid").split(/\s+/)[1]),
    gid: Number(field("Gid").split(/\s+/)[1]),
    capEff: field("CapEff"),
    capPrm: field("CapPrm"),
    capBnd: field("CapBnd"),
    noNewPrivs: Number(field("NoNewPrivs")),
    seccomp: Number(field("Seccomp")),
    mounts,
  };
}

/**
 * Runs `command` inside the container's mount namespace and root, as its user (the way `kubectl
 * exec` would land, without the runtime's own exec path): exit status and output.
 */
export function execAs(container: RunningContainer, command: string[]): { status: number; output: string } {
  const run = spawnSync("nsenter", [`--target=${container.hostPid}`, "--mount", "--root", "--wd", `--setuid=${container.uid}`, `--setgid=${container.gid}`, "--", ...command], { encoding: "utf8" });
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}`.trim() };
}

/** A file inside the container as the host sees it: its mode and its content's sha256. */
export function fileInside(container: RunningContainer, file: string): { mode: number; sha256: string } {
  const inside = `/proc/${container.hostPid}/root${file}`;
  return { mode: statSync(inside).mode & 0o7777, sha256: createHash("sha256").update(readFileSync(inside)).digest("hex") };
}

/** The engine's `consul`, which the Consul image carries and the init container copies. */
export function consulSha256(): string {
  return createHash("sha256").update(readFileSync(engine("consul"))).digest("hex");
}
