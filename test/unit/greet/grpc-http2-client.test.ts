import assert from 'node:assert/strict';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';

import { Server, ServerCredentials, status as Status, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../../src/common/grpc.js';
import { GrpcHttp2Client } from '../../../src/greet/gateway/grpc-http2-client.js';
import { frameMessage, type CallStatus } from '../../../src/greet/gateway/grpc-wire.js';
import { eventually } from '../../support/process.js';
import { TcpProxy } from '../../support/tcp-proxy.js';

const SERVICE = 'lookaside.v1.Lookaside';
const PATH = `/${SERVICE}/Resolve`;

interface Answer {
  address: string;
}

/** A real grpc-js server whose Resolve does whatever the test sets in `behaviour`. */
async function startServer(port = 0): Promise<{ server: Server; port: number; behaviour: { answer: (callback: sendUnaryData<Answer>) => void } }> {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const server = new Server();
  const behaviour = { answer: (callback: sendUnaryData<Answer>) => callback(null, { address: '10.0.0.1:50051' }) };
  server.addService(serviceConstructor(grpcObject, SERVICE).service, {
    Resolve: (_call: unknown, callback: sendUnaryData<Answer>) => behaviour.answer(callback),
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  return { server, port: bound, behaviour };
}

function requestFrame(): Buffer {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const method = serviceConstructor(grpcObject, SERVICE).service['Resolve'];
  return frameMessage(method?.requestSerialize({ service: 'greetserver' }) ?? Buffer.alloc(0));
}

function decode(message: Buffer): Answer {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  return serviceConstructor(grpcObject, SERVICE).service['Resolve']?.responseDeserialize(message) as Answer;
}

describe('GrpcHttp2Client unary calls (Resolve over plain node:http2)', () => {
  let server: Server | undefined;
  let client: GrpcHttp2Client | undefined;

  afterEach(() => {
    client?.close();
    server?.forceShutdown();
    client = undefined;
    server = undefined;
  });

  it('returns the answer of a successful call, reusing one connection', async () => {
    const started = await startServer();
    server = started.server;
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    for (let i = 0; i < 3; i += 1) {
      const result = await client.call(PATH, requestFrame(), 1_000);
      assert.ok(result.ok, JSON.stringify(result));
      assert.equal(decode(result.message).address, '10.0.0.1:50051');
    }
    assert.equal(client.connected, true);
  });

  it('reports a status the server sent, with its message, as coming from the server', async () => {
    const started = await startServer();
    server = started.server;
    started.behaviour.answer = (callback) =>
      callback({ code: Status.UNAVAILABLE, details: 'Service default/greetserver has no ready endpoint (é)' } as ServiceError);
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    const result = await client.call(PATH, requestFrame(), 1_000);
    assert.deepEqual(result, {
      ok: false,
      code: Status.UNAVAILABLE,
      details: 'Service default/greetserver has no ready endpoint (é)',
      fromServer: true,
    });
  });

  it('reports UNIMPLEMENTED from the server for a method it does not have', async () => {
    const started = await startServer();
    server = started.server;
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    const result = await client.call('/lookaside.v1.Lookaside/Nope', requestFrame(), 1_000);
    assert.equal(result.ok, false);
    assert.equal(result.ok ? 0 : result.code, Status.UNIMPLEMENTED);
    assert.equal(result.ok ? undefined : result.fromServer, true);
  });

  it('fails with DEADLINE_EXCEEDED, not from the server, when no answer comes in time', async () => {
    const started = await startServer();
    server = started.server;
    started.behaviour.answer = () => undefined;
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    const result = await client.call(PATH, requestFrame(), 100);
    assert.deepEqual(result, { ok: false, code: Status.DEADLINE_EXCEEDED, details: 'no answer within 100 ms', fromServer: false });
  });

  it('fails with UNAVAILABLE, not from the server, when nothing listens', async () => {
    const started = await startServer();
    started.server.forceShutdown();
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    const result = await client.call(PATH, requestFrame(), 1_000);
    assert.equal(result.ok ? 0 : result.code, Status.UNAVAILABLE);
    assert.equal(result.ok ? undefined : result.fromServer, false);
  });

  it('refuses an answer larger than maxMessageBytes', async () => {
    const started = await startServer();
    server = started.server;
    started.behaviour.answer = (callback) => callback(null, { address: 'x'.repeat(5_000) });
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${started.port}`, maxMessageBytes: 1024 });
    const result = await client.call(PATH, requestFrame(), 1_000);
    assert.equal(result.ok ? 0 : result.code, Status.RESOURCE_EXHAUSTED);
  });

  it('connects again after the server went away and came back on the same port', async () => {
    const first = await startServer();
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${first.port}`, maxMessageBytes: 1024 });
    assert.ok((await client.call(PATH, requestFrame(), 1_000)).ok);
    first.server.forceShutdown();
    const whileDown = await client.call(PATH, requestFrame(), 1_000);
    assert.equal(whileDown.ok, false);
    const second = await startServer(first.port);
    server = second.server;
    const deadline = Date.now() + 5_000;
    let result = await client.call(PATH, requestFrame(), 1_000);
    while (!result.ok && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      result = await client.call(PATH, requestFrame(), 1_000);
    }
    assert.ok(result.ok, JSON.stringify(result));
  });

  it('fails with UNAVAILABLE, not from the server, when the answer is not gRPC (HTTP 404)', async () => {
    const plain = createServer((_request, response) => {
      response.writeHead(404);
      response.end();
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    client = new GrpcHttp2Client({ authority: `127.0.0.1:${(plain.address() as AddressInfo).port}`, maxMessageBytes: 1024 });
    try {
      const result = await client.call(PATH, requestFrame(), 1_000);
      assert.deepEqual(result, { ok: false, code: Status.UNAVAILABLE, details: 'HTTP status 404 instead of a gRPC answer', fromServer: false });
    } finally {
      client.close();
      plain.close();
    }
  });

  it('answers UNAVAILABLE after close() without touching the network', async () => {
    client = new GrpcHttp2Client({ authority: '127.0.0.1:1', maxMessageBytes: 1024 });
    client.close();
    const result = await client.call(PATH, requestFrame(), 1_000);
    assert.deepEqual(result, { ok: false, code: Status.UNAVAILABLE, details: 'the client is closed', fromServer: false });
  });
});

describe('GrpcHttp2Client on a connection that goes dead (frozen TCP proxy: socket open, nothing forwarded)', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function frozenSetup(keepaliveTimeMs: number): Promise<{ client: GrpcHttp2Client; proxy: TcpProxy; dropped: string[] }> {
    const { server, port } = await startServer();
    const proxy = await TcpProxy.start(port);
    const dropped: string[] = [];
    const client = new GrpcHttp2Client({
      authority: proxy.address,
      maxMessageBytes: 1024,
      keepaliveTimeMs,
      keepaliveTimeoutMs: 200,
      onConnectionDropped: (reason) => dropped.push(reason),
    });
    cleanup.push(() => server.forceShutdown(), () => proxy.close(), () => client.close());
    assert.ok((await client.call(PATH, requestFrame(), 5_000)).ok);
    proxy.freeze();
    return { client, proxy, dropped };
  }

  it('drops a connection whose PINGs go unanswered; the next call opens a new one', async () => {
    const { client, proxy, dropped } = await frozenSetup(100);
    await eventually(() => (proxy.connections[0]?.closedBy === 'client' ? true : undefined), 10_000, 'the client to close the frozen connection');
    assert.deepEqual(dropped, ['no answer to a PING within 200 ms']);
    const result = await client.call(PATH, requestFrame(), 5_000);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(proxy.connections.length, 2);
  });

  it('checks the connection at once when a unary call misses its deadline, even with periodic PINGs off', async () => {
    const { client, proxy, dropped } = await frozenSetup(0);
    const missed = await client.call(PATH, requestFrame(), 100);
    assert.equal(missed.ok ? 0 : missed.code, Status.DEADLINE_EXCEEDED);
    await eventually(() => (proxy.connections[0]?.closedBy === 'client' ? true : undefined), 10_000, 'the client to close the frozen connection');
    assert.deepEqual(dropped, ['no answer to a PING within 200 ms']);
    assert.ok((await client.call(PATH, requestFrame(), 5_000)).ok);
    assert.equal(proxy.connections.length, 2);
  });

  it('drops the connection under a stream cancelled with it, and opens the next stream on a new one', async () => {
    const { client, proxy, dropped } = await frozenSetup(0);
    const ends: CallStatus[] = [];
    const stream = client.openStream('/lookaside.v1.Lookaside/ResolveStream', { message: () => undefined, end: (status) => ends.push(status) });
    stream.cancelWithConnection('ResolveStream gave no answer for 500 ms');
    await eventually(() => (proxy.connections[0]?.closedBy === 'client' ? true : undefined), 10_000, 'the client to close the frozen connection');
    assert.deepEqual(dropped, ['ResolveStream gave no answer for 500 ms']);
    await eventually(() => ends[0], 5_000, 'the stream to end');
    assert.equal(ends[0]?.code, Status.CANCELLED);
    assert.ok((await client.call(PATH, requestFrame(), 5_000)).ok);
    assert.equal(proxy.connections.length, 2);
  });
});
