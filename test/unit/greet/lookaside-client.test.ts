import assert from 'node:assert/strict';

import {
  Metadata,
  Server,
  ServerCredentials,
  status as Status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../../src/common/grpc.js';
import { RESOLVE_ERROR_DOMAIN } from '../../../src/common/resolve-reasons.js';
import { encodeStatusDetails, STATUS_DETAILS_TRAILER } from '../../../src/common/status-details.js';
import { GrpcHttp2Client } from '../../../src/greet/gateway/grpc-http2-client.js';
import { frameMessage } from '../../../src/greet/gateway/grpc-wire.js';
import { classifyLookasideError } from '../../../src/greet/gateway/lookaside-answers.js';
import { LookasideClient } from '../../../src/greet/gateway/lookaside-client.js';
import { ResolveStreamClient, type StreamAnswer } from '../../../src/greet/gateway/resolve-stream-client.js';
import { eventually } from '../../support/process.js';

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

function streamClient(port: number, timeoutMs: number): { stream: ResolveStreamClient<Answer>; channel: GrpcHttp2Client } {
  const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
  const method = serviceConstructor(grpcObject, SERVICE).service['ResolveStream'];
  if (method === undefined) throw new Error('no ResolveStream');
  const channel = new GrpcHttp2Client({ authority: `127.0.0.1:${port}`, maxMessageBytes: 1024 });
  const stream = new ResolveStreamClient<Answer>({
    open: (handlers) => channel.openStream(method.path, handlers),
    requestFrame: frameMessage(method.requestSerialize({ service: 'greetserver' })),
    deserialize: (bytes) => method.responseDeserialize(bytes) as StreamAnswer<Answer>,
    timeoutMs,
  });
  return { stream, channel };
}

/** An OK answer as the client decodes it: proto-loader fills in every default. */
const ok = (address: string): StreamAnswer<Answer> => ({
  response: { address, ip: '', port: 0, pod_name: '', zone: '', node_name: '', ready_endpoints: 0 } as Answer,
  code: 0,
  message: '',
  reason: '',
});

describe('ResolveStreamClient on a real grpc-js server', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  it('matches answers to requests first in, first out, on one stream', async () => {
    let streams = 0;
    const { server, port } = await startServer((call) => {
      streams += 1;
      let n = 0;
      call.on('data', () => {
        n += 1;
        call.write(n === 2 ? { response: null, code: Status.NOT_FOUND, message: 'no such Service', reason: 'SERVICE_NOT_FOUND' } : ok(`10.0.0.${n}:1`));
      });
    });
    const { stream, channel } = streamClient(port, 5_000);
    cleanup.push(() => server.forceShutdown(), () => channel.close(), () => stream.close());
    const results = await Promise.all([1, 2, 3, 4].map(() => stream.resolve()));
    assert.deepEqual(results, [
      { kind: 'answer', answer: ok('10.0.0.1:1') },
      { kind: 'answer', answer: { response: null, code: Status.NOT_FOUND, message: 'no such Service', reason: 'SERVICE_NOT_FOUND' } },
      { kind: 'answer', answer: ok('10.0.0.3:1') },
      { kind: 'answer', answer: ok('10.0.0.4:1') },
    ]);
    assert.equal(streams, 1);
  });

  it('says unimplemented when the lookaside has no ResolveStream', async () => {
    const { server, port } = await startServer(() => undefined, false);
    const { stream, channel } = streamClient(port, 5_000);
    cleanup.push(() => server.forceShutdown(), () => channel.close(), () => stream.close());
    assert.deepEqual(await stream.resolve(), { kind: 'unimplemented' });
  });
});

describe('LookasideClient with LB_API=v1', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  function client(port: number, timeoutMs = 5_000): LookasideClient {
    const lookaside = new LookasideClient({
      target: `127.0.0.1:${port}`,
      api: 'v1',
      service: 'greetserver',
      namespace: 'default',
      policy: 'round_robin',
      defaultPort: 50051,
      timeoutMs,
      keepalive: { timeMs: 10_000, timeoutMs: 5_000 },
    });
    cleanup.push(() => lookaside.close());
    return lookaside;
  }

  it('resolves over the stream, and sorts error answers by their reason into no-endpoints and lookaside faults', async () => {
    // The messages are alike on purpose: only the reason tells them apart.
    const answers: StreamAnswer<Answer>[] = [
      ok('10.0.0.7:50051'),
      { response: null, code: Status.NOT_FOUND, message: 'gone', reason: 'SERVICE_NOT_FOUND' },
      { response: null, code: Status.UNAVAILABLE, message: 'no endpoint', reason: 'NO_READY_ENDPOINTS' },
      { response: null, code: Status.UNAVAILABLE, message: 'no endpoint', reason: 'DISCOVERY_UNAVAILABLE' },
      { response: null, code: Status.RESOURCE_EXHAUSTED, message: 'already watching the maximum of 1000 services (MAX_SERVICES)', reason: 'TOO_MANY_SERVICES' },
      { response: null, code: Status.PERMISSION_DENIED, message: 'no', reason: 'NAMESPACE_NOT_ALLOWED' },
    ];
    let n = 0;
    const { server, port } = await startServer((call) => call.on('data', () => call.write(answers[n++] as StreamAnswer<Answer>)));
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port);
    const results = [];
    for (let i = 0; i < answers.length; i += 1) results.push(await lookaside.resolve());
    assert.deepEqual(results[0], { ok: true, address: '10.0.0.7:50051', podName: '' });
    assert.deepEqual(
      results.slice(1).map((result) => (result.ok ? 'ok' : `${result.failure} ${Status[result.code]}`)),
      ['no-endpoints NOT_FOUND', 'no-endpoints UNAVAILABLE', 'lookaside-fault UNAVAILABLE', 'lookaside-fault RESOURCE_EXHAUSTED', 'lookaside-fault PERMISSION_DENIED'],
    );
    assert.deepEqual(results[4], {
      ok: false,
      failure: 'lookaside-fault',
      code: Status.RESOURCE_EXHAUSTED,
      message: 'already watching the maximum of 1000 services (MAX_SERVICES)',
    });
  });

  it('tells the lookaside no call was made with an answer that came after its deadline, so it does not stay outstanding', async () => {
    interface Received {
      report_only: boolean;
      finished_calls: { address: string; not_called: boolean }[];
    }
    const received: Received[] = [];
    let held: StreamCall | undefined;
    const { server, port } = await startServer((call) =>
      call.on('data', (request: Received) => {
        received.push(request);
        if (received.length === 1) held = call; // answered only once the client gave up on it
        else call.write(request.report_only ? { response: null, code: 0, message: '', reason: '' } : ok('10.0.0.8:50051'));
      }),
    );
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port, 200);
    const first = await lookaside.resolve();
    assert.equal(first.ok, false, 'the first Resolve missed its deadline');
    held?.write(ok('10.0.0.7:50051'));
    await eventually(() => received.find((request) => request.finished_calls.length > 0), 10_000, 'a report of the late answer');
    const reported = received.flatMap((request) => request.finished_calls);
    assert.deepEqual(
      reported.map((call) => [call.address, call.not_called]),
      [['10.0.0.7:50051', true]],
    );
  });

  it('sorts a unary Resolve error the same way, by the ErrorInfo in its status details (a lookaside without ResolveStream)', async () => {
    const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
    const definition = { ...serviceConstructor(grpcObject, SERVICE).service };
    delete (definition as Record<string, unknown>)['ResolveStream'];
    // Both UNAVAILABLE with the same message: only the ErrorInfo tells them apart.
    const reasons = ['DISCOVERY_UNAVAILABLE', 'NO_READY_ENDPOINTS'];
    let n = 0;
    const server = new Server();
    server.addService(definition, {
      Resolve: (_call: unknown, callback: sendUnaryData<Answer>) => {
        const reason = reasons[n++] ?? '';
        const metadata = new Metadata();
        metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(Status.UNAVAILABLE, 'no endpoint', { reason, domain: RESOLVE_ERROR_DOMAIN }));
        callback({ code: Status.UNAVAILABLE, details: 'no endpoint', metadata } as ServiceError);
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    cleanup.push(() => server.forceShutdown());
    const lookaside = client(port);
    const results = [await lookaside.resolve(), await lookaside.resolve()];
    assert.deepEqual(results.map((result) => (result.ok ? 'ok' : result.failure)), ['lookaside-fault', 'no-endpoints']);
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
      failure: 'lookaside-fault',
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
    assert.equal(result.ok ? 'ok' : result.failure, 'unreachable');
  });
});

describe('classifyLookasideError: which lookaside answers are about the Service, which are its own faults', () => {
  const cases: [Status, string, 'no-endpoints' | 'lookaside-fault'][] = [
    [Status.NOT_FOUND, 'SERVICE_NOT_FOUND', 'no-endpoints'],
    [Status.UNAVAILABLE, 'NO_READY_ENDPOINTS', 'no-endpoints'],
    [Status.UNAVAILABLE, 'ROUTE_BACKEND_UNAVAILABLE', 'no-endpoints'],
    [Status.UNAVAILABLE, 'DISCOVERY_UNAVAILABLE', 'lookaside-fault'],
    [Status.UNAVAILABLE, 'LOOKUPS_BUSY', 'lookaside-fault'],
    [Status.RESOURCE_EXHAUSTED, 'TOO_MANY_SERVICES', 'lookaside-fault'],
    [Status.PERMISSION_DENIED, 'NAMESPACE_NOT_ALLOWED', 'lookaside-fault'],
    [Status.PERMISSION_DENIED, 'DISCOVERY_FORBIDDEN', 'lookaside-fault'],
    [Status.INVALID_ARGUMENT, 'INVALID_REQUEST', 'lookaside-fault'],
    [Status.INTERNAL, 'INTERNAL', 'lookaside-fault'],
    [Status.UNAVAILABLE, 'A_REASON_ADDED_LATER', 'lookaside-fault'],
    // From a lookaside too old to send a reason: the code alone.
    [Status.NOT_FOUND, '', 'no-endpoints'],
    [Status.UNAVAILABLE, '', 'no-endpoints'],
    [Status.RESOURCE_EXHAUSTED, '', 'lookaside-fault'],
    [Status.UNKNOWN, '', 'lookaside-fault'],
    [Status.UNIMPLEMENTED, '', 'lookaside-fault'],
  ];
  for (const [code, reason, expected] of cases) {
    it(`${Status[code]} with reason "${reason}" is ${expected}`, () => {
      assert.equal(classifyLookasideError(code, reason), expected);
    });
  }
});
