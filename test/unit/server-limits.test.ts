import assert from 'node:assert/strict';

import { status as Status, type ServiceError } from '@grpc/grpc-js';

import { LookasideHarness, until } from '../support/lookaside-server.js';
import { grpcFrame, RawGrpcClient } from '../support/raw-grpc.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../support/raw-h2-connection.js';

const V1_RESOLVE = '/lookaside.v1.Lookaside/Resolve';

describe('lookaside server: limits on what one client can hold', () => {
  let harness: LookasideHarness;
  const clients: Array<{ close(): void }> = [];

  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    harness.stop();
  });

  function rawClient(): RawGrpcClient {
    const client = new RawGrpcClient(harness.target);
    clients.push(client);
    return client;
  }

  async function rawConnection(answerPings = true): Promise<RawH2Connection> {
    const connection = await RawH2Connection.open(harness.port, '127.0.0.1', answerPings);
    clients.push(connection);
    return connection;
  }

  function resolve(service: string): Promise<ServiceError | null> {
    const method = harness.method('Resolve');
    return new Promise((done) => harness.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service }, (error) => done(error)));
  }

  it('advertises MAX_STREAMS_PER_CONNECTION as SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
    harness = await LookasideHarness.start({ limits: { maxStreamsPerConnection: 7 } });
    assert.equal((await rawClient().remoteSettings).maxConcurrentStreams, 7);
  });

  it('refuses any call over MAX_OPEN_CALLS at once with RESOURCE_EXHAUSTED naming the limit; a request that never ends holds its slot until its stream closes', async () => {
    harness = await LookasideHarness.start({ limits: { maxOpenCalls: 2 } });
    const raw = rawClient();
    const neverEnds = raw.call(V1_RESOLVE, Buffer.alloc(0), { keepOpen: true, timeoutMs: 60_000 });
    const stream = harness.openStream();
    await until(() => harness.lookaside.openCalls() === 2, 'two calls open');

    const refused = await resolve('svc-1');
    assert.equal(refused?.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(refused?.details, 'the server has 2 calls open, its limit (MAX_OPEN_CALLS); retry later');
    assert.deepEqual(harness.refused, ['MAX_OPEN_CALLS']);

    stream.call.end();
    await stream.status;
    await until(() => harness.lookaside.openCalls() === 1, 'the stream gave its slot back');
    assert.equal(await resolve('svc-1'), null);
    raw.close();
    await neverEnds.catch(() => undefined);
    await until(() => harness.lookaside.openCalls() === 0, 'the unfinished call gave its slot back');
  });

  it('resets a refused stream whose client keeps sending (RST_STREAM NO_ERROR after the status), so it holds nothing', async () => {
    harness = await LookasideHarness.start({ limits: { maxOpenCalls: 1 } });
    const stream = harness.openStream();
    await until(() => harness.lookaside.openCalls() === 1);
    const refused = await rawClient().call(V1_RESOLVE, Buffer.alloc(0), { keepOpen: true });
    assert.equal(refused.status, Status.RESOURCE_EXHAUSTED);
    assert.equal(refused.rstCode, 0);
    stream.call.end();
  });

  it('answers a stream flood over SETTINGS_MAX_CONCURRENT_STREAMS by refusing the extra streams, not by serving them', async () => {
    harness = await LookasideHarness.start({ limits: { maxStreamsPerConnection: 5 } });
    const flood = await rawConnection();
    await flood.openStreams(grpcRequestHeaderBlock('/lookaside.v1.Lookaside/ResolveStream'), 50);
    await until(() => flood.counts.refused + flood.counts.reset > 0 || flood.counts.closed, 'the extra streams refused');
    assert.ok(harness.lookaside.openResolveStreams() <= 5, `${harness.lookaside.openResolveStreams()} streams open`);
  });

  it('drops a connection that stops answering keepalive pings, and keeps one that answers', async () => {
    harness = await LookasideHarness.start({ connectionTimes: { keepaliveTimeMs: 100, keepaliveTimeoutMs: 100 } });
    const [gone, alive] = [await rawConnection(false), await rawConnection(true)];
    await gone.closed;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(alive.counts.closed, false, 'a connection that answers pings stays');
  });

  it('closes a connection with no call for the idle time (GOAWAY)', async () => {
    harness = await LookasideHarness.start({ connectionTimes: { connectionIdleMs: 200 } });
    const idle = await rawConnection();
    await idle.closed;
    assert.equal(idle.counts.goaway?.code, 0);
  });

  it('gives back the slots of calls whose request never ended when their connection goes', async () => {
    harness = await LookasideHarness.start({ limits: { maxOpenCalls: 3 } });
    const flood = await rawConnection();
    await flood.openStreams(grpcRequestHeaderBlock(V1_RESOLVE), 20);
    await until(() => flood.counts.endedByServer >= 17, 'the extra calls refused');
    const answer = await rawClient().call(V1_RESOLVE, Buffer.alloc(0));
    assert.equal(answer.status, Status.RESOURCE_EXHAUSTED, 'three calls whose request never ends still hold every slot');
    flood.close();
    await until(() => harness.lookaside.openCalls() === 0, 'slots freed with the connection');
    const whole = await rawClient().call(V1_RESOLVE, grpcFrame(harness.method('Resolve').requestSerialize({ service: 'svc-2' })));
    assert.equal(whole.status, Status.OK, whole.message);
  });
});
