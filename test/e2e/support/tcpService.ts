/**
 * TEST INFRASTRUCTURE: a stand-in for a Kubernetes Service in front of the Consul servers (the
 * Helm chart's `consul-server`): one address on 127.0.0.1 whose connections go to any server that
 * accepts them, round-robin, skipping one that refuses. Without it, every pod would talk to one
 * fixed server and a restart of that server would look like a Consul outage instead of a server
 * restart behind a Service.
 */
import { createConnection, createServer, Server, Socket } from "node:net";

/**
 * How a link behaves. `blackhole`: a silent partition. Connections are accepted and nothing passes
 * either way, no RST (held, not dropped, so that after `up` the bytes flow again as TCP's
 * retransmissions would deliver them). `refuse`: existing connections are reset, new ones refused.
 */
export type LinkState = "up" | "blackhole" | "refuse";

export class TcpService {
  private server?: Server;
  private next = 0;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private held: Socket[] = [];
  private state: LinkState = "up";
  port = 0;

  constructor(private readonly backends: () => number[]) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Cuts or restores the link (see LinkState). */
  set(state: LinkState): void {
    this.state = state;
    if (state === "up") {
      for (const { client, upstream } of this.pairs) {
        client.pipe(upstream);
        upstream.pipe(client);
      }
      for (const client of this.held.splice(0)) if (!client.destroyed) this.forward(client, this.backends().length);
    } else {
      for (const { client, upstream } of this.pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        if (state === "refuse") {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        }
      }
      if (state === "refuse") for (const client of this.held.splice(0)) client.resetAndDestroy();
    }
  }

  /** Listens on 127.0.0.1 (a free port), or on a Unix socket at `unixPath` (a node's relay, support/nodeNamespace.ts). */
  async start(unixPath?: string): Promise<void> {
    this.server = createServer((client) => {
      if (this.state === "refuse") client.resetAndDestroy();
      else if (this.state === "blackhole") {
        client.pause();
        this.track(client);
        this.held.push(client);
      } else this.forward(client, this.backends().length);
    });
    if (unixPath) {
      await new Promise<void>((resolve) => this.server?.listen(unixPath, resolve));
      return;
    }
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  private forward(client: Socket, attemptsLeft: number): void {
    const ports = this.backends();
    if (attemptsLeft <= 0 || ports.length === 0) {
      client.destroy();
      return;
    }
    const port = ports[this.next++ % ports.length];
    const upstream = createConnection({ host: "127.0.0.1", port });
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      this.track(client);
      this.track(upstream);
      const pair = { client, upstream };
      this.pairs.add(pair);
      if (this.state === "up") client.pipe(upstream).pipe(client);
      else client.pause();
      client.on("error", () => upstream.destroy());
      client.on("close", () => {
        this.pairs.delete(pair);
        upstream.destroy();
      });
      upstream.on("close", () => client.destroy());
      upstream.on("error", () => client.destroy());
    });
    upstream.once("error", () => {
      if (!connected) this.forward(client, attemptsLeft - 1); // refused: try the next server
    });
  }

  private track(socket: Socket): void {
    socket.on("error", () => socket.destroy()); // a reset peer is the link's business, not the test's
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
