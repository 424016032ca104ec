import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { Metadata, status as Status, type Client, type ServiceError, type StatusObject } from '@grpc/grpc-js';

import { ECHO, EchoFront, ROUTED_PATH } from '../support/echo-front.js';
import { until } from '../support/lookaside-server.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../support/raw-h2-connection.js';

interface UnaryResult {
  error: ServiceError | null;
  response: Buffer | undefined;
  headers: Metadata | undefined;
  status: StatusObject | undefined;
}

function unary(client: Client, path: string, request: Buffer, metadata = new Metadata(), deadlineMs?: number): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const result: UnaryResult = { error: null, response: undefined, headers: undefined, status: undefined };
    const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    const call = client.makeUnaryRequest(path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, request, metadata, options, (error, response) => {
      result.error = error;
      result.response = response;
    });
    call.on('metadata', (headers) => (result.headers = headers));
    call.on('status', (status) => {
      result.status = status;
      // The callback runs before 'status'; both are in by now.
      setImmediate(() => resolve(result));
    });
  });
}

describe('GrpcFront: routes by :path, everything else to grpc-js through the proxy', () => {
  let echo: EchoFront;

  afterEach(() => echo.stop());

  it('hands a route the streams of its path and grpc-js every other stream, on one connection', async () => {
    echo = await EchoFront.start();
    const client = echo.client();
    const routed = await unary(client, ROUTED_PATH, Buffer.from('x'));
    assert.equal(routed.response?.toString(), 'routed');
    const proxied = await unary(client, ECHO.Unary.path, Buffer.from('hello'));
    assert.equal(proxied.response?.toString(), 'hello');
    assert.equal(echo.seen.routed, 1);
    assert.equal(echo.seen.peers.length, 1, 'grpc-js saw only the unrouted call');
  });

  it('passes metadata, binary metadata, response headers and trailers both ways', async () => {
    echo = await EchoFront.start();
    const metadata = new Metadata();
    metadata.add('x-echo', 'one');
    metadata.add('x-echo', 'two');
    metadata.add('x-echo-bin', Buffer.from([0, 200, 10, 13]));
    const result = await unary(echo.client(), ECHO.Unary.path, Buffer.from('hi'), metadata);
    assert.equal(result.error, null);
    // As with grpc-js alone: node:http2 joins a repeated header into one value.
    assert.deepEqual(result.headers?.get('x-echo'), ['one, two']);
    assert.deepEqual(result.headers?.get('x-echo-bin'), [Buffer.from([0, 200, 10, 13])]);
    assert.deepEqual(result.status?.metadata.get('x-trailer'), ['after']);
  });

  it('passes an error status with its message and binary trailers', async () => {
    echo = await EchoFront.start();
    const result = await unary(echo.client(), ECHO.Unary.path, Buffer.from('fail'));
    assert.equal(result.error?.code, Status.FAILED_PRECONDITION);
    assert.equal(result.error?.details, 'asked to fail: ünïcode');
    assert.deepEqual(result.status?.metadata.get('x-detail-bin'), [Buffer.from([0, 1, 2, 255])]);
  });

  it("tells grpc-js the client's address (x-lookaside-peer), not the in-memory connection's, and drops one the client sent", async () => {
    echo = await EchoFront.start();
    const metadata = new Metadata();
    metadata.set('x-lookaside-peer', '6.6.6.6:666');
    assert.equal((await unary(echo.client(), ECHO.Unary.path, Buffer.from('a'), metadata)).error, null);
    assert.match(echo.seen.peers[0] ?? '', /^127\.0\.0\.1:\d+$/);
  });

  it('answers an unknown method with UNIMPLEMENTED (grpc-js trailers-only), and the connection serves on', async () => {
    echo = await EchoFront.start();
    const client = echo.client();
    const result = await unary(client, '/test.Echo/Nothing', Buffer.from('a'));
    assert.equal(result.error?.code, Status.UNIMPLEMENTED, result.error?.details);
    assert.match(result.error?.details ?? '', /Nothing/);
    assert.equal((await unary(client, ECHO.Unary.path, Buffer.from('b'))).response?.toString(), 'b');
  });

  it('streams a server-streaming answer through', async () => {
    echo = await EchoFront.start();
    const call = echo.client().makeServerStreamRequest(ECHO.Count.path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.from([50]));
    const received: number[] = [];
    call.on('data', (message: Buffer) => received.push(message[0] ?? -1));
    const status = await new Promise<StatusObject>((resolve) => call.on('status', resolve));
    assert.equal(status.code, Status.OK);
    assert.deepEqual(received, Array.from({ length: 50 }, (_, i) => i));
  });

  it('carries a bidi stream of more than the flow-control windows each way without loss', async () => {
    echo = await EchoFront.start();
    const call = echo.client().makeBidiStreamRequest(ECHO.Bidi.path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes);
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let receivedBytes = 0;
    call.on('data', (message: Buffer) => {
      received.update(message);
      receivedBytes += message.length;
    });
    const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    const messages = 64;
    const messageBytes = 64 * 1024; // 4 MiB each way: 64 times HTTP/2's default window
    for (let i = 0; i < messages; i += 1) {
      const message = Buffer.alloc(messageBytes, i);
      sent.update(message);
      if (!call.write(message)) await new Promise((resolve) => call.once('drain', resolve));
    }
    call.end();
    assert.equal((await status).code, Status.OK);
    assert.equal(receivedBytes, messages * messageBytes);
    assert.equal(received.digest('hex'), sent.digest('hex'));
  });

  it('cancels the grpc-js call when the client cancels', async () => {
    echo = await EchoFront.start();
    const call = echo.client().makeUnaryRequest(ECHO.Hold.path, (bytes: Buffer) => bytes, (bytes: Buffer) => bytes, Buffer.from('a'), () => undefined);
    await until(() => echo.seen.held.length === 1, 'the call reached grpc-js');
    call.cancel();
    await until(() => echo.seen.cancelled === 1, 'grpc-js saw the cancel');
  });

  it('passes a client RST_STREAM on as a cancel, never as a half-close first', async () => {
    echo = await EchoFront.start();
    const raw = await RawH2Connection.open(echo.port);
    try {
      const [id] = await raw.openStreams(grpcRequestHeaderBlock(ECHO.Bidi.path), 1);
      await until(() => echo.seen.bidis === 1, 'the stream reached grpc-js');
      await raw.reset(id ?? 1);
      await until(() => echo.seen.cancelled === 1, 'grpc-js saw the cancel');
      assert.equal(echo.seen.halfClosed, 0);
    } finally {
      raw.close();
    }
  });

  it('passes the deadline (grpc-timeout): grpc-js ends the call DEADLINE_EXCEEDED', async () => {
    echo = await EchoFront.start();
    const result = await unary(echo.client(), ECHO.Hold.path, Buffer.from('a'), new Metadata(), 300);
    assert.equal(result.error?.code, Status.DEADLINE_EXCEEDED);
    const deadline = echo.seen.deadlines[0] ?? Number.POSITIVE_INFINITY;
    assert.ok(Number.isFinite(deadline), 'grpc-js knew the deadline');
    await until(() => echo.seen.cancelled === 1, 'grpc-js cancelled the call at its deadline');
  });

  it('opens a new in-memory connection to grpc-js when grpc-js has closed the last one (its idle GOAWAY)', async () => {
    echo = await EchoFront.start({ serverOptions: { 'grpc.max_connection_idle_ms': 50 } });
    const client = echo.client();
    assert.equal((await unary(client, ECHO.Unary.path, Buffer.from('a'))).response?.toString(), 'a');
    await new Promise((resolve) => setTimeout(resolve, 500)); // grpc-js closes its side after 50 ms without a call
    const again = await unary(client, ECHO.Unary.path, Buffer.from('b'));
    assert.equal(again.error, null);
    assert.equal(again.response?.toString(), 'b');
  });

  it('answers INTERNAL with a message when a route throws, and keeps serving', async () => {
    echo = await EchoFront.start({
      route: () => {
        throw new Error('boom');
      },
    });
    const client = echo.client();
    const result = await unary(client, ROUTED_PATH, Buffer.from('a'));
    assert.equal(result.error?.code, Status.INTERNAL);
    assert.equal(result.error?.details, 'internal error');
    assert.equal((await unary(client, ECHO.Unary.path, Buffer.from('b'))).response?.toString(), 'b');
  });
});
