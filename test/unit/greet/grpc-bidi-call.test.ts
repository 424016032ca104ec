import assert from 'node:assert/strict';
import { constants as http2, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { status as Status } from '@grpc/grpc-js';

import { GrpcHttp2Client } from '../../../src/greet/gateway/grpc-http2-client.js';
import type { BidiStream } from '../../../src/greet/gateway/grpc-bidi-call.js';
import { frameMessage, MessageReader, type CallStatus } from '../../../src/greet/gateway/grpc-wire.js';
import { eventually } from '../../support/process.js';

const PATH = '/test.Echo/Chat';
const GRPC_HEADERS = { [http2.HTTP2_HEADER_STATUS]: 200, [http2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };

/** A plain node:http2 server, so each test can misbehave exactly as it needs. */
async function startServer(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<{ server: Http2Server; port: number }> {
  const server = createServer();
  server.on('stream', (stream, headers) => {
    // A stream the client resets, or this server resets, reports an error here; the test looks at the client.
    stream.on('error', () => undefined);
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Ends the server's side with a gRPC status in the trailers. */
function endWithStatus(stream: ServerHttp2Stream, code: Status, message = ''): void {
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) }));
  stream.end();
}

/** What a client-side call saw. */
interface Seen {
  readonly messages: string[];
  ended: CallStatus | undefined;
}

describe('GrpcHttp2Client bidi streams', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  async function open(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void, maxMessageBytes = 1024) {
    const { server, port } = await startServer(onStream);
    const client = new GrpcHttp2Client({ authority: `127.0.0.1:${port}`, maxMessageBytes });
    cleanup.push(() => server.close(), () => client.close());
    const seen: Seen = { messages: [], ended: undefined };
    const call = client.openStream(PATH, {
      message: (bytes) => seen.messages.push(bytes.toString()),
      end: (status) => {
        assert.equal(seen.ended, undefined, 'end is reported once');
        seen.ended = status;
      },
    });
    return { call, seen, client };
  }

  const ended = (seen: Seen): Promise<CallStatus> => eventually(() => seen.ended, 5_000, 'the end of the call');

  it('sends the messages written in one tick together, in one DATA frame, with gRPC headers', async () => {
    const chunks: Buffer[] = [];
    let requestHeaders: IncomingHttpHeaders = {};
    const { call, seen } = await open((stream, headers) => {
      requestHeaders = headers;
      stream.respond(GRPC_HEADERS);
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // Echo each message back in its own DATA frame.
        const reader = new MessageReader(1024);
        reader.push(chunk, (message) => stream.write(frameMessage(message)));
      });
    });
    for (let i = 0; i < 20; i += 1) call.write(frameMessage(Buffer.from(`m${i}`)));
    await eventually(() => seen.messages.length === 20 || undefined, 5_000, '20 echoed messages');
    assert.deepEqual(seen.messages, Array.from({ length: 20 }, (_, i) => `m${i}`));
    assert.equal(chunks.length, 1, `20 writes in one tick arrived as ${chunks.length} DATA frames`);
    assert.equal(requestHeaders[http2.HTTP2_HEADER_PATH], PATH);
    assert.equal(requestHeaders[http2.HTTP2_HEADER_CONTENT_TYPE], 'application/grpc');
    assert.equal(requestHeaders[http2.HTTP2_HEADER_TE], 'trailers');
    assert.equal(seen.ended, undefined);
  });

  it('ends with the status the server sent in its trailers, though the client side is still open', async () => {
    const { call, seen } = await open((stream) => {
      stream.respond(GRPC_HEADERS, { waitForTrailers: true });
      stream.on('data', () => {
        stream.write(frameMessage(Buffer.from('last')));
        endWithStatus(stream, Status.UNAVAILABLE, 'shutting down (é)');
      });
    });
    call.write(frameMessage(Buffer.from('hi')));
    assert.deepEqual(await ended(seen), { code: Status.UNAVAILABLE, details: 'shutting down (é)', fromServer: true });
    assert.deepEqual(seen.messages, ['last']);
  });

  it('reads a trailers-only answer (UNIMPLEMENTED) as the server\'s status', async () => {
    const { seen } = await open((stream) => {
      stream.respond({ ...GRPC_HEADERS, 'grpc-status': String(Status.UNIMPLEMENTED), 'grpc-message': 'unknown method' }, { endStream: true });
    });
    assert.deepEqual(await ended(seen), { code: Status.UNIMPLEMENTED, details: 'unknown method', fromServer: true });
  });

  it('fails as UNAVAILABLE, not from the server, when the answer is not gRPC (HTTP 404)', async () => {
    const { seen } = await open((stream) => {
      stream.respond({ [http2.HTTP2_HEADER_STATUS]: 404 }, { endStream: true });
    });
    const status = await ended(seen);
    assert.equal(status.code, Status.UNAVAILABLE);
    assert.match(status.details, /HTTP status 404/);
    assert.equal(status.fromServer, false);
  });

  it('fails as UNAVAILABLE when the server ends without a status, or resets the stream', async () => {
    const noStatus = await open((stream) => {
      stream.respond(GRPC_HEADERS);
      stream.end();
    });
    assert.deepEqual(await ended(noStatus.seen), {
      code: Status.UNAVAILABLE,
      details: 'the stream closed before the server sent a status',
      fromServer: false,
    });
    const reset = await open((stream) => {
      stream.respond(GRPC_HEADERS);
      stream.close(http2.NGHTTP2_INTERNAL_ERROR);
    });
    const status = await ended(reset.seen);
    assert.equal(status.code, Status.UNAVAILABLE);
    assert.equal(status.fromServer, false);
  });

  it('cancels the stream on a message over maxMessageBytes, a compressed message, or a status OK inside a message', async () => {
    const resets: number[] = [];
    const tooLarge = await open((stream) => {
      stream.on('close', () => resets.push(stream.rstCode));
      stream.respond(GRPC_HEADERS);
      stream.write(frameMessage(Buffer.alloc(100)));
    }, 50);
    assert.deepEqual(await ended(tooLarge.seen), {
      code: Status.INTERNAL,
      details: 'the server sent a message of 100 bytes (limit 50)',
      fromServer: false,
    });
    await eventually(() => (resets.includes(http2.NGHTTP2_CANCEL) ? true : undefined), 5_000, 'the server to see the reset');

    const compressed = await open((stream) => {
      stream.respond(GRPC_HEADERS);
      const frame = frameMessage(Buffer.from('zipped'));
      frame[0] = 1;
      stream.write(frame);
    });
    assert.match((await ended(compressed.seen)).details, /compressed/);

    const cut = await open((stream) => {
      stream.respond(GRPC_HEADERS, { waitForTrailers: true });
      stream.write(frameMessage(Buffer.from('whole')));
      stream.write(frameMessage(Buffer.from('cut short')).subarray(0, 8));
      endWithStatus(stream, Status.OK);
    });
    assert.deepEqual(await ended(cut.seen), { code: Status.INTERNAL, details: 'the server ended the stream inside a message', fromServer: true });
    assert.deepEqual(cut.seen.messages, ['whole']);
  });

  it('reports CANCELLED once after cancel(), resets the stream, and ignores later writes', async () => {
    let serverSaw: number | undefined;
    const { call, seen } = await open((stream) => {
      stream.respond(GRPC_HEADERS);
      stream.on('close', () => (serverSaw = stream.rstCode));
    });
    call.write(frameMessage(Buffer.from('one')));
    await new Promise((resolve) => setTimeout(resolve, 20));
    call.cancel();
    assert.equal(seen.ended, undefined, 'not reported from inside cancel()');
    call.write(frameMessage(Buffer.from('after')));
    call.cancel();
    assert.deepEqual(await ended(seen), { code: Status.CANCELLED, details: 'cancelled by the client', fromServer: false });
    await eventually(() => serverSaw, 5_000, 'the server to see the reset');
    assert.equal(serverSaw, http2.NGHTTP2_CANCEL);
  });

  it('fails a stream opened on a closed client as UNAVAILABLE, after openStream returned', async () => {
    const client = new GrpcHttp2Client({ authority: '127.0.0.1:1', maxMessageBytes: 1024 });
    client.close();
    let status: CallStatus | undefined;
    const call: BidiStream = client.openStream(PATH, { message: () => undefined, end: (ended) => (status = ended) });
    assert.equal(status, undefined);
    call.write(frameMessage(Buffer.from('ignored')));
    await eventually(() => status, 5_000, 'the end of the call');
    assert.deepEqual(status, { code: Status.UNAVAILABLE, details: 'the client is closed', fromServer: false });
  });

  it('fails as UNAVAILABLE when nothing listens', async () => {
    const client = new GrpcHttp2Client({ authority: '127.0.0.1:1', maxMessageBytes: 1024 });
    cleanup.push(() => client.close());
    let status: CallStatus | undefined;
    client.openStream(PATH, { message: () => undefined, end: (ended) => (status = ended) });
    const failed = await eventually(() => status, 5_000, 'the end of the call');
    assert.equal(failed.code, Status.UNAVAILABLE);
    assert.equal(failed.fromServer, false);
  });
});

describe('MessageReader (gRPC length-prefixed messages)', () => {
  const three = Buffer.concat(['a', 'bcd', ''].map((text) => frameMessage(Buffer.from(text))));

  it('finds every message however the bytes are cut into chunks', () => {
    for (let first = 0; first <= three.length; first += 1) {
      for (let second = first; second <= three.length; second += 1) {
        const reader = new MessageReader(1024);
        const messages: string[] = [];
        for (const chunk of [three.subarray(0, first), three.subarray(first, second), three.subarray(second)]) {
          assert.equal(reader.push(chunk, (message) => messages.push(message.toString())), undefined);
        }
        assert.deepEqual(messages, ['a', 'bcd', ''], `cut at ${first} and ${second}`);
        assert.equal(reader.partialBytes, 0);
      }
    }
  });

  it('keeps a partial message until the rest arrives', () => {
    const reader = new MessageReader(1024);
    const messages: string[] = [];
    reader.push(three.subarray(0, 8), (message) => messages.push(message.toString()));
    assert.deepEqual(messages, ['a']);
    assert.equal(reader.partialBytes, 2);
  });

  it('refuses a message over the limit, and a compressed one, before reading them', () => {
    assert.equal(new MessageReader(2).push(frameMessage(Buffer.from('abc')), () => assert.fail('no message')), 'the server sent a message of 3 bytes (limit 2)');
    const compressed = frameMessage(Buffer.from('abc'));
    compressed[0] = 1;
    assert.match(new MessageReader(1024).push(compressed.subarray(0, 5), () => assert.fail('no message')) ?? '', /compressed/);
  });
});
