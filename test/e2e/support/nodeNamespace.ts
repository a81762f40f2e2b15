/**
 * A node's own network and mount namespaces, made by the harness so that a real kubelet and
 * containerd never touch the host (../shared/REAL-NODES.md, workarounds 3 and 4):
 * - a holder process (`unshare --mount --net`) keeps them; every node process enters them with
 *   `nsenter`, and they vanish with the holder;
 * - network: loopback, a veth pair inside the namespace giving the node its IP (this kernel has no
 *   `dummy` links), and on loopback the addresses of the cluster's Services the pods use, as
 *   kube-proxy makes a ClusterIP answer on every node. Each Service address is a relay (socat) to
 *   a Unix socket the test serves on the host (a Unix socket crosses network namespaces): the
 *   Consul Service through the node's own link (support/tcpService.ts, which a test can cut), the
 *   API server for the kubelet. Pods reach them through the CNI bridge's gateway; the host's
 *   network is never changed;
 * - mounts: a tmpfs over /run (where daemons default their sockets), and the kernel settings the
 *   kubelet insists on (`protectKernelDefaults`) bind-mounted from files of the node's, so the
 *   kubelet sees its values and the host's stay as they are (checked by hostSettings()).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { Proc, waitFor } from "./processes";

/** What the kubelet's container manager wants (pkg/kubelet/cm, setupKernelTunables). */
export const KUBELET_KERNEL_SETTINGS: Record<string, string> = {
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

/** A relay inside the namespace: TCP `ip:port` there → the host's Unix socket `socket`. */
export interface Relay {
  ip: string;
  port: number;
  socket: string;
}

export class NodeNamespace {
  private holder?: Proc;
  private readonly relays: Proc[] = [];

  /** `index` numbers the node's networks: node IP 10.200.<index>.2, pods 10.88.<index>.0/24. */
  constructor(readonly name: string, readonly index: number, readonly dir: string) {}

  get nodeIp(): string {
    return `10.200.${this.index}.2`;
  }

  get podSubnet(): string {
    return `10.88.${this.index}.0/24`;
  }

  get pid(): number {
    if (!this.holder?.alive) throw new Error(`node ${this.name}'s namespaces are gone`);
    return this.holder.pid;
  }

  /** `nsenter` arguments that run `command` inside the node's namespaces. */
  enter(command: string[]): [string, string[]] {
    return ["nsenter", [`--target=${this.pid}`, "--mount", "--net", "--", ...command]];
  }

  /** Runs a command inside, synchronously; throws with its output if it fails. */
  run(command: string[], input?: string): string {
    const [file, args] = this.enter(command);
    return execFileSync(file, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
  }

  /** Starts a long-running process inside. */
  spawn(name: string, command: string[], logFile: string): Proc {
    const [file, args] = this.enter(command);
    return new Proc(name, file, args, { logFile });
  }

  async start(serviceIps: string[]): Promise<void> {
    mkdirSync(path.join(this.dir, "sysctl"), { recursive: true });
    this.holder = new Proc(`${this.name} namespaces`, "unshare", ["--mount", "--net", "--propagation", "private", "sleep", "infinity"], { logFile: path.join(this.dir, "namespaces.log") });
    // Ready once the holder's network namespace differs from ours.
    const own = execFileSync("readlink", ["/proc/self/ns/net"], { encoding: "utf8" }).trim();
    await waitFor(`${this.name}'s namespaces`, () => {
      try {
        return execFileSync("readlink", [`/proc/${this.pid}/ns/net`], { encoding: "utf8" }).trim() !== own;
      } catch {
        return false;
      }
    }, 5_000, 20);
    const binds = Object.entries(KUBELET_KERNEL_SETTINGS).map(([key, value]) => {
      const file = path.join(this.dir, "sysctl", key.replace(/\//g, "."));
      writeFileSync(file, `${value}\n`);
      return `mount --bind ${file} /proc/sys/${key}`;
    });
    this.run(["sh", "-euc", [
      "mount -t tmpfs -o mode=0755,size=64m tmpfs /run",
      "ip link set lo up",
      ...serviceIps.map((ip) => `ip addr add ${ip}/32 dev lo`),
      "ip link add node0 type veth peer name node0-peer",
      `ip addr add ${this.nodeIp}/24 dev node0`,
      "ip link set node0 up",
      "ip link set node0-peer up",
      ...binds,
    ].join("\n")]);
  }

  /** Starts relays; resolves once each one accepts connections inside the namespace. */
  async relay(relays: Relay[]): Promise<void> {
    for (const { ip, port, socket } of relays) {
      this.relays.push(this.spawn(`${this.name} relay ${ip}:${port}`, ["socat", `TCP-LISTEN:${port},bind=${ip},fork,reuseaddr`, `UNIX-CONNECT:${socket}`], path.join(this.dir, `relay-${ip}-${port}.log`)));
      // The holder's /proc/<pid>/net/tcp lists the namespace's sockets: LISTEN (0A) on the port.
      await waitFor(`${this.name}'s relay on ${ip}:${port}`, () => readFileSync(`/proc/${this.pid}/net/tcp`, "utf8").includes(`:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A`), 5_000, 50);
    }
  }

  /** The relays' processes, then the holder: the namespaces end with their last process. */
  async stop(): Promise<void> {
    for (const relay of this.relays) await relay.stop(2_000);
    await this.holder?.stop(2_000);
  }
}

/**
 * The host's settings a node could change if it were not in namespaces of its own: the kernel
 * settings the kubelet tunes, forwarding, and the host's links, addresses and routes. A test
 * compares them before and after a run.
 */
export function hostSettings(): Record<string, string> {
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8").trim();
    } catch {
      return "(absent)";
    }
  };
  const settings: Record<string, string> = {};
  for (const key of [...Object.keys(KUBELET_KERNEL_SETTINGS), "net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding"]) settings[key] = read(`/proc/sys/${key}`);
  for (const what of [["link"], ["addr"], ["route"]]) settings[`ip ${what}`] = execFileSync("ip", ["-o", ...what], { encoding: "utf8" }).replace(/\s+\\\s+/g, " ").trim();
  settings["cgroup mounts"] = read("/proc/self/mounts").split("\n").filter((l) => l.includes("cgroup")).join("\n");
  return settings;
}
