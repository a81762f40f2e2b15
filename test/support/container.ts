/**
 * What a container runtime gives each container that the lock wrapper relies on: a PID namespace
 * of its own, whose PID 1 is the container's command, with its own /proc (components/scripts/
 * README.md). `unshare` makes both here (with a user namespace too when not root); it stays the
 * namespace's parent, ignores SIGTERM and exits with PID 1's status, so signals meant for the
 * container go to `containerInit(unsharePid)`, as a runtime sends them to the container's PID 1.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export const UNSHARE = "/usr/bin/unshare";

/** `unshare` arguments that run `command` as PID 1 of a new PID namespace; SIGKILL if `unshare` dies. */
export function containerArgs(command: string[]): string[] {
  return [...(process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"]), "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", ...command];
}

/** The host PID of the container's PID 1 (the child `unshare` forked), once it exists. */
export function containerInit(unsharePid: number): number | undefined {
  try {
    const [child] = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
    return child ? Number(child) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a host PID is a live process (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  const stat = procFile(pid, "stat");
  return stat !== undefined && !/^\S+ \(.*\) [ZX]/s.test(stat);
}

/** The PID namespace of a host PID (its /proc/<pid>/ns/pid link), while the process lives. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** The host's PIDs now. */
export function hostPids(): number[] {
  return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** A /proc file of a host PID; undefined once the process is gone (or the file unreadable). */
export function procFile(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/** A host process's argv; undefined once it is gone. */
export const argvOf = (pid: number): string[] | undefined => procFile(pid, "cmdline")?.split("\0").filter((arg, i, all) => arg !== "" || i < all.length - 1);

/** The PID a host process has in its own PID namespace (the last field of NSpid). */
export function innermostPid(pid: number): number | undefined {
  const nsPid = /^NSpid:.*\s(\d+)\s*$/m.exec(procFile(pid, "status") ?? "")?.[1];
  return nsPid === undefined ? undefined : Number(nsPid);
}

/** The pod a host process belongs to: its POD_NAME (the main container's, inherited by every process it starts). */
export function podOf(pid: number): string | undefined {
  return procFile(pid, "environ")?.split("\0").find((v) => v.startsWith("POD_NAME="))?.slice("POD_NAME=".length);
}

/** Live processes of a PID namespace, as the host sees them: host PID, PID inside, command line. */
export function processesIn(namespace: string): { hostPid: number; nsPid: number; cmd: string }[] {
  const found: { hostPid: number; nsPid: number; cmd: string }[] = [];
  for (const hostPid of hostPids()) {
    if (pidNamespace(hostPid) !== namespace || !processAlive(hostPid)) continue;
    const nsPid = innermostPid(hostPid);
    const argv = argvOf(hostPid);
    if (nsPid !== undefined && argv) found.push({ hostPid, nsPid, cmd: argv.join(" ").trim() });
  }
  return found;
}
