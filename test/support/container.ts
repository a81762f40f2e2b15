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
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** The PID namespace of a host PID (its /proc/<pid>/ns/pid link), while the process lives. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

/** Live processes of a PID namespace, as the host sees them: host PID, PID inside, command line. */
export function processesIn(namespace: string): { hostPid: number; nsPid: number; cmd: string }[] {
  const found: { hostPid: number; nsPid: number; cmd: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const hostPid = Number(entry);
    if (pidNamespace(hostPid) !== namespace || !processAlive(hostPid)) continue;
    try {
      const nsPid = Number(/^NSpid:.*\s(\d+)\s*$/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]);
      found.push({ hostPid, nsPid, cmd: readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").join(" ").trim() });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
