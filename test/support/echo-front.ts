import type { ServerHttp2Stream } from 'node:http2';

import {
  Client,
  credentials,
  Metadata,
  Server,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerOptions,
  type ServiceDefinition,
} from '@grpc/grpc-js';

import { CallGuard } from '../../src/common/grpc-call-guard.js';
import { GrpcFront } from '../../src/common/grpc-front.js';
import { CONNECTION_TIMES, type ConnectionTimes } from '../../src/common/grpc-front-connection.js';
import { listenWithLimits, type GrpcListener } from '../../src/common/grpc-listener.js';
import { callPeer } from '../../src/common/grpc-stream-proxy.js';
import type { StreamRoute } from '../../src/common/grpc-stream-routes.js';
import { silentLogger } from '../../src/common/logging.js';
import type { Timers } from '../../src/common/timers.js';

const identity = (bytes: Buffer): Buffer => bytes;

function method(name: string, requestStream: boolean, responseStream: boolean): ServiceDefinition[string] {
  return {
    path: `/test.Echo/${name}`,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/** A service of raw bytes, so the tests need no proto. */
export const ECHO = {
  Unary: method('Unary', false, false),
  Hold: method('Hold', false, false),
  Count: method('Count', false, true),
  Bidi: method('Bidi', true, true),
} satisfies ServiceDefinition;

export const ROUTED_PATH = '/test.Echo/Routed';

/** One gRPC message frame. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** What the grpc-js handlers saw. */
export interface EchoSeen {
  peers: string[];
  deadlines: number[];
  cancelled: number;
  /** Bidi streams opened. */
  bidis: number;
  /** Bidi streams whose client half-closed. */
  halfClosed: number;
  /** Hold calls waiting: answer one with its function. */
  held: Array<() => void>;
  routed: number;
}

/**
 * A grpc-js server with ECHO behind a GrpcFront on a loopback port 0, and a
 * StreamRoute on ROUTED_PATH that answers "routed" itself:
 * - Unary echoes the request, returns the request's `x-echo` and `x-echo-bin`
 *   metadata as response headers and `x-trailer` as a trailer;
 * - Hold answers when the test calls its `held` function;
 * - Count streams as many 1-byte messages as the request's first byte;
 * - Bidi echoes each message, and ends when the client does.
 */
export class EchoFront {
  readonly seen: EchoSeen = { peers: [], deadlines: [], cancelled: 0, bidis: 0, halfClosed: 0, held: [], routed: 0 };
  /** With the CallGuard lookaside's server has: grpc-js alone reports a client's reset as a half-close, then a cancel. */
  readonly server: Server;
  readonly front: GrpcFront;
  port = 0;
  private listener: GrpcListener | undefined;
  private readonly clients: Client[] = [];

  constructor(
    options: {
      readonly times?: Partial<ConnectionTimes>;
      readonly timers?: Timers;
      readonly maxStreamsPerConnection?: number;
      readonly route?: StreamRoute;
      /** grpc-js server options, such as a short grpc.max_connection_idle_ms. */
      readonly serverOptions?: ServerOptions;
    } = {},
  ) {
    this.server = new Server({
      ...options.serverOptions,
      interceptors: [new CallGuard({ maxOpenCalls: 1_000, limitName: 'TEST' }).interceptor],
    });
    this.server.addService(ECHO, {
      Unary: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => this.unary(call, callback),
      Hold: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
        call.on('cancelled', () => (this.seen.cancelled += 1));
        this.seen.deadlines.push(Number(call.getDeadline()));
        this.seen.held.push(() => callback(null, Buffer.from('released')));
      },
      Count: (call: ServerWritableStream<Buffer, Buffer>) => {
        for (let i = 0; i < (call.request[0] ?? 0); i += 1) call.write(Buffer.from([i]));
        call.end();
      },
      Bidi: (call: ServerDuplexStream<Buffer, Buffer>) => {
        this.seen.bidis += 1;
        call.on('data', (message: Buffer) => call.write(message));
        call.on('end', () => {
          this.seen.halfClosed += 1;
          call.end();
        });
        call.on('cancelled', () => (this.seen.cancelled += 1));
      },
    });
    const route: StreamRoute =
      options.route ??
      ((stream: ServerHttp2Stream) => {
        this.seen.routed += 1;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(Buffer.from('routed')));
        stream.resume();
      });
    this.front = new GrpcFront({
      server: this.server,
      routes: new Map([[ROUTED_PATH, route]]),
      times: { ...CONNECTION_TIMES, ...options.times },
      maxStreamsPerConnection: options.maxStreamsPerConnection ?? 100,
      logger: silentLogger(),
      ...(options.timers === undefined ? {} : { timers: options.timers }),
    });
  }

  static async start(options: ConstructorParameters<typeof EchoFront>[0] = {}): Promise<EchoFront> {
    const echo = new EchoFront(options);
    echo.listener = await listenWithLimits(echo.front, { host: '127.0.0.1', port: 0, maxConnections: 100 });
    echo.port = echo.listener.port;
    return echo;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A new grpc-js client (its own connection), closed by stop(). */
  client(): Client {
    const client = new Client(this.target, credentials.createInsecure());
    this.clients.push(client);
    return client;
  }

  /** Stops accepting new connections (those open stay with the front), as lookaside.ts's stop does first. */
  closeListener(): void {
    void this.listener?.close();
  }

  stop(): void {
    for (const client of this.clients.splice(0)) client.close();
    this.front.forceShutdown();
    void this.listener?.close();
  }

  private unary(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    this.seen.peers.push(callPeer(call));
    const headers = new Metadata();
    for (const key of ['x-echo', 'x-echo-bin']) for (const value of call.metadata.get(key)) headers.add(key, value);
    call.sendMetadata(headers);
    const trailers = new Metadata();
    trailers.set('x-trailer', 'after');
    if (call.request.toString() === 'fail') {
      trailers.set('x-detail-bin', Buffer.from([0, 1, 2, 255]));
      callback({ code: Status.FAILED_PRECONDITION, details: 'asked to fail: ünïcode', metadata: trailers });
      return;
    }
    callback(null, call.request, trailers);
  }
}
