/**
 * The informational third target of `make bench-resolve` (its baseline is
 * bench/empty-route-server.ts): a plain grpc-js server with the same
 * `lookaside.v1.Lookaside/Resolve` method, loaded with the same proto-loader
 * options (so the same codec), whose handler answers `{}` at once: no
 * validation, no metrics, no logging. What it costs is the cost of an empty
 * call through grpc-js's per-call machinery on this machine, which the
 * lookaside's Resolve routes no longer go through.
 *
 * Env: LB_HOST (default 127.0.0.1), LB_PORT (default 0 = any free port).
 * Prints one JSON line `{"msg":"listening","port":…}` once bound.
 */
import { Server, type handleUnaryCall } from '@grpc/grpc-js';

import { bindServer, loadProtos, serviceConstructor } from '../src/common/grpc.js';

const SERVICE = 'lookaside.v1.Lookaside';

const host = process.env['LB_HOST'] ?? '127.0.0.1';
const port = Number(process.env['LB_PORT'] ?? '0');

const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
const server = new Server();
const resolve: handleUnaryCall<unknown, object> = (_call, callback) => {
  callback(null, {});
};
server.addService(serviceConstructor(grpcObject, SERVICE).service, { Resolve: resolve });

const boundPort = await bindServer(server, host, port);
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: boundPort, host })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.forceShutdown();
    process.exit(0);
  });
}
