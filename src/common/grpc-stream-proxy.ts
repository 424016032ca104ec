import {
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';

import { status as Status, type Metadata } from '@grpc/grpc-js';

import { statusTrailers } from './grpc-h2-headers.js';

/**
 * The client's address (`ip:port`) as the front saw it. Behind the front,
 * grpc-js's `call.getPeer()` names the in-memory connection, so the front
 * sets this on every proxied request (replacing any the client sent).
 */
export const PEER_HEADER = 'x-lookaside-peer';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = constants;

/** Connection-specific headers HTTP/2 forbids a proxy to pass on (RFC 9113 §8.2.2); node:http2 refuses them anyway. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', PEER_HEADER]);

/** The client's address for a handler behind the front: the front's header, else the connection's own peer. */
export function callPeer(call: { readonly metadata: Metadata; getPeer(): string }): string {
  const forwarded = call.metadata.get(PEER_HEADER)[0];
  return typeof forwarded === 'string' ? forwarded : call.getPeer();
}

/** A trailers-only answer (or trailers) carrying a gRPC status, encoded as the lean handlers encode theirs. */
function statusHeaders(code: Status, message: string): OutgoingHttpHeaders {
  return statusTrailers(code, message, undefined, false);
}

/**
 * Ends `stream` with a gRPC status of the front's own (nothing came from
 * grpc-js, or grpc-js went away before its status): trailers-only when no
 * headers went out yet, else trailers (the stream must have been answered
 * with `waitForTrailers`, whose handler sends `trailers()`).
 */
function endWithStatus(stream: ServerHttp2Stream, status: OutgoingHttpHeaders): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) stream.respond({ ':status': 200, 'content-type': 'application/grpc', ...status }, { endStream: true });
  else if (!stream.writableEnded) stream.end();
  stream.resume(); // what the client still sends is dropped…
  if (!stream.readableEnded) stream.close(NGHTTP2_NO_ERROR); // …and it is told to stop, after the status
}

/** Answers a stream the front cannot pass on with `code` and `message`, trailers-only. */
export function refuseStream(stream: ServerHttp2Stream, code: Status, message: string): void {
  endWithStatus(stream, statusHeaders(code, message));
}

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const copy: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) copy[name] = value;
  }
  return copy;
}

/**
 * Passes one client stream (`front`) to grpc-js over `upstream`, an HTTP/2
 * session on an in-memory connection to the grpc-js server: request headers
 * (metadata, `grpc-timeout`), DATA both ways with backpressure (pipe: a
 * stream that does not read stops its peer by flow control), response
 * headers, trailers or a trailers-only answer, and resets both ways (a client
 * cancel cancels the grpc-js call; a REFUSED_STREAM from grpc-js reaches the
 * client as one, so it may retry). When the call ends without a status from
 * grpc-js the client gets UNAVAILABLE or INTERNAL with a message.
 */
export function proxyStream(front: ServerHttp2Stream, headers: IncomingHttpHeaders, upstreamSession: ClientHttp2Session, peer: string): void {
  let upstream: ClientHttp2Stream;
  try {
    upstream = upstreamSession.request({ ...forwardable(headers), [PEER_HEADER]: peer });
  } catch (error) {
    refuseStream(front, Status.UNAVAILABLE, `cannot reach the server's services: ${(error as Error).message}`);
    return;
  }
  /** grpc-js sent its status: trailers, or a trailers-only answer. */
  let statusSeen = false;
  let trailers: OutgoingHttpHeaders | undefined;
  let trailersSent = false;
  upstream.on('error', () => undefined); // 'close' below decides what the client sees
  front.pipe(upstream, { end: false });
  // node:http2 reports a client's RST_STREAM as an end of input on a stream already closed: not a half-close to pass on.
  front.once('end', () => {
    if (!front.closed) upstream.end();
  });

  upstream.once('response', (responseHeaders, flags) => {
    if (front.destroyed || front.closed) return;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      statusSeen = true;
      upstream.resume();
      orReset(front, () => front.respond(forwardable(responseHeaders), { endStream: true }));
      return;
    }
    front.once('wantTrailers', () =>
      orReset(front, () => {
        front.sendTrailers(trailers ?? statusHeaders(Status.INTERNAL, 'the call ended without a status'));
        trailersSent = true;
        if (upstream.closed) endAsUpstreamDid();
      }),
    );
    if (!orReset(front, () => front.respond(forwardable(responseHeaders), { waitForTrailers: true }))) return;
    coalesceTicks(upstream, front);
    upstream.pipe(front);
  });
  upstream.once('trailers', (received) => {
    statusSeen = true;
    trailers = forwardable(received);
  });

  /** grpc-js answered while the client may still be sending: the client is told to stop (RST_STREAM NO_ERROR), as grpc-js told us. */
  const endAsUpstreamDid = (): void => {
    if (!front.closed && !front.readableEnded) front.close(NGHTTP2_NO_ERROR);
  };

  upstream.once('close', () => {
    if (front.destroyed || front.closed) return;
    if (statusSeen) {
      if (trailersSent || !front.headersSent || trailers === undefined) endAsUpstreamDid();
      return;
    }
    const code = upstream.rstCode ?? NGHTTP2_NO_ERROR;
    if (code === NGHTTP2_REFUSED_STREAM && !front.headersSent) {
      front.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    trailers = upstreamSession.destroyed || upstreamSession.closed
      ? statusHeaders(Status.UNAVAILABLE, "the connection to the server's services closed during the call")
      : statusHeaders(Status.INTERNAL, `the call ended without a status (HTTP/2 error ${code})`);
    endWithStatus(front, trailers);
  });

  front.once('close', () => {
    if (!statusSeen && !upstream.closed && !upstream.destroyed) cancel(upstream);
  });
}

/**
 * Runs `send` (headers or trailers out to the client); when node:http2
 * refuses them (a header it will not send, the stream gone meanwhile), the
 * client's stream is reset with INTERNAL_ERROR instead of the process
 * throwing. Returns whether `send` went through.
 */
function orReset(front: ServerHttp2Stream, send: () => void): boolean {
  try {
    send();
    return true;
  } catch {
    if (!front.destroyed) front.close(NGHTTP2_INTERNAL_ERROR);
    return false;
  }
}

/**
 * Resets `upstream` with CANCEL, and only that: node:http2's close() on a
 * stream whose request is still open first ends the request (END_STREAM)
 * and sends the RST_STREAM in a later write, so grpc-js would see a clean
 * half-close, then the cancel, and a stream the client cancelled would end
 * OK. Marking the writable side as ending (node:stream's own state; without
 * it, the old behaviour) makes close() skip that end.
 */
function cancel(upstream: ClientHttp2Stream): void {
  const writable = (upstream as unknown as { _writableState?: { ending: boolean } })._writableState;
  if (writable !== undefined) writable.ending = true;
  upstream.close(NGHTTP2_CANCEL);
}

/**
 * Corks `to` from the first chunk `from` gives in a tick until the tick
 * ends: messages grpc-js wrote together (in-memory, one DATA frame each)
 * leave the front in one DATA frame and one write, as they would have left
 * grpc-js on a socket. Must be set before `from.pipe(to)`.
 */
function coalesceTicks(from: ClientHttp2Stream, to: ServerHttp2Stream): void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    to.uncork();
  };
  from.on('data', () => {
    if (corked) return;
    corked = true;
    to.cork();
    process.nextTick(uncork);
  });
}
