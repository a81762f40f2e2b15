/**
 * What a container runtime gives each container that the lock wrapper relies on: a PID namespace
 * of its own, whose PID 1 is the container's command, with its own /proc (components/scripts/
 * README.md). `unshare` makes both here (with a user namespace too when not root); it stays the
 * namespace's parent, ignores SIGTERM and exits with PID 1's status, so signals meant for the
 * container go to `containerInit(unsharePid)`, as a runtime sends them to the container's PID 1.
 */
import { readFileSync } from "node:fs";

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
