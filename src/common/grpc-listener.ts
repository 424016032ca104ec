import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';

import { joinHostPort } from './addresses.js';

export interface ListenOptions {
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  /** TCP connections open at once; the next one is closed as soon as it is accepted. */
  readonly maxConnections: number;
  /**
   * TCP connections open at once from one client address, so that one client
   * cannot take every connection (and starve the kubelet's probes); undefined = no bound.
   */
  readonly maxConnectionsPerClient?: number;
  /** Called for each connection closed for a bound, with the bound that refused it. */
  readonly onConnectionRefused?: (bound: 'total' | 'per-client') => void;
  /** Called when accepting fails (such as EMFILE); the listener keeps going. */
  readonly onError?: (error: Error) => void;
  /**
   * Serve TLS: each accepted connection goes through this node:tls server's
   * handshake, and the target gets it once the handshake is done (the server's
   * setSecureContext() changes the certificate of later handshakes).
   * Undefined = plaintext.
   */
  readonly tls?: TlsServer;
}

/** Where accepted connections go: the GrpcFront (or grpc-js's own `createConnectionInjector`). */
export interface ConnectionTarget {
  injectConnection(socket: Socket | TLSSocket): void;
}

/** The TCP side of a gRPC server, with a bound on connections. */
export interface GrpcListener {
  /** The bound port. */
  readonly port: number;
  /** TCP connections open now. */
  connections(): Promise<number>;
  /**
   * Stops accepting connections at once; resolves when the last one has
   * ended (those open stay with the target until it shuts them down).
   */
  close(): Promise<void>;
}

/**
 * Listens on `host:port` with node:net and hands each connection (after its
 * TLS handshake, with TLS) to `target`, which owns its HTTP/2 session, so
 * that the number of connections is bounded (`net.Server.maxConnections`):
 * grpc-js's own bindAsync accepts without limit.
 */
export async function listenWithLimits(target: ConnectionTarget, options: ListenOptions): Promise<GrpcListener> {
  const perClient = new ConnectionsPerClient(options.maxConnectionsPerClient);
  const tls = options.tls;
  if (tls !== undefined) tls.on('secureConnection', (socket: TLSSocket) => target.injectConnection(socket));
  const tcp = createServer({ noDelay: true }, (socket) => {
    if (!perClient.admit(socket)) {
      socket.destroy();
      options.onConnectionRefused?.('per-client');
      return;
    }
    if (tls === undefined) target.injectConnection(socket);
    else tls.emit('connection', socket);
  });
  tcp.maxConnections = options.maxConnections;
  tcp.on('drop', () => options.onConnectionRefused?.('total'));

  const address = joinHostPort(options.host, options.port);
  await new Promise<void>((resolve, reject) => {
    const failed = (error: Error): void => reject(new Error(`cannot listen on ${address}: ${error.message}`));
    tcp.once('error', failed);
    tcp.listen({ host: options.host, port: options.port }, () => {
      tcp.off('error', failed);
      resolve();
    });
  });
  tcp.on('error', (error) => options.onError?.(error));

  const bound = tcp.address();
  if (bound === null || typeof bound === 'string') throw new Error(`cannot listen on ${address}: no TCP address`);
  return {
    port: bound.port,
    connections: () => countConnections(tcp),
    close: () => new Promise((resolve) => tcp.close(() => resolve())),
  };
}

function countConnections(tcp: TcpServer): Promise<number> {
  return new Promise((resolve) => tcp.getConnections((error, count) => resolve(error === null ? count : 0)));
}

/** Open connections per client address; forgets an address when its last connection ends. */
class ConnectionsPerClient {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number | undefined) {}

  /** Counts `socket` in and returns true, or returns false when its client is at the bound. */
  admit(socket: Socket): boolean {
    if (this.max === undefined) return true;
    const client = socket.remoteAddress ?? '';
    const count = this.open.get(client) ?? 0;
    if (count >= this.max) return false;
    this.open.set(client, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(client) ?? 1) - 1;
      if (left > 0) this.open.set(client, left);
      else this.open.delete(client);
    });
    return true;
  }
}
