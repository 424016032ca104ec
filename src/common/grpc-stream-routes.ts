import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

/**
 * Serves one gRPC method straight on its HTTP/2 stream, without grpc-js: the
 * hot Resolve methods, where grpc-js's per-call machinery costs several times
 * the work of the answer. The handler owns the stream from its headers to its
 * trailers (framing, deadline, status, metrics).
 */
export type StreamRoute = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/**
 * Stream routes by `:path` (`/package.Service/Method`). A connection's
 * streams whose path is not here go to the grpc-js server (health,
 * reflection, xDS, and any unknown method).
 */
export type StreamRoutes = ReadonlyMap<string, StreamRoute>;
