/**
 * The baseline of `make bench-resolve`: the transport the lookaside serves
 * unary Resolve on (a GrpcFront behind listenWithLimits, its default limits),
 * whose StreamRoute for `lookaside.v1.Lookaside/Resolve` reads each request
 * to its end and answers, as the lookaside's lean handler does (headers, one
 * DATA frame, trailers grpc-status 0), always the same pre-encoded
 * ResolveResponse: no header checks, no call slot, no decode, no resolver, no
 * metrics. What it costs is what the lean transport alone costs per call on
 * this machine; what Resolve costs beyond it is the lookaside's own work.
 *
 * Env: EMPTY_RESPONSE_BASE64 (required: the ResolveResponse message to send,
 * unframed; the bench passes the bytes the lookaside answered), LB_HOST
 * (default 127.0.0.1), LB_PORT (default 0 = any free port).
 * Prints one JSON line `{"msg":"listening","port":…}` once bound.
 */
import type { ServerHttp2Stream } from 'node:http2';

import { Server } from '@grpc/grpc-js';

import { GrpcFront } from '../src/common/grpc-front.js';
import { CONNECTION_TIMES } from '../src/common/grpc-front-connection.js';
import { OK_TRAILERS, RESPONSE_HEADERS } from '../src/common/grpc-h2-headers.js';
import { listenWithLimits } from '../src/common/grpc-listener.js';
import { silentLogger } from '../src/common/logging.js';
import { DEFAULT_SERVER_LIMITS } from '../src/lookaside/config.js';
import { grpcFrame } from './bench-targets.js';

const PATH = '/lookaside.v1.Lookaside/Resolve';
/** The options H2Call answers with (src/common/grpc-h2-call.ts). */
const WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });

const host = process.env['LB_HOST'] ?? '127.0.0.1';
const port = Number(process.env['LB_PORT'] ?? '0');
const responseBase64 = process.env['EMPTY_RESPONSE_BASE64'];
if (responseBase64 === undefined || responseBase64 === '') throw new Error('EMPTY_RESPONSE_BASE64 is required: the ResolveResponse to answer, base64');
const answerFrame = grpcFrame(Buffer.from(responseBase64, 'base64'));

// Shared listeners, no closure per call, as H2Call's.
function ignoreData(): void {}
function answer(this: ServerHttp2Stream): void {
  // A reset stream reports an end of input before it closes: nothing to answer.
  if (this.closed) return;
  this.respond(RESPONSE_HEADERS, WITH_TRAILERS);
  this.end(answerFrame);
}
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}
function emptyResolve(stream: ServerHttp2Stream): void {
  stream.on('data', ignoreData);
  stream.on('end', answer);
  stream.on('wantTrailers', sendOkTrailers);
}

const front = new GrpcFront({
  // Serves only the streams on other paths (none in the bench): UNIMPLEMENTED.
  server: new Server(),
  routes: new Map([[PATH, emptyResolve]]),
  times: CONNECTION_TIMES,
  maxStreamsPerConnection: DEFAULT_SERVER_LIMITS.maxStreamsPerConnection,
  logger: silentLogger(),
});
const listener = await listenWithLimits(front, {
  host,
  port,
  maxConnections: DEFAULT_SERVER_LIMITS.maxConnections,
  maxConnectionsPerClient: DEFAULT_SERVER_LIMITS.maxConnectionsPerClient,
});
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: listener.port, host })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    front.forceShutdown();
    process.exit(0);
  });
}
