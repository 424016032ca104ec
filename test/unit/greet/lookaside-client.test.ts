import assert from 'node:assert/strict';

import {
  Server,
  ServerCredentials,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
} from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../../src/common/grpc.js';
import { GrpcHttp2Client } from '../../../src/greet/gateway/grpc-http2-client.js';
import { frameMessage } from '../../../src/greet/gateway/grpc-wire.js';
import { LookasideClient } from '../../../src/greet/gateway/lookaside-client.js';
import { ResolveStreamClient, type StreamAnswer } from '../../../src/greet/gateway/resolve-stream-client.js';

const SERVICE = 'lookaside.v1.Lookaside';

interface Answer {
  address: string;
}

type StreamCall = ServerDuplexStream<{ service: string }, StreamAnswer<Answer>>;

/** A real grpc-js server whose ResolveStream hands each stream to the test. */
async function startServer(onStream: (call: StreamCall) => void, withStream = true): Promise<{ server: Server; port: number }> {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const definition = { ...serviceConstructor(grpcObject, SERVICE).service };
  if (!withStream) delete (definition as Record<string, unknown>)['ResolveStream'];
  const server = new Server();
  server.addService(definition, {
    Resolve: (_call: unknown, callback: sendUnaryData<Answer>) => callback(null, { address: '10.0.0.9:50051' }),
    ...(withStream ? { ResolveStream: onStream } : {}),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { server, port };
}

function streamClient(
  port: number,
  timeoutMs: number,
  check: (answer: StreamAnswer<Answer>) => void = () => undefined,
): { stream: ResolveStreamClient<Answer>; channel: GrpcHttp2Client } {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const method = serviceConstructor(grpcObject, SERVICE).service['ResolveStream'];
  if (method === undefined) throw new Error('no ResolveStream');
  const channel = new GrpcHttp2Client({ authority: `127.0.0.1:${port}`, maxMessageBytes: 1024 });
  const stream = new ResolveStreamClient<Answer>({
    open: (handlers) => channel.openStream(method.path, handlers),
    requestFrame: frameMessage(method.requestSerialize({ service: 'greetserver' })),
    deserialize: (bytes) => {
      const answer = method.responseDeserialize(bytes) as StreamAnswer<Answer>;
      check(answer);
      return answer;
    },
    timeoutMs,
  });
  return { stream, channel };
}

/** An OK answer as the client decodes it: proto-loader fills in every default. */
const ok = (address: string): StreamAnswer<Answer> => ({
  response: { address, ip: '', port: 0, pod_name: '', zone: '', node_name: '', ready_endpoints: 0 } as Answer,
  code: 0,
  message: '',
});

describe('ResolveStreamClient (Resolve over one long-lived bidi stream)', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  async function setup(onStream: (call: StreamCall) => void, timeoutMs = 1_000, check?: (answer: StreamAnswer<Answer>) => void) {
    const { server, port } = await startServer(onStream);
    const { stream, channel } = streamClient(port, timeoutMs, check);
    cleanup.push(() => server.forceShutdown(), () => channel.close(), () => stream.close());
    return { stream, server, port };
  }

  it('matches answers to requests first in, first out, on one stream', async () => {
    let streams = 0;
    const { stream } = await setup((call) => {
      streams += 1;
      let n = 0;
      call.on('data', () => {
        n += 1;
        call.write(n === 2 ? { response: null, code: Status.NOT_FOUND, message: 'no such Service' } : ok(`10.0.0.${n}:1`));
      });
    });
    const results = await Promise.all([1, 2, 3, 4].map(() => stream.resolve()));
    assert.deepEqual(results, [
      { kind: 'answer', answer: ok('10.0.0.1:1') },
      { kind: 'answer', answer: { response: null, code: Status.NOT_FOUND, message: 'no such Service' } },
      { kind: 'answer', answer: ok('10.0.0.3:1') },
      { kind: 'answer', answer: ok('10.0.0.4:1') },
    ]);
    assert.equal(streams, 1);
  });

  it('fails a request unanswered by its deadline as unreachable, and keeps later answers matched', async () => {
    const { stream } = await setup((call) => {
      let n = 0;
      call.on('data', () => {
        n += 1;
        // The first answer comes at 130 ms (after its 100 ms deadline); the second, in order right behind it.
        if (n === 1) setTimeout(() => call.write(ok('late:1')), 130);
        else setTimeout(() => call.write(ok(`on-time:${n}`)), 140 - 60);
      });
    }, 100);
    const first = stream.resolve();
    await new Promise((resolve) => setTimeout(resolve, 60));
    const second = stream.resolve();
    const firstResult = await first;
    assert.equal(firstResult.kind, 'unreachable');
    assert.equal(firstResult.kind === 'unreachable' && firstResult.code, Status.DEADLINE_EXCEEDED);
    // The late answer belongs to the first request and is dropped; the second gets its own.
    assert.deepEqual(await second, { kind: 'answer', answer: ok('on-time:2') });
  });

  it('cancels a stuck stream and opens a new one for the next request', async () => {
    let streams = 0;
    const cancelled: number[] = [];
    const { stream } = await setup((call) => {
      streams += 1;
      const id = streams;
      call.on('cancelled', () => cancelled.push(id));
      // The first stream never answers; later ones do.
      if (id > 1) call.on('data', () => call.write(ok('10.0.0.2:1')));
    }, 50);
    const stuck = await stream.resolve();
    assert.equal(stuck.kind, 'unreachable');
    await new Promise((resolve) => setTimeout(resolve, 400)); // past "stuck" and the reopen backoff
    assert.deepEqual(await stream.resolve(), { kind: 'answer', answer: ok('10.0.0.2:1') });
    assert.equal(streams, 2);
    assert.deepEqual(cancelled, [1]);
  });

  it('fails every pending request as unreachable when the stream ends, then reopens after a backoff', async () => {
    let streams = 0;
    const { stream } = await setup((call) => {
      streams += 1;
      if (streams === 1) call.on('data', () => call.emit('error', { code: Status.UNAVAILABLE, details: 'shutting down' }));
      else call.on('data', () => call.write(ok('10.0.0.3:1')));
    });
    const results = await Promise.all([stream.resolve(), stream.resolve()]);
    for (const result of results) {
      assert.equal(result.kind, 'unreachable');
      assert.match(result.kind === 'unreachable' ? result.message : '', /shutting down/);
    }
    // Right after the failure the stream is not reopened (a down lookaside is not hammered).
    const during = await stream.resolve();
    assert.equal(during.kind, 'unreachable');
    assert.match(during.kind === 'unreachable' ? during.message : '', /reopening in \d+ ms/);
    assert.equal(streams, 1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(await stream.resolve(), { kind: 'answer', answer: ok('10.0.0.3:1') });
    assert.equal(streams, 2);
  });

  it('drops the stream when an answer does not decode, then reopens after a backoff', async () => {
    let streams = 0;
    const { stream } = await setup(
      (call) => {
        streams += 1;
        const address = streams === 1 ? 'garbled' : '10.0.0.5:1';
        call.on('data', () => call.write(ok(address)));
      },
      1_000,
      (answer) => {
        if (answer.response?.address === 'garbled') throw new Error('index out of range');
      },
    );
    const failed = await stream.resolve();
    assert.equal(failed.kind, 'unreachable');
    assert.equal(failed.kind === 'unreachable' && failed.code, Status.INTERNAL);
    assert.match(failed.kind === 'unreachable' ? failed.message : '', /cannot decode a ResolveStream answer: index out of range/);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.deepEqual(await stream.resolve(), { kind: 'answer', answer: ok('10.0.0.5:1') });
    assert.equal(streams, 2);
  });

  it('says unimplemented when the lookaside has no ResolveStream', async () => {
    const { server, port } = await startServer(() => undefined, false);
    const { stream, channel } = streamClient(port, 1_000);
    cleanup.push(() => server.forceShutdown(), () => channel.close(), () => stream.close());
    assert.deepEqual(await stream.resolve(), { kind: 'unimplemented' });
  });
});

describe('LookasideClient with LB_API=v1', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  function client(port: number): LookasideClient {
    const lookaside = new LookasideClient({
      target: `127.0.0.1:${port}`,
      api: 'v1',
      service: 'greetserver',
      namespace: 'default',
      policy: 'round_robin',
      defaultPort: 50051,
      timeoutMs: 1_000,
    });
    cleanup.push(() => lookaside.close());
    return lookaside;
  }

  it('resolves over the stream, and reports an error answer as reachable', async () => {
    let n = 0;
    const { server, port } = await startServer((call) =>
      call.on('data', () => {
        n += 1;
        call.write(n === 1 ? ok('10.0.0.7:50051') : { response: null, code: Status.NOT_FOUND, message: 'gone' });
      }),
    );
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port);
    assert.deepEqual(await lookaside.resolve(), { ok: true, address: '10.0.0.7:50051', podName: '' });
    assert.deepEqual(await lookaside.resolve(), { ok: false, reachable: true, code: Status.NOT_FOUND, message: 'gone' });
  });

  it('dials the address as answered, refuses an unusable one (each time), and uses the default port for a bare IP', async () => {
    const answers = ['10.0.0.7:80', 'pod-a:80', '10.0.0.7:80', '10.0.0.1:99999', '[fd00::7]:8080', '10.0.0.8', 'pod-a:80'];
    let n = 0;
    const { server, port } = await startServer((call) => call.on('data', () => call.write(ok(answers[n++] ?? ''))));
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port);
    const results = [];
    for (let i = 0; i < answers.length; i += 1) results.push(await lookaside.resolve());
    const unusable = (address: string) => ({
      ok: false,
      reachable: true,
      code: Status.INTERNAL,
      message: `the lookaside answered with an unusable address ${JSON.stringify(address)}`,
    });
    assert.deepEqual(results, [
      { ok: true, address: '10.0.0.7:80', podName: '' },
      unusable('pod-a:80'),
      { ok: true, address: '10.0.0.7:80', podName: '' },
      unusable('10.0.0.1:99999'),
      { ok: true, address: '[fd00::7]:8080', podName: '' },
      { ok: true, address: '10.0.0.8:50051', podName: '' },
      unusable('pod-a:80'),
    ]);
  });

  it('falls back to unary Resolve when the lookaside answers UNIMPLEMENTED to ResolveStream', async () => {
    const { server, port } = await startServer(() => undefined, false);
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port);
    assert.deepEqual(await lookaside.resolve(), { ok: true, address: '10.0.0.9:50051', podName: '' });
    assert.deepEqual(await lookaside.resolve(), { ok: true, address: '10.0.0.9:50051', podName: '' });
  });

  it('reports a lookaside that is down as unreachable', async () => {
    const { server, port } = await startServer(() => undefined);
    server.forceShutdown();
    const result = await client(port).resolve();
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reachable, false);
  });
});
