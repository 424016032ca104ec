import assert from 'node:assert/strict';

import { Server, ServerCredentials, type sendUnaryData, type ServerDuplexStream } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../../src/common/grpc.js';
import { CallReports, MAX_PENDING_REPORTS } from '../../../src/greet/gateway/call-reports.js';
import { frameMessage, PREFIX_BYTES } from '../../../src/greet/gateway/grpc-wire.js';
import { LookasideClient, REPORT_FLUSH_DELAY_MS } from '../../../src/greet/gateway/lookaside-client.js';
import { until } from '../../support/lookaside-server.js';

const SERVICE = 'lookaside.v1.Lookaside';
const resolveMethod = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, SERVICE).service['Resolve'];
if (resolveMethod === undefined) throw new Error('no Resolve');
const serialize = resolveMethod.requestSerialize as (request: object) => Buffer;
const deserialize = resolveMethod.requestDeserialize as (bytes: Buffer) => DecodedRequest;

interface DecodedRequest {
  service: string;
  policy: string;
  reports_calls: boolean;
  report_only: boolean;
  finished_calls: { address: string; code: number; latency_micros: number; not_called: boolean }[];
}

/** The ResolveRequest a frame carries, as the lookaside's own decoder reads it. */
function decodeFrame(frame: Buffer): DecodedRequest {
  assert.equal(frame[0], 0, 'not compressed');
  assert.equal(frame.readUInt32BE(1), frame.length - PREFIX_BYTES, 'the prefix announces the whole message');
  return deserialize(frame.subarray(PREFIX_BYTES));
}

describe('the gateway’s call reports', () => {
  const question = serialize({ service: 'greetserver', namespace: 'default', policy: 'LEAST_REQUEST', reports_calls: true });

  it('appends every pending report to the question, as the lookaside decodes finished_calls', () => {
    const reports = new CallReports();
    reports.add('10.0.0.1:50051', 0, 1_234);
    reports.add('[fd00::7]:8080', 14, 0);
    reports.add('10.0.0.2:50051', 4, 2_000_000_123);
    reports.addNotCalled('10.0.0.3:50051');
    const decoded = decodeFrame(reports.frame(question));
    assert.equal(decoded.service, 'greetserver');
    assert.equal(decoded.policy, 'LEAST_REQUEST');
    assert.equal(decoded.reports_calls, true);
    assert.deepEqual(decoded.finished_calls, [
      { address: '10.0.0.1:50051', code: 0, latency_micros: 1_234, not_called: false },
      { address: '[fd00::7]:8080', code: 14, latency_micros: 0, not_called: false },
      { address: '10.0.0.2:50051', code: 4, latency_micros: 2_000_000_123, not_called: false },
      { address: '10.0.0.3:50051', code: 0, latency_micros: 0, not_called: true },
    ]);
  });

  it('takes the reports with the frame: the next frame is the bare question', () => {
    const reports = new CallReports();
    reports.add('10.0.0.1:50051', 0, 10);
    reports.frame(question);
    assert.equal(reports.size, 0);
    assert.deepEqual(reports.frame(question), frameMessage(question));
  });

  it('keeps at most MAX_PENDING_REPORTS while none can be sent, counting the ones dropped', () => {
    const reports = new CallReports();
    for (let i = 0; i < MAX_PENDING_REPORTS + 5; i += 1) reports.add(`10.0.0.${i % 200}:50051`, 0, i);
    assert.equal(reports.size, MAX_PENDING_REPORTS);
    assert.equal(reports.dropped, 5);
    assert.equal(decodeFrame(reports.frame(question)).finished_calls.length, MAX_PENDING_REPORTS);
  });

  it('clamps a latency beyond uint32 microseconds (71 minutes) instead of sending garbage', () => {
    const reports = new CallReports();
    reports.add('10.0.0.1:50051', 0, 1e12);
    assert.equal(decodeFrame(reports.frame(question)).finished_calls[0]?.latency_micros, 0xffff_ffff);
  });
});

describe('LookasideClient reporting calls (LB_API=v1)', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0).reverse()) step();
  });

  /** A lookaside stand-in that answers every ResolveStream request and keeps what it was asked. */
  async function lookaside(): Promise<{ port: number; requests: DecodedRequest[] }> {
    const requests: DecodedRequest[] = [];
    const server = new Server();
    server.addService(serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, SERVICE).service, {
      Resolve: (_call: unknown, callback: sendUnaryData<object>) => callback(null, { address: '10.0.0.1:50051' }),
      ResolveStream: (call: ServerDuplexStream<DecodedRequest, object>) =>
        call.on('data', (request: DecodedRequest) => {
          requests.push(request);
          call.write({ response: { address: '10.0.0.1:50051' }, code: 0 });
        }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    cleanup.push(() => server.forceShutdown());
    return { port, requests };
  }

  function client(port: number, reportCalls = true): LookasideClient {
    const created = new LookasideClient({
      target: `127.0.0.1:${port}`,
      api: 'v1',
      service: 'greetserver',
      namespace: 'default',
      policy: 'weighted_round_robin',
      reportCalls,
      defaultPort: 50051,
      timeoutMs: 5_000,
      keepalive: { timeMs: 10_000, timeoutMs: 5_000 },
    });
    cleanup.push(() => created.close());
    return created;
  }

  it('sends each call’s result with the next Resolve, and says it will report the call it is handed', async () => {
    const { port, requests } = await lookaside();
    const gateway = client(port);
    await gateway.resolve();
    gateway.report('10.0.0.1:50051', 0, 900);
    gateway.notCalled('10.0.0.2:50051');
    await gateway.resolve();
    assert.deepEqual(
      requests.map((request) => ({ policy: request.policy, reports: request.reports_calls, calls: request.finished_calls.map((call) => call.address) })),
      [
        { policy: 'WEIGHTED_ROUND_ROBIN', reports: true, calls: [] },
        { policy: 'WEIGHTED_ROUND_ROBIN', reports: true, calls: ['10.0.0.1:50051', '10.0.0.2:50051'] },
      ],
    );
  });

  it('sends the results on their own (report_only) when no Resolve follows soon', async () => {
    const { port, requests } = await lookaside();
    const gateway = client(port);
    await gateway.resolve();
    const reportedAtMs = performance.now();
    gateway.report('10.0.0.1:50051', 14, 300);
    await until(() => requests.length === 2, 'a report-only request');
    assert.ok(performance.now() - reportedAtMs >= REPORT_FLUSH_DELAY_MS - 1, 'not before the flush delay');
    assert.deepEqual(
      { only: requests[1]?.report_only, reports: requests[1]?.reports_calls, calls: requests[1]?.finished_calls },
      { only: true, reports: false, calls: [{ address: '10.0.0.1:50051', code: 14, latency_micros: 300, not_called: false }] },
    );
  });

  it('reports nothing with LB_REPORT_CALLS=false', async () => {
    const { port, requests } = await lookaside();
    const gateway = client(port, false);
    gateway.report('10.0.0.1:50051', 0, 900);
    await gateway.resolve();
    await new Promise((resolve) => setTimeout(resolve, REPORT_FLUSH_DELAY_MS * 3));
    assert.deepEqual(
      requests.map((request) => ({ reports: request.reports_calls, calls: request.finished_calls.length })),
      [{ reports: false, calls: 0 }],
    );
  });
});
