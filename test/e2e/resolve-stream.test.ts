import { strict as assert } from 'node:assert';

import { Client, credentials, status as Status, type StatusObject } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { bufCurlBidi } from '../support/buf-curl.js';
import { eventually } from '../support/process.js';
import { OWN_NAMESPACE, STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { ProcessGroup } from './support/lookaside.js';

const RESOLVE_STREAM = 'lookaside.v1.Lookaside/ResolveStream';

describe('lookaside end to end: ResolveStream (built process)', function () {
  const group = new ProcessGroup();

  afterEach(async function () {
    await group.stopAll();
  });

  it('answers several requests on one stream in order through buf curl, an error in the middle, and counts them', async function () {
    const lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
    const result = await bufCurlBidi(lookaside.target, RESOLVE_STREAM, [
      { service: 'greet', policy: 'ROUND_ROBIN' },
      { service: 'no-such-service' },
      { service: 'Not_A_Label' },
      { service: 'greet', policy: 'ROUND_ROBIN' },
      { service: 'greet', policy: 'ROUND_ROBIN' },
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    const answers = result.messages.map((message) =>
      message['code'] === undefined ? (message['response'] as Record<string, unknown>)['address'] : message['code'],
    );
    assert.deepEqual(answers, ['10.0.0.1:50051', 5, 3, '10.0.0.2:50051', '10.0.0.3:50051']);
    assert.match(String(result.messages[1]?.['message']), /no-such-service/);

    const stream = { grpc_type: 'bidi_stream', grpc_service: 'lookaside.v1.Lookaside', grpc_method: 'ResolveStream' };
    // A stream is counted as handled once it has closed on the server too.
    const page = await eventually(async () => {
      const scraped = await lookaside.scrape();
      return scraped.value('grpc_server_handled_total', { ...stream, grpc_code: 'OK' }) === 1 ? scraped : undefined;
    }, 10_000, 'the stream counted as handled');
    assert.equal(page.value('grpc_server_started_total', stream), 1);
    assert.equal(page.value('grpc_server_msg_received_total', stream), 5);
    assert.equal(page.value('grpc_server_msg_sent_total', stream), 5);
    assert.equal(page.value('lookaside_resolve_total', { namespace: OWN_NAMESPACE, service: 'greet', policy: 'round_robin', code: 'OK' }), 3);
  });

  it('on SIGTERM ends an open stream with UNAVAILABLE at once instead of holding the server for the grace period', async function () {
    const lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, SHUTDOWN_GRACE_SECONDS: '20' } });
    const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['ResolveStream'];
    if (method === undefined) throw new Error('no ResolveStream');
    const channel = new Client(lookaside.target, credentials.createInsecure());
    try {
      const call = channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
      const answers: unknown[] = [];
      call.on('data', (answer) => answers.push(answer));
      call.on('error', () => undefined);
      const status = new Promise<StatusObject>((resolve) => call.on('status', resolve));
      call.write({ service: 'greet' });
      await eventually(() => (answers.length === 1 ? true : undefined), 5_000, 'the first answer');

      assert.equal(await lookaside.stop(), 0);
      const ended = await status;
      assert.equal(ended.code, Status.UNAVAILABLE);
      assert.equal(ended.details, 'shutting down');
      const stopped = lookaside.process.logs.find((line) => line.msg === 'grpc server stopped');
      assert.equal(stopped?.['result'], 'drained');
    } finally {
      channel.close();
    }
  });
});
