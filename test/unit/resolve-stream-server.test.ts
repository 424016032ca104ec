import assert from 'node:assert/strict';

import { status as Status, type ServiceError } from '@grpc/grpc-js';

import { shutdownServer } from '../../src/common/grpc.js';
import { decodeErrorInfo, STATUS_DETAILS_TRAILER } from '../../src/common/status-details.js';
import { LookasideHarness, until, type StreamAnswer } from '../support/lookaside-server.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../support/raw-h2-connection.js';

const STREAM = 'grpc_type="bidi_stream",grpc_service="lookaside.v1.Lookaside",grpc_method="ResolveStream"';
const UNARY = 'grpc_type="unary",grpc_service="lookaside.v1.Lookaside",grpc_method="Resolve"';

describe('lookaside server: ResolveStream', () => {
  let harness: LookasideHarness;
  let resolver: LookasideHarness['resolver'];
  let lookaside: LookasideHarness['lookaside'];
  let registry: LookasideHarness['registry'];

  async function start(maxUnansweredPerStream?: number): Promise<void> {
    harness = await LookasideHarness.start(maxUnansweredPerStream === undefined ? {} : { maxUnansweredPerStream });
    ({ resolver, lookaside, registry } = harness);
  }

  afterEach(() => harness.stop());

  const open = (): ReturnType<LookasideHarness['openStream']> => harness.openStream();

  const addresses = (answers: readonly StreamAnswer[]): (string | number)[] =>
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
    assert.deepEqual(
      stream.answers.map((answer) => answer.reason),
      ['', 'SERVICE_NOT_FOUND', 'SERVICE_NOT_FOUND', 'MALFORMED_REQUEST', ''],
      'each error answer says why, for programs',
    );
  });

  it('sends a failed unary Resolve its reason as a google.rpc.ErrorInfo in grpc-status-details-bin', async () => {
    await start();
    const method = harness.method('Resolve');
    const error = await new Promise<ServiceError>((resolve) =>
      harness.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service: 'missing' }, (failure) =>
        resolve(failure as ServiceError),
      ),
    );
    assert.equal(error.code, Status.NOT_FOUND);
    const details = error.metadata.get(STATUS_DETAILS_TRAILER)[0];
    assert.ok(Buffer.isBuffer(details), 'no grpc-status-details-bin trailer');
    assert.deepEqual(decodeErrorInfo(details), { reason: 'SERVICE_NOT_FOUND', domain: 'lookaside.dev' });
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
    const labels = STREAM;
    // The stream is counted once it has closed on the server too.
    await until(async () => (await registry.metrics()).includes(`grpc_server_handled_total{${labels},grpc_code="OK"} 1`));
    const page = await registry.metrics();
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
    const stopping = shutdownServer(harness.front, 600_000, lookaside.endStreams);
    setTimeout(() => resolver.waiting.get('svc-1')?.(), 50);
    const status = await stream.status;
    assert.equal(status.code, Status.UNAVAILABLE, status.details);
    assert.equal(status.details, 'shutting down');
    assert.deepEqual(addresses(stream.answers), ['10.0.0.1:80', '10.0.0.2:80']);
    assert.equal(await stopping, 'drained');
  });

  describe('when the client cancels (grpc_server_handled_total)', () => {
    const handled = async (labels: string, code: string): Promise<boolean> =>
      (await registry.metrics()).includes(`grpc_server_handled_total{${labels},grpc_code="${code}"} 1`);

    it('counts a ResolveStream the client resets as Canceled, never OK (node:http2 reports the reset as an end of input first)', async () => {
      await start();
      const client = await RawH2Connection.open(harness.port);
      try {
        const [id] = await client.openStreams(grpcRequestHeaderBlock('/lookaside.v1.Lookaside/ResolveStream'), 1);
        await until(() => lookaside.openResolveStreams() === 1);
        await client.reset(id ?? 1);
        await until(() => handled(STREAM, 'Canceled'), 'Canceled counted');
        assert.ok(!(await registry.metrics()).includes(`${STREAM},grpc_code="OK"`), await registry.metrics());
      } finally {
        client.close();
      }
    });

    it('counts a ResolveStream cancelled (grpc-js cancel()) while it owes an answer as Canceled, not as the answer that comes later', async () => {
      await start();
      resolver.hold('svc-1');
      const stream = open();
      stream.send('svc-1');
      await until(() => resolver.asked.length === 1);
      stream.call.cancel();
      await until(() => handled(STREAM, 'Canceled'), 'Canceled counted');
      resolver.waiting.get('svc-1')?.();
      await until(() => lookaside.openResolveStreams() === 0);
      assert.ok(!(await registry.metrics()).includes(`${STREAM},grpc_code="OK"`), await registry.metrics());
    });

    it('counts a unary Resolve the client cancels while it waits as Canceled, not as the answer that comes later', async () => {
      await start();
      resolver.hold('svc-1');
      const method = harness.method('Resolve');
      const call = harness.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service: 'svc-1' }, () => undefined);
      await until(() => resolver.asked.length === 1);
      call.cancel();
      await until(() => lookaside.openCalls() === 0, 'the server saw the cancel');
      resolver.waiting.get('svc-1')?.();
      await until(() => handled(UNARY, 'Canceled'), 'Canceled counted');
      assert.ok(!(await registry.metrics()).includes(`${UNARY},grpc_code="OK"`), await registry.metrics());
    });

    it('counts a unary Resolve whose deadline passes while it waits as DeadlineExceeded', async () => {
      await start();
      resolver.hold('svc-1');
      const method = harness.method('Resolve');
      const ended = new Promise<number>((resolve) =>
        harness.channel.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, { service: 'svc-1' }, { deadline: Date.now() + 200 }, (error) =>
          resolve(error?.code ?? Status.OK),
        ),
      );
      assert.equal(await ended, Status.DEADLINE_EXCEEDED);
      await until(() => lookaside.openCalls() === 0, 'the server saw the deadline pass');
      resolver.waiting.get('svc-1')?.();
      await until(() => handled(UNARY, 'DeadlineExceeded'), 'DeadlineExceeded counted');
    });
  });

  describe('limits', () => {
    it('refuses a ResolveStream over MAX_RESOLVE_STREAMS at once with RESOURCE_EXHAUSTED naming the limit, and takes one again once a stream ends', async () => {
      harness = await LookasideHarness.start({ limits: { maxResolveStreams: 2 } });
      ({ resolver, lookaside, registry } = harness);
      const [first, second] = [open(), open()];
      await until(() => lookaside.openResolveStreams() === 2);
      const refused = await open().status;
      assert.equal(refused.code, Status.RESOURCE_EXHAUSTED);
      assert.equal(refused.details, 'the server has 2 ResolveStreams open, its limit (MAX_RESOLVE_STREAMS); retry later');
      assert.deepEqual(harness.refused, ['MAX_RESOLVE_STREAMS']);

      first.call.end();
      assert.equal((await first.status).code, Status.OK);
      const next = open();
      next.send('svc-7');
      await until(() => next.answers.length === 1);
      assert.deepEqual(addresses(next.answers), ['10.0.0.7:80']);
      second.call.end();
    });

    it('ends a ResolveStream with no request for RESOLVE_STREAM_IDLE_SECONDS with DEADLINE_EXCEEDED, and keeps those that sent one', async () => {
      harness = await LookasideHarness.start({ limits: { resolveStreamIdleMs: 60_000 } });
      ({ resolver, lookaside, registry } = harness);
      const [quiet, silent, busy] = [open(), open(), open()];
      quiet.send('svc-1');
      busy.send('svc-1');
      await until(() => quiet.answers.length === 1 && busy.answers.length === 1 && lookaside.openResolveStreams() === 3);

      harness.clock.nowMs += 40_000;
      busy.send('svc-2');
      await until(() => busy.answers.length === 2);
      lookaside.sweepIdleStreams();
      assert.equal(lookaside.openResolveStreams(), 3, 'nobody is idle for 60 s yet');

      harness.clock.nowMs += 30_000;
      lookaside.sweepIdleStreams();
      for (const stream of [quiet, silent]) {
        const status = await stream.status;
        assert.equal(status.code, Status.DEADLINE_EXCEEDED);
        assert.equal(status.details, 'no request for 60 s (RESOLVE_STREAM_IDLE_SECONDS); open a new stream when you need one');
      }
      busy.send('svc-3');
      await until(() => busy.answers.length === 3);
      assert.equal(lookaside.openResolveStreams(), 1);
      await until(async () => (await registry.metrics()).includes(`grpc_server_handled_total{${STREAM},grpc_code="DeadlineExceeded"} 2`));
      busy.call.end();
    });
  });
});
