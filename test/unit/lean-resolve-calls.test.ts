import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { deflateSync, gzipSync } from 'node:zlib';

import { status as Status } from '@grpc/grpc-js';

import { LookasideHarness, until, type StreamAnswer } from '../support/lookaside-server.js';
import { grpcFrame } from '../support/raw-grpc.js';

const V1_RESOLVE = '/lookaside.v1.Lookaside/Resolve';
const RESOLVE_STREAM = '/lookaside.v1.Lookaside/ResolveStream';
const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };
const STREAM = 'grpc_type="bidi_stream",grpc_service="lookaside.v1.Lookaside",grpc_method="ResolveStream"';

interface Reply {
  /** Response headers and trailers together. */
  readonly headers: IncomingHttpHeaders;
  readonly messages: Buffer[];
}

function unframe(bytes: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  for (let offset = 0; offset + 5 <= bytes.length; offset += 5 + bytes.readUInt32BE(offset + 1)) {
    messages.push(bytes.subarray(offset + 5, offset + 5 + bytes.readUInt32BE(offset + 1)));
  }
  return messages;
}

describe('lean Resolve handlers: gRPC over HTTP/2 by the spec', () => {
  let harness: LookasideHarness;
  let session: ClientHttp2Session;

  beforeEach(async () => {
    harness = await LookasideHarness.start();
    session = connect(`http://${harness.target}`);
    session.on('error', () => undefined);
  });

  afterEach(() => {
    session.destroy();
    harness.stop();
  });

  function call(path: string, headers: OutgoingHttpHeaders, body: Buffer): Promise<Reply> {
    const stream = session.request({ ...GRPC_HEADERS, ':path': path, ...headers });
    stream.on('error', () => undefined);
    stream.end(body);
    const chunks: Buffer[] = [];
    let received: IncomingHttpHeaders = {};
    stream.on('response', (response) => (received = { ...received, ...response }));
    stream.on('trailers', (trailers) => (received = { ...received, ...trailers }));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    return new Promise((resolve) => stream.on('close', () => resolve({ headers: received, messages: unframe(Buffer.concat(chunks)) })));
  }

  const request = (service: string): Buffer => harness.method('Resolve').requestSerialize({ service });
  const decodeUnary = (bytes: Buffer | undefined): { address: string } => harness.method('Resolve').responseDeserialize(bytes ?? Buffer.alloc(0)) as { address: string };
  const decodeStream = (bytes: Buffer): StreamAnswer => harness.method('ResolveStream').responseDeserialize(bytes) as StreamAnswer;

  it('answers a request that is not a POST with HTTP 405, and one that is not application/grpc with 415', async () => {
    const get = await call(V1_RESOLVE, { ':method': 'GET' }, Buffer.alloc(0));
    assert.equal(get.headers[':status'], 405);
    assert.equal(get.headers['grpc-status'], String(Status.INTERNAL));
    const json = await call(V1_RESOLVE, { 'content-type': 'application/json' }, Buffer.from('{}'));
    assert.equal(json.headers[':status'], 415);
    assert.match(decodeURIComponent(String(json.headers['grpc-message'])), /content-type application\/json is not application\/grpc/);
  });

  it('answers an unknown grpc-encoding UNIMPLEMENTED, saying which it accepts', async () => {
    const reply = await call(V1_RESOLVE, { 'grpc-encoding': 'snappy' }, grpcFrame(request('svc-1')));
    assert.equal(reply.headers['grpc-status'], String(Status.UNIMPLEMENTED));
    assert.equal(reply.headers['grpc-accept-encoding'], 'identity,deflate,gzip');
  });

  it('answers a malformed grpc-timeout OUT_OF_RANGE, as grpc-js did', async () => {
    const reply = await call(V1_RESOLVE, { 'grpc-timeout': '10x' }, grpcFrame(request('svc-1')));
    assert.equal(reply.headers['grpc-status'], String(Status.OUT_OF_RANGE));
  });

  it('takes gzip and deflate compressed requests, unary and on a stream', async () => {
    const compressed = (bytes: Buffer): Buffer => {
      const frame = grpcFrame(bytes);
      frame[0] = 1;
      return frame;
    };
    const unary = await call(V1_RESOLVE, { 'grpc-encoding': 'gzip' }, compressed(gzipSync(request('svc-4'))));
    assert.equal(unary.headers['grpc-status'], '0');
    assert.equal(decodeUnary(unary.messages[0]).address, '10.0.0.4:80');
    const stream = await call(RESOLVE_STREAM, { 'grpc-encoding': 'deflate' }, Buffer.concat([compressed(deflateSync(request('svc-5'))), grpcFrame(request('svc-6'))]));
    assert.equal(stream.headers['grpc-status'], '0');
    assert.deepEqual(stream.messages.map((bytes) => decodeStream(bytes).response?.address), ['10.0.0.5:80', '10.0.0.6:80']);
  });

  it('ends a call whose request is over 16 KiB with RESOURCE_EXHAUSTED and a message', async () => {
    for (const path of [V1_RESOLVE, RESOLVE_STREAM]) {
      const reply = await call(path, {}, grpcFrame(Buffer.alloc(16 * 1024 + 1)));
      assert.equal(reply.headers['grpc-status'], String(Status.RESOURCE_EXHAUSTED), path);
      assert.equal(decodeURIComponent(String(reply.headers['grpc-message'])), 'Received message larger than max (16385 vs. 16384)');
    }
  });

  it('percent-encodes grpc-message and sends headers, one DATA and trailers for an answer, trailers only for an error', async () => {
    const missing = await call(V1_RESOLVE, {}, grpcFrame(request('ü%')));
    assert.equal(missing.headers['grpc-status'], String(Status.NOT_FOUND));
    assert.equal(missing.headers['grpc-message'], 'no Service %C3%BC%25');
    assert.equal(missing.messages.length, 0);
    assert.ok(missing.headers['grpc-status-details-bin'] !== undefined, 'the ErrorInfo travels with a trailers-only error too');
    const found = await call(V1_RESOLVE, {}, grpcFrame(request('svc-2')));
    assert.equal(found.headers['content-type'], 'application/grpc');
    assert.equal(found.headers['grpc-status'], '0');
    assert.equal(decodeUnary(found.messages[0]).address, '10.0.0.2:80');
  });

  it('ends a ResolveStream whose deadline passes while it owes an answer with DEADLINE_EXCEEDED, counted so, and releases its slot', async () => {
    harness.resolver.hold('svc-1');
    const held = session.request({ ...GRPC_HEADERS, ':path': RESOLVE_STREAM, 'grpc-timeout': '200m' });
    held.on('error', () => undefined);
    held.write(grpcFrame(request('svc-1')));
    let received: IncomingHttpHeaders = {};
    held.on('response', (headers) => (received = { ...received, ...headers }));
    held.on('trailers', (trailers) => (received = { ...received, ...trailers }));
    held.resume();
    await new Promise((resolve) => held.on('close', resolve));
    assert.equal(received['grpc-status'], String(Status.DEADLINE_EXCEEDED));
    harness.resolver.waiting.get('svc-1')?.();
    await until(async () => (await harness.metrics()).includes(`grpc_server_handled_total{${STREAM},grpc_code="DeadlineExceeded"} 1`), 'counted');
    await until(() => harness.lookaside.openCalls() === 0 && harness.lookaside.openResolveStreams() === 0, 'slot and stream released');
  });

  it('stops reading a ResolveStream whose client does not read its answers, and reads on once it does', async () => {
    const total = 8_000;
    const stream = session.request({ ...GRPC_HEADERS, ':path': RESOLVE_STREAM });
    stream.on('error', () => undefined);
    stream.pause();
    const frame = grpcFrame(request('svc-1'));
    for (let sent = 0; sent < total; sent += 500) stream.write(Buffer.concat(Array.from({ length: 500 }, () => frame)));
    await until(() => harness.resolver.asked.length > 1_000, 'the server read requests');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const asked = harness.resolver.asked.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(harness.resolver.asked.length, asked, 'no more requests read while the answers wait');
    assert.ok(asked < total, `${asked} of ${total} read`);
    let answers = 0;
    let rest = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      rest = Buffer.concat([rest, chunk]);
      while (rest.length >= 5 && rest.length >= 5 + rest.readUInt32BE(1)) {
        rest = rest.subarray(5 + rest.readUInt32BE(1));
        answers += 1;
      }
    });
    stream.resume();
    await until(() => answers === total, 'every request answered once the client reads');
    stream.end();
  });
});
