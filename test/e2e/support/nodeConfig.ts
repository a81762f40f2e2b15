/**
 * A real node's configuration files (support/realNode.ts): its containerd's, its CNI network's and
 * its kubelet's, with why each setting differs from the defaults (../shared/REAL-NODES.md).
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { enginesBinDir } from "../../engines/paths";

/** The sandbox image (pause.c, built by `npm run engines`; support/nodeImages.ts). */
export const PAUSE_IMAGE = "localhost/pause:3.10";
/** The kubelet's podPidsLimit on every node. */
export const POD_PIDS_LIMIT = 64;
/** The kubelet's port inside the node's namespace (each node has its own). */
const KUBELET_PORT = 10250;

export interface NodeFiles {
  dir: string;
  /** containerd's socket. */
  socket: string;
  podSubnet: string;
  nodeIp: string;
  cgroupRoot: string;
  /** The kubelet's kubeconfig (its API server as the node sees it). */
  kubeconfig: string;
}

/** containerd's config.toml and the CNI network (a bridge with the node's pod subnet). */
export function writeContainerdConfig(node: NodeFiles): void {
  const { dir } = node;
  const bin = enginesBinDir();
  writeFileSync(path.join(dir, "cni", "net.d", "10-mogi.conflist"), JSON.stringify({
    cniVersion: "1.0.0",
    name: "mogi-e2e",
    // No ipMasq and no portmap: no iptables rule anywhere (pods reach only the node's addresses).
    plugins: [{ type: "bridge", bridge: "cni0", isGateway: true, ipMasq: false, ipam: { type: "host-local", ranges: [[{ subnet: node.podSubnet }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: path.join(dir, "cni", "ipam") } }],
  }));
  writeFileSync(path.join(dir, "containerd", "config.toml"), `version = 3
root = '${dir}/containerd/root'
state = '${dir}/containerd/state'
imports = []
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs']
[grpc]
address = '${node.socket}'
[ttrpc]
address = '${node.socket}.ttrpc'
[plugins.'io.containerd.cri.v1.images']
snapshotter = 'overlayfs'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '${PAUSE_IMAGE}'
[plugins.'io.containerd.cri.v1.runtime']
restrict_oom_score_adj = true
netns_mounts_under_state_dir = true
cdi_spec_dirs = []
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    BinaryName = '${path.join(bin, "runc")}'
    Root = '${dir}/runc'
    SystemdCgroup = false
[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ['${path.join(bin, "cni")}']
  conf_dir = '${dir}/cni/net.d'
[plugins.'io.containerd.internal.v1.opt']
path = '${dir}/containerd/opt'
[plugins.'io.containerd.image-verifier.v1.bindir']
bin_dir = '${dir}/containerd/verifiers'
`);
}

/** The kubelet's KubeletConfiguration, kubeconfig and resolv.conf. */
export function writeKubeletConfig(node: NodeFiles): void {
  const { dir } = node;
  writeFileSync(path.join(dir, "kubelet", "kubeconfig"), node.kubeconfig);
  writeFileSync(path.join(dir, "kubelet", "resolv.conf"), "nameserver 127.0.0.1\n");
  writeFileSync(path.join(dir, "kubelet", "config.yaml"), JSON.stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // cgroup v1 host (REAL-NODES.md, workaround 1); pods in a cgroup tree of the node's own.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: node.cgroupRoot,
    containerRuntimeEndpoint: `unix://${node.socket}`,
    address: node.nodeIp,
    port: KUBELET_PORT,
    readOnlyPort: 0,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    podLogsDir: path.join(dir, "pod-logs"),
    resolvConf: path.join(dir, "kubelet", "resolv.conf"),
    // The kernel settings are the namespace's bind mounts (support/nodeNamespace.ts): checked, never written.
    protectKernelDefaults: true,
    failSwapOn: false,
    // A pod's processes and threads are bounded (a runaway Mogi must not starve the node); a
    // holder pod uses about 20 (the wrapper, `consul lock`'s and Mogi's threads), and the
    // faults suite uses this limit up on purpose (faults.test.ts).
    podPidsLimit: POD_PIDS_LIMIT,
    // Images cannot be pulled back here: never collect them. Evict only for the pods' own
    // limits (emptyDir sizeLimit, ephemeral storage), not for the shared host disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { "memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%" },
    // How often volume usage is measured (default 1 min): an emptyDir past its sizeLimit is
    // evicted within seconds instead of a minute (the eviction manager looks every 10 s).
    volumeStatsAggPeriod: "5s",
  }));
}
