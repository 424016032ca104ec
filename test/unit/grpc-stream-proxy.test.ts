import assert from 'node:assert/strict';
import { connect, createServer, type ClientHttp2Session, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { proxyStream } from '../../src/common/grpc-stream-proxy.js';
import { inMemoryConnection } from '../../src/common/in-memory-duplex.js';
import { until } from '../support/lookaside-server.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../support/raw-h2-connection.js';

/** What the upstream HTTP/2 server saw of one stream. */
interface UpstreamStream {
  /** At the stream's end of input: whether it was already closed (a reset, not a half-close). */
  endedClosed: boolean | undefined;
  rstCode: number | undefined;
  headers: Record<string, unknown>;
}

function listen(server: Http2Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('proxyStream (one stream from the front to grpc-js), on the wire', () => {
  const seen: UpstreamStream[] = [];
  let upstreamServer: Http2Server;
  let frontServer: Http2Server;
  let upstream: ClientHttp2Session;
  let frontPort = 0;

  beforeEach(async () => {
    seen.length = 0;
    upstreamServer = createServer();
    upstreamServer.on('stream', (stream: ServerHttp2Stream, headers) => {
      const record: UpstreamStream = { endedClosed: undefined, rstCode: undefined, headers: { ...headers } };
      seen.push(record);
      stream.on('error', () => undefined);
      stream.on('end', () => (record.endedClosed = stream.closed));
      stream.on('close', () => (record.rstCode = stream.rstCode));
      stream.resume();
    });
    // In memory, as the front connects to grpc-js.
    const { clientEnd, serverEnd } = inMemoryConnection();
    upstreamServer.emit('connection', serverEnd);
    upstream = connect('http://upstream', { createConnection: () => clientEnd });
    frontServer = createServer();
    frontServer.on('stream', (stream: ServerHttp2Stream, headers) => {
      stream.on('error', () => undefined);
      proxyStream(stream, headers, upstream, '192.0.2.1:4242');
    });
    frontPort = await listen(frontServer);
  });

  afterEach(() => {
    upstream.destroy();
    frontServer.close();
  });

  it('resets the upstream stream with CANCEL when the client resets, without ending its request first', async () => {
    const client = await RawH2Connection.open(frontPort);
    try {
      const [id] = await client.openStreams(grpcRequestHeaderBlock('/test.Echo/Bidi'), 1);
      await until(() => seen.length === 1, 'the stream reached upstream');
      await client.reset(id ?? 1);
      await until(() => seen[0]?.rstCode !== undefined, 'upstream closed');
      assert.equal(seen[0]?.rstCode, 8, 'CANCEL');
      // node:http2 reports any reset as an end of input; a half-close would come while the stream is still open.
      assert.notEqual(seen[0]?.endedClosed, false, 'no END_STREAM before the RST_STREAM');
    } finally {
      client.close();
    }
  });

  it('passes the request headers on, with the peer header, without connection-specific ones', async () => {
    const client = await RawH2Connection.open(frontPort);
    try {
      await client.openStreams(grpcRequestHeaderBlock('/test.Echo/Unary'), 1, Buffer.alloc(0), true);
      await until(() => seen.length === 1, 'the stream reached upstream');
      const headers = seen[0]?.headers ?? {};
      assert.equal(headers[':path'], '/test.Echo/Unary');
      assert.equal(headers['content-type'], 'application/grpc');
      assert.equal(headers['te'], 'trailers');
      assert.equal(headers['x-lookaside-peer'], '192.0.2.1:4242');
    } finally {
      client.close();
    }
  });
});
