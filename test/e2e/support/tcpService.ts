/**
 * TEST INFRASTRUCTURE: a stand-in for a Kubernetes Service in front of the Consul servers (the
 * Helm chart's `consul-server`): one address on 127.0.0.1 whose connections go to any server that
 * accepts them, round-robin, skipping one that refuses. Without it, every pod would talk to one
 * fixed server and a restart of that server would look like a Consul outage instead of a server
 * restart behind a Service.
 */
import { createConnection, createServer, Server, Socket } from "node:net";

export class TcpService {
  private server?: Server;
  private next = 0;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly backends: () => number[]) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.forward(client, this.backends().length));
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
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    upstream.on("error", () => {
      if (!connected) this.forward(client, attemptsLeft - 1); // refused: try the next server
      else client.destroy();
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
