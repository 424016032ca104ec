import assert from 'node:assert/strict';

import { Client, credentials, status as Status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import { Registry } from 'prom-client';

import { GrpcServerMetrics } from '../../src/common/grpc-metrics.js';
import { bindServer, loadProtos, serviceConstructor, shutdownServer } from '../../src/common/grpc.js';
import { silentLogger } from '../../src/common/logging.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import type { ResolveOutcome, ResolveQuery, Resolver } from '../../src/lookaside/resolver.js';
import { createLookasideServer, type LookasideServer } from '../../src/lookaside/server.js';

interface Answer {
  response: { address: string } | null;
  code: number;
  message: string;
}

/**
 * A resolver that answers `svc-N` with `10.0.0.N:80` at once, except for the
 * Services in `waiting`, whose first Resolve waits until the test releases it.
 */
class FakeResolver {
  readonly waiting = new Map<string, () => void>();
  readonly asked: string[] = [];
  private readonly held = new Set<string>();

  hold(service: string): void {
    this.held.add(service);
  }

  resolve(query: ResolveQuery): ResolveOutcome | Promise<ResolveOutcome> {
    this.asked.push(query.service);
    const base = { namespace: 'default', service: query.service, policy: 'round_robin' as const, watched: true };
    const number = /^svc-(\d+)$/.exec(query.service)?.[1];
    const outcome: ResolveOutcome =
      number === undefined
        ? { ...base, ok: false, reason: 'not-found', message: `no Service ${query.service}` }
        : {
            ...base,
            ok: true,
            endpoint: { address: `10.0.0.${number}:80`, ip: `10.0.0.${number}`, port: 80, podName: '', zone: '', nodeName: '' },
            readyEndpoints: 1,
          } as ResolveOutcome;
    if (!this.held.has(query.service)) return outcome;
    this.held.delete(query.service);
    return new Promise((resolve) => this.waiting.set(query.service, () => resolve(outcome)));
  }
}

describe('lookaside server: ResolveStream', () => {
  let lookaside: LookasideServer;
  let resolver: FakeResolver;
  let registry: Registry;
  let channel: Client;
  let port: number;

  async function start(maxUnansweredPerStream?: number): Promise<void> {
    resolver = new FakeResolver();
    registry = new Registry();
    lookaside = createLookasideServer({
      resolver: resolver as unknown as Resolver,
      metrics: new LookasideMetrics(registry),
      grpcMetrics: new GrpcServerMetrics(registry),
      logger: silentLogger(),
      ...(maxUnansweredPerStream === undefined ? {} : { maxUnansweredPerStream }),
    });
    port = await bindServer(lookaside.server, '127.0.0.1', 0);
    channel = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  }

  afterEach(() => {
    channel.close();
    lookaside.server.forceShutdown();
  });

  /** Opens a stream whose requests are raw bytes (so a test can send garbage) or request objects. */
  function open(): { call: ClientDuplexStream<Buffer, Answer>; answers: Answer[]; status: Promise<StatusObject>; send: (service: string) => void } {
    const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['ResolveStream'];
    if (method === undefined) throw new Error('no ResolveStream');
    const call = channel.makeBidiStreamRequest(method.path, (bytes: Buffer) => bytes, method.responseDeserialize as (bytes: Buffer) => Answer);
    const answers: Answer[] = [];
    call.on('data', (answer: Answer) => answers.push(answer));
    call.on('error', () => undefined);
    const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
    return { call, answers, status, send: (service) => call.write(method.requestSerialize({ service })) };
  }

  const until = async (condition: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(condition(), 'condition never met');
  };

  const addresses = (answers: readonly Answer[]): (string | number)[] =>
    answers.map((answer) => (answer.code === 0 ? (answer.response?.address ?? 'none') : answer.code));

  it('answers every request once, in order, with an error answer in the middle, and the stream goes on', async () => {
    await start();
    const stream = open();
    stream.send('svc-1');
    stream.send('missing');
    stream.send('Bad_Name');
    stream.call.write(Buffer.from([0xff, 0xff, 0xff])); // not a protobuf message
    stream.send('svc-2');
    stream.call.end();
    const status = await stream.status;
    assert.equal(status.code, Status.OK);
    assert.deepEqual(addresses(stream.answers), ['10.0.0.1:80', Status.NOT_FOUND, Status.NOT_FOUND, Status.INVALID_ARGUMENT, '10.0.0.2:80']);
    assert.equal(stream.answers[1]?.message, 'no Service missing');
    assert.match(stream.answers[3]?.message ?? '', /cannot decode the request/);
  });

  it('holds later answers while an earlier Resolve waits for its first list', async () => {
    await start();
    resolver.hold('svc-1');
    const stream = open();
    stream.send('svc-1');
    stream.send('svc-2');
    stream.send('svc-3');
    await until(() => resolver.asked.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(stream.answers, [], 'svc-2 and svc-3 are ready but must not overtake svc-1');
    resolver.waiting.get('svc-1')?.();
    await until(() => stream.answers.length === 3);
    assert.deepEqual(addresses(stream.answers), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
  });

  it('stops reading a stream that owes too many answers, and reads on once they are sent', async () => {
    await start(2);
    resolver.hold('svc-1');
    resolver.hold('svc-2');
    const stream = open();
    for (let i = 1; i <= 10; i += 1) stream.send(`svc-${i}`);
    await until(() => resolver.asked.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(resolver.asked.length, 2, 'requests beyond the limit wait unread');
    resolver.waiting.get('svc-1')?.();
    resolver.waiting.get('svc-2')?.();
    await until(() => stream.answers.length === 10);
    assert.deepEqual(addresses(stream.answers), Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 1}:80`));
  });

  it('counts each message in lookaside_resolve_total and the stream in grpc_server_* with grpc_type="bidi_stream"', async () => {
    await start();
    const stream = open();
    stream.send('svc-1');
    stream.send('svc-1');
    stream.send('missing');
    stream.call.end();
    await stream.status;
    await until(() => true);
    const page = await registry.metrics();
    const labels = 'grpc_type="bidi_stream",grpc_service="lookaside.v1.Lookaside",grpc_method="ResolveStream"';
    assert.ok(page.includes(`grpc_server_started_total{${labels}} 1`), page);
    assert.ok(page.includes(`grpc_server_handled_total{${labels},grpc_code="OK"} 1`), page);
    assert.ok(page.includes(`grpc_server_msg_received_total{${labels}} 3`), page);
    assert.ok(page.includes(`grpc_server_msg_sent_total{${labels}} 3`), page);
    assert.ok(page.includes(`grpc_server_handling_seconds_count{${labels}} 1`), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="svc-1",policy="round_robin",code="OK"} 2'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="missing",policy="round_robin",code="NotFound"} 1'), page);
  });

  it('on shutdown answers what the stream owes, then ends it with UNAVAILABLE, without waiting for the grace period', async () => {
    await start();
    resolver.hold('svc-1');
    const stream = open();
    stream.send('svc-1');
    stream.send('svc-2');
    await until(() => resolver.asked.length === 2);
    // A grace period no test waits out: 'drained' shows the streams were ended, not outlasted.
    const stopping = shutdownServer(lookaside.server, 600_000, lookaside.endStreams);
    setTimeout(() => resolver.waiting.get('svc-1')?.(), 50);
    const status = await stream.status;
    assert.equal(status.code, Status.UNAVAILABLE);
    assert.equal(status.details, 'shutting down');
    assert.deepEqual(addresses(stream.answers), ['10.0.0.1:80', '10.0.0.2:80']);
    assert.equal(await stopping, 'drained');
  });
});
