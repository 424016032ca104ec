import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** One client connection through the proxy, as the test sees it. */
export interface ProxiedConnection {
  /** 1 for the first connection, then 2, … */
  readonly id: number;
  /** Set by freeze(): nothing is forwarded either way any more, but both sockets stay open. */
  frozen: boolean;
  /** Which side closed (or reset) the connection first; undefined while it is open. */
  closedBy: 'client' | 'server' | undefined;
  /** The port it was forwarded to; undefined until a target took it. */
  targetPort: number | undefined;
}

/**
 * A TCP proxy on 127.0.0.1 in front of one server, which a test can freeze:
 * the connections open at that moment stop forwarding (bytes are read and
 * dropped, as when a node dies behind a ClusterIP and its packets vanish)
 * while their sockets stay open, so only a keepalive or a deadline on the
 * client side can notice. Connections made after the freeze forward normally,
 * as when the ClusterIP routes them to a healthy replica.
 *
 * In front of several servers it is a small Service: each new connection goes
 * to the next target in turn, and to the one after when a target refuses it
 * (a replica that died), so clients reach whichever replicas are left.
 */
export class TcpProxy {
  private readonly all: ProxiedConnection[] = [];
  private readonly sockets = new Set<Socket>();

  private nextTarget = 0;

  private constructor(
    private readonly server: Server,
    private targetPorts: readonly number[],
  ) {
    server.on('connection', (client) => this.forward(client));
  }

  /** Listens on a free port of 127.0.0.1 and forwards to 127.0.0.1:`targetPort` (each of them in turn when several). */
  static async start(targetPort: number | readonly number[]): Promise<TcpProxy> {
    const server = createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, typeof targetPort === 'number' ? [targetPort] : targetPort);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `127.0.0.1:<port>`, to dial instead of the server. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** http://127.0.0.1:<port>, for a kubeconfig. */
  get url(): string {
    return `http://${this.address}`;
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.all.length;
  }

  /** Frozen connections that neither side has closed. */
  get frozenOpen(): number {
    return this.all.filter((connection) => connection.frozen && connection.closedBy === undefined).length;
  }

  /** Every connection so far, oldest first. */
  get connections(): readonly ProxiedConnection[] {
    return this.all;
  }

  /** Stops forwarding on every connection open now (returns how many); later connections forward normally. */
  freeze(): number {
    let frozen = 0;
    for (const connection of this.all) {
      if (connection.closedBy !== undefined) continue;
      connection.frozen = true;
      frozen += 1;
    }
    return frozen;
  }

  /** Sends connections made from now on to 127.0.0.1:`port` (another replica); open ones stay where they are. */
  retarget(port: number): void {
    this.targetPorts = [port];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(client: Socket): void {
    const connection: ProxiedConnection = { id: this.all.length + 1, frozen: false, closedBy: undefined, targetPort: undefined };
    this.all.push(connection);
    this.sockets.add(client);
    client.on('error', () => client.destroy());
    this.dial(client, connection, this.targetPorts.length);
  }

  /** Connects to the next target; one that refuses passes the connection on, `attemptsLeft` times in all. */
  private dial(client: Socket, connection: ProxiedConnection, attemptsLeft: number): void {
    const port = this.targetPorts[this.nextTarget % this.targetPorts.length] as number;
    this.nextTarget += 1;
    const upstream = connect(port, '127.0.0.1');
    const refused = (): void => {
      if (attemptsLeft > 1 && !client.destroyed) this.dial(client, connection, attemptsLeft - 1);
      else client.destroy();
    };
    upstream.once('error', refused);
    upstream.once('connect', () => {
      upstream.off('error', refused);
      connection.targetPort = port;
      this.pipe(client, upstream, connection);
      if (client.destroyed) upstream.destroy();
      else client.resume();
    });
  }

  private pipe(client: Socket, upstream: Socket, connection: ProxiedConnection): void {
    const ends = [
      { socket: client, other: upstream, side: 'client' as const },
      { socket: upstream, other: client, side: 'server' as const },
    ];
    for (const { socket, other, side } of ends) {
      this.sockets.add(socket);
      socket.on('data', (chunk: Buffer) => {
        if (connection.frozen) return; // dropped, as on a dead link
        if (!other.write(chunk)) {
          socket.pause();
          other.once('drain', () => socket.resume());
        }
      });
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        this.sockets.delete(socket);
        connection.closedBy ??= side;
        // A frozen link carries no FIN or RST either: the other side is not told.
        if (!connection.frozen) other.destroy();
      });
    }
  }
}
