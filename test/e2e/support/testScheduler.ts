/**
 * TEST SCHEDULER: test infrastructure standing in for kube-scheduler (not built here; only the
 * part the suites need). It binds each unscheduled pod to a node that can take it, as the
 * scheduler's default filters would: the node's Ready condition is True, and it carries no
 * NoSchedule or NoExecute taint (the node-lifecycle controller taints a node that stopped
 * reporting `node.kubernetes.io/unreachable` / `not-ready`). Among those, the one running fewest
 * pods. A pod that fits nowhere stays Pending, as it would.
 */
import { KubeApi } from "./kubeApi";
import { sleep } from "./processes";

/* eslint-disable @typescript-eslint/no-explicit-any */
const POLL_MS = 200;

export class TestScheduler {
  private stopped = false;
  private loop?: Promise<void>;
  readonly errors: string[] = [];

  constructor(private readonly api: KubeApi) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          await this.schedule();
        } catch (error) {
          this.errors.push(`${new Date().toISOString()} ${(error as Error).message}`);
        }
        await sleep(POLL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async schedule(): Promise<void> {
    const pods = ((await this.api.call("GET", "/api/v1/pods")).items as any[]);
    const pending = pods.filter((p) => !p.spec.nodeName && !p.metadata.deletionTimestamp);
    if (pending.length === 0) return;
    const nodes = ((await this.api.call("GET", "/api/v1/nodes")).items as any[]).filter((n) => {
      const ready = (n.status?.conditions ?? []).find((c: any) => c.type === "Ready")?.status === "True";
      const tainted = (n.spec?.taints ?? []).some((t: any) => t.effect === "NoSchedule" || t.effect === "NoExecute");
      return ready && !tainted && !n.spec?.unschedulable;
    });
    for (const pod of pending) {
      const load = (node: string) => pods.filter((p) => p.spec.nodeName === node && !p.metadata.deletionTimestamp).length;
      const [node] = nodes.map((n) => n.metadata.name as string).sort((a, b) => load(a) - load(b) || a.localeCompare(b));
      if (!node) continue;
      const { name, namespace } = pod.metadata;
      await this.api.request("POST", `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
        apiVersion: "v1", kind: "Binding", metadata: { name, namespace }, target: { apiVersion: "v1", kind: "Node", name: node },
      });
      pod.spec.nodeName = node;
    }
  }
}
