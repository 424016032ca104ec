import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

interface Connection {
  readonly client: Socket;
  readonly upstream: Socket;
  frozen: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a local port, which can freeze the
 * connections open through it: they stop carrying bytes either way but stay
 * open, as when a peer vanishes or a middlebox black-holes a connection.
 * Connections made after a freeze work normally.
 */
export class TcpProxy {
  /** Connections accepted so far. */
  accepted = 0;
  private readonly connections = new Set<Connection>();

  private constructor(
    private readonly server: Server,
    private readonly targetPort: number,
  ) {
    server.on('connection', (client) => this.forward(client));
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, targetPort);
  }

  /** http://127.0.0.1:<port>, for a kubeconfig. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Frozen connections still open (neither side has closed them). */
  get frozenOpen(): number {
    return [...this.connections].filter((connection) => connection.frozen).length;
  }

  /** Freezes every connection open now; returns how many. */
  freeze(): number {
    for (const connection of this.connections) connection.frozen = true;
    return this.connections.size;
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.connections) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    this.accepted++;
    const upstream = connect(this.targetPort, '127.0.0.1');
    const connection: Connection = { client, upstream, frozen: false };
    this.connections.add(connection);
    client.on('data', (chunk: Buffer) => {
      if (!connection.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!connection.frozen) client.write(chunk);
    });
    const end = (): void => {
      this.connections.delete(connection);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  }
}
