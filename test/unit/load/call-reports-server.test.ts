import assert from 'node:assert/strict';

import { Client, credentials, type ClientDuplexStream, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../../src/common/grpc-metrics.js';
import { loadProtos, serviceConstructor } from '../../../src/common/grpc.js';
import { silentLogger } from '../../../src/common/logging.js';
import { DEFAULT_LOAD_CONFIG } from '../../../src/lookaside/load/config.js';
import { debugEndpointsRoute } from '../../../src/lookaside/load/debug-endpoints.js';
import { LoadMetrics } from '../../../src/lookaside/load/load-metrics.js';
import { ServiceLoads } from '../../../src/lookaside/load/service-loads.js';
import { LookasideMetrics } from '../../../src/lookaside/metrics.js';
import { createLookasideServer, type LookasideServer } from '../../../src/lookaside/server.js';
import { slice, sliceEndpoint, seededRandom } from '../../support/endpoints.js';
import { FakeSource } from '../../support/fake-source.js';
import { until } from '../../support/lookaside-server.js';
import { serveRoutes, type RoutesServer } from '../../support/stream-routes-server.js';
import { resolverStack } from '../../support/resolver-stack.js';

interface CallResult {
  address: string;
  code?: number;
  latency_micros?: number;
  not_called?: boolean;
}

interface Request {
  service: string;
  policy?: string;
  finished_calls?: CallResult[];
  reports_calls?: boolean;
  report_only?: boolean;
}

interface StreamAnswer {
  response: { address: string; pod_name: string } | null;
  code: number;
  message: string;
}

const LEASE_MS = 40_000;
const ok = (address: string, latencyMicros = 1_500): CallResult => ({ address, code: 0, latency_micros: latencyMicros });

/**
 * The lookaside's real Resolver, watched Services and per-endpoint state
 * behind its real gRPC edge, on loopback, over a fake discovery source with
 * Service `greet` (the endpoints `n` listed) and a manual clock.
 */
class Stack {
  readonly clock: { nowMs: number };
  readonly registry = new Registry();
  readonly loads: ServiceLoads;
  readonly server: LookasideServer;
  client!: Client;
  private readonly methods = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service;

  constructor(endpoints: number[]) {
    const source = new FakeSource();
    source.answer = (id) => (id === 'default/greet' ? [slice(endpoints.map((n) => sliceEndpoint(n)))] : []);
    const clock = { nowMs: 1_000_000 };
    this.clock = clock;
    this.loads = new ServiceLoads({
      config: { ...DEFAULT_LOAD_CONFIG, callLeaseMs: LEASE_MS },
      logger: silentLogger(),
      metrics: new LoadMetrics(this.registry),
      weightsIdleMs: 600_000,
      now: () => clock.nowMs,
    });
    const { resolver } = resolverStack(source, { loads: this.loads, now: () => clock.nowMs, random: seededRandom(9) });
    this.server = createLookasideServer({
      resolver,
      metrics: new LookasideMetrics(this.registry),
      grpcMetrics: new GrpcServerMetrics(this.registry),
      logger: silentLogger(),
      calls: this.loads,
    });
  }

  private routes: RoutesServer | undefined;

  async start(): Promise<this> {
    this.routes = await serveRoutes(this.server.routes);
    this.client = new Client(`127.0.0.1:${this.routes.port}`, credentials.createInsecure());
    return this;
  }

  stop(): void {
    this.client.close();
    this.routes?.close();
    this.server.server.forceShutdown();
    this.loads.closeAll();
  }

  method(name: 'Resolve' | 'ResolveStream'): MethodDefinition<Request, StreamAnswer> {
    return this.methods[name] as unknown as MethodDefinition<Request, StreamAnswer>;
  }

  unary(request: Omit<Request, 'service'>): Promise<{ address: string; pod_name: string }> {
    const method = this.method('Resolve');
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service: 'greet', ...request }, (error: ServiceError | null, answer?: unknown) =>
        error === null ? resolve(answer as { address: string; pod_name: string }) : reject(error),
      ),
    );
  }

  stream(): Stream {
    return new Stream(this.client, this.method('ResolveStream'));
  }

  /** Outstanding calls per pod, as /debug/endpoints shows them. */
  outstanding(): Record<string, number> {
    const answer = debugEndpointsRoute(this.loads, 'default')(new URLSearchParams('service=greet'));
    const endpoints = (answer.body as { endpoints: { pod_name: string; outstanding: number }[] }).endpoints;
    return Object.fromEntries(endpoints.map((endpoint) => [endpoint.pod_name, endpoint.outstanding]));
  }
}

/** One ResolveStream: `ask` sends a request and waits for its answer. */
class Stream {
  readonly call: ClientDuplexStream<Request, StreamAnswer>;
  private readonly waiting: ((answer: StreamAnswer) => void)[] = [];
  readonly status: Promise<number>;

  constructor(client: Client, method: MethodDefinition<Request, StreamAnswer>) {
    this.call = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    this.call.on('data', (answer: StreamAnswer) => this.waiting.shift()?.(answer));
    this.call.on('error', () => undefined);
    this.status = new Promise((resolve) => this.call.on('status', (status: { code: number }) => resolve(status.code)));
  }

  ask(request: Omit<Request, 'service'>): Promise<StreamAnswer> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.call.write({ service: 'greet', ...request });
    });
  }

  /** A Resolve that must succeed; returns the address. */
  async resolve(request: Omit<Request, 'service'> = {}): Promise<string> {
    const answer = await this.ask({ reports_calls: true, ...request });
    assert.equal(answer.code, 0, answer.message);
    return answer.response?.address ?? '';
  }
}

describe('calls reported by clients, at the gRPC edge', () => {
  let stack: Stack;
  afterEach(() => stack.stop());

  it('counts a call handed out on a ResolveStream as outstanding until that stream reports it', async () => {
    stack = await new Stack([1, 2, 3]).start();
    const stream = stack.stream();
    const first = await stream.resolve();
    assert.deepEqual(stack.outstanding(), { 'pod-1': 1, 'pod-2': 0, 'pod-3': 0 });
    assert.equal(first, '10.0.0.1:50051');
    await stream.resolve({ finished_calls: [ok(first)] });
    assert.deepEqual(stack.outstanding(), { 'pod-1': 0, 'pod-2': 1, 'pod-3': 0 }, 'reported, and the next one handed out');
    stream.call.end();
    assert.equal(await stream.status, 0);
  });

  it('releases the calls a stream was handed and never reported when the stream ends, however it ends', async () => {
    stack = await new Stack([1, 2]).start();
    const ended = stack.stream();
    const cancelled = stack.stream();
    for (let i = 0; i < 3; i += 1) await ended.resolve();
    for (let i = 0; i < 3; i += 1) await cancelled.resolve();
    assert.deepEqual(stack.outstanding(), { 'pod-1': 3, 'pod-2': 3 });
    ended.call.end();
    await ended.status;
    await until(() => stack.outstanding()['pod-1'] === 1 || stack.outstanding()['pod-2'] === 1, 'the ended stream released');
    assert.equal(Object.values(stack.outstanding()).reduce((sum, count) => sum + count, 0), 3);
    cancelled.call.cancel();
    await until(() => Object.values(stack.outstanding()).every((count) => count === 0), 'the cancelled stream released');
  });

  it('lets a report settle only the calls of the stream it comes on', async () => {
    stack = await new Stack([1]).start();
    const holder = stack.stream();
    const other = stack.stream();
    await holder.resolve();
    // The other stream reports a call it was never handed (as a buggy client might): nothing is released.
    await other.ask({ finished_calls: [ok('10.0.0.1:50051')], report_only: true });
    assert.deepEqual(stack.outstanding(), { 'pod-1': 1 });
    holder.call.end();
    other.call.end();
  });

  it('adds nothing outstanding for a client that does not set reports_calls (every old client)', async () => {
    stack = await new Stack([1, 2]).start();
    const stream = stack.stream();
    for (let i = 0; i < 4; i += 1) await stream.resolve({ reports_calls: false });
    await stack.unary({});
    assert.deepEqual(stack.outstanding(), { 'pod-1': 0, 'pod-2': 0 });
    stream.call.end();
  });

  it('releases unary calls when reported on any unary Resolve, and otherwise after CALL_LEASE_SECONDS', async () => {
    stack = await new Stack([1]).start();
    await stack.unary({ reports_calls: true });
    await stack.unary({ reports_calls: true });
    assert.deepEqual(stack.outstanding(), { 'pod-1': 2 });
    await stack.unary({ finished_calls: [ok('10.0.0.1:50051')], report_only: true });
    assert.deepEqual(stack.outstanding(), { 'pod-1': 1 });
    stack.clock.nowMs += LEASE_MS * 1.25;
    stack.loads.sweep();
    assert.deepEqual(stack.outstanding(), { 'pod-1': 0 });
  });

  it('answers a report-only request OK with nothing picked: the rotation does not move', async () => {
    stack = await new Stack([1, 2, 3]).start();
    const stream = stack.stream();
    assert.equal(await stream.resolve(), '10.0.0.1:50051');
    const answer = await stream.ask({ finished_calls: [ok('10.0.0.1:50051')], report_only: true, reports_calls: true });
    assert.deepEqual({ code: answer.code, address: answer.response?.address }, { code: 0, address: '' });
    assert.equal(await stream.resolve(), '10.0.0.2:50051');
    assert.deepEqual(stack.outstanding(), { 'pod-1': 0, 'pod-2': 1, 'pod-3': 0 });
    stream.call.end();
  });

  it('releases an answer no call was made with, without counting it as a result', async () => {
    stack = await new Stack([1, 2]).start();
    const stream = stack.stream();
    const address = await stream.resolve();
    await stream.ask({ finished_calls: [{ address, not_called: true }], report_only: true });
    assert.deepEqual(stack.outstanding(), { 'pod-1': 0, 'pod-2': 0 });
    const view = debugEndpointsRoute(stack.loads, 'default')(new URLSearchParams('service=greet')).body as { endpoints: { calls: number; latency_ms: number | null }[] };
    assert.deepEqual(
      view.endpoints.map((endpoint) => [endpoint.calls, endpoint.latency_ms]),
      [
        [0, null],
        [0, null],
      ],
      'no call, no latency',
    );
    assert.doesNotMatch(await stack.registry.metrics(), /lookaside_call_results_total\{/);
    stream.call.end();
  });

  it('hands a LEAST_REQUEST call to the endpoint with fewer calls open, counting every client’s', async () => {
    stack = await new Stack([1, 2]).start();
    const a = stack.stream();
    const b = stack.stream();
    const first = await a.resolve({ policy: 'LEAST_REQUEST' });
    const second = await b.resolve({ policy: 'LEAST_REQUEST' });
    assert.notEqual(second, first, 'b is sent to the endpoint a is not using');
    await a.ask({ finished_calls: [ok(first)], report_only: true });
    assert.equal(await b.resolve({ policy: 'LEAST_REQUEST' }), first, 'a finished: its endpoint has fewer open now');
    a.call.end();
    b.call.end();
  });

  it('ejects an endpoint on reported failures and counts every result by code', async () => {
    stack = await new Stack([1, 2, 3]).start();
    const stream = stack.stream();
    // Reports for a Service not watched yet are dropped (a report-only request starts no lookup): resolve it first.
    await stream.ask({ finished_calls: [{ address: '10.0.0.3:50051', code: 14 }], report_only: true });
    await stream.resolve({ reports_calls: false });
    const failures = Array.from({ length: 5 }, () => ({ address: '10.0.0.3:50051', code: 14, latency_micros: 50 }));
    await stream.ask({ finished_calls: [...failures, ok('10.0.0.1:50051'), { address: '10.0.0.9:1', code: 99 }], report_only: true });
    const rotation = [await stream.resolve(), await stream.resolve(), await stream.resolve(), await stream.resolve()];
    assert.ok(!rotation.includes('10.0.0.3:50051'), rotation.join(', '));
    const page = await stack.registry.metrics();
    assert.match(page, /^lookaside_call_results_total\{code="Unavailable"\} 6$/m, 'the dropped report counted too');
    assert.match(page, /^lookaside_call_results_total\{code="OK"\} 1$/m);
    assert.match(page, /^lookaside_call_results_total\{code="Unknown"\} 1$/m, 'a code no gRPC has is counted as Unknown');
    assert.match(page, /^lookaside_outlier_ejections_total\{namespace="default",service="greet"\} 1$/m);
    assert.match(page, /^lookaside_ejected_endpoints\{namespace="default",service="greet"\} 1$/m);
    stream.call.end();
  });
});

describe('GET /debug/endpoints', () => {
  let stack: Stack;
  afterEach(() => stack.stop());

  it('shows each endpoint: outstanding, recent failures, ejection, weight', async () => {
    stack = await new Stack([1, 2]).start();
    const stream = stack.stream();
    await stream.resolve();
    const failures = Array.from({ length: 5 }, () => ({ address: '10.0.0.2:50051', code: 4, latency_micros: 2_000_000 }));
    await stream.ask({ finished_calls: failures, report_only: true });
    const ejectedUntil = new Date(stack.clock.nowMs + 30_000).toISOString();
    stack.clock.nowMs += 250;
    const route = debugEndpointsRoute(stack.loads, 'default');
    const answer = route(new URLSearchParams('service=greet&namespace=default'));
    assert.equal(answer.status, 200);
    const body = answer.body as { ejected_endpoints: number; endpoints: Record<string, unknown>[] };
    assert.equal(body.ejected_endpoints, 1);
    assert.deepEqual(
      body.endpoints.map(({ pod_name, outstanding, stalled_ms, calls, failures: failed, recent_failures, ejected, ejected_until, ejections, weight, latency_ms }) => ({
        pod_name,
        outstanding,
        stalled_ms,
        calls,
        failed,
        recent_failures,
        ejected,
        ejected_until,
        ejections,
        weight,
        latency_ms,
      })),
      [
        { pod_name: 'pod-1', outstanding: 1, stalled_ms: 250, calls: 0, failed: 0, recent_failures: 0, ejected: false, ejected_until: null, ejections: 0, weight: null, latency_ms: null },
        {
          pod_name: 'pod-2',
          outstanding: 0,
          stalled_ms: 0,
          calls: 5,
          failed: 5,
          recent_failures: 0,
          ejected: true,
          ejected_until: ejectedUntil,
          ejections: 1,
          weight: null,
          latency_ms: 2000,
        },
      ],
    );
    stream.call.end();
  });

  it('answers 400 for a missing or bad name and 404 for a Service not watched', async () => {
    stack = await new Stack([1]).start();
    const route = debugEndpointsRoute(stack.loads, 'default');
    assert.equal(route(new URLSearchParams('')).status, 400);
    assert.match(JSON.stringify(route(new URLSearchParams('service=Bad_Name')).body), /not a valid name/);
    const missing = route(new URLSearchParams('service=greet'));
    assert.equal(missing.status, 404, 'not resolved yet, so not watched');
    assert.deepEqual(Object.keys((missing.body as { error: object }).error), ['code', 'message']);
  });
});
