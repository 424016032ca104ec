import { once } from 'node:events';
import { createServer, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { status as Status } from '@grpc/grpc-js';

import type { StreamRoutes } from '../../src/common/grpc-stream-routes.js';

/** A bare node:http2 server serving stream routes, for testing the lean handlers without the front. */
export interface RoutesServer {
  readonly port: number;
  /** Closes the listener and every connection. */
  close(): void;
}

/**
 * Serves `routes` on a loopback port (0: any free one): each stream whose `:path` has a route
 * goes to it; any other gets UNIMPLEMENTED (the front would hand it to grpc-js).
 */
export async function serveRoutes(
  routes: StreamRoutes,
  settings: { readonly maxConcurrentStreams?: number } = {},
  port = 0,
): Promise<RoutesServer> {
  const server = createServer({ settings });
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const route = routes.get(String(headers[':path']));
    if (route !== undefined) {
      route(stream, headers);
      return;
    }
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(Status.UNIMPLEMENTED), 'grpc-message': 'not a lean route' }, { endStream: true });
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.close();
      for (const session of sessions) session.destroy();
    },
  };
}
