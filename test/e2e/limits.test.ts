import { strict as assert } from 'node:assert';
import { connect, type Socket } from 'node:net';

import { Client, credentials, status as Status, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../../src/common/grpc.js';
import { eventually } from '../support/process.js';
import { STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { ProcessGroup, type RunningLookaside } from './support/lookaside.js';

const STREAM = { grpc_type: 'bidi_stream', grpc_service: 'lookaside.v1.Lookaside', grpc_method: 'ResolveStream' };

interface OpenStream {
  readonly call: ClientDuplexStream<unknown, unknown>;
  readonly answers: unknown[];
  readonly status: Promise<StatusObject>;
}

describe('lookaside end to end: limits (MAX_CONNECTIONS, MAX_RESOLVE_STREAMS, RESOLVE_STREAM_IDLE_SECONDS)', function () {
  const group = new ProcessGroup();
  const channels: Client[] = [];
  const sockets: Socket[] = [];
  let lookaside: RunningLookaside;

  afterEach(async function () {
    for (const channel of channels.splice(0)) channel.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await group.stopAll();
  });

  function openStream(): OpenStream {
    const method = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, 'lookaside.v1.Lookaside').service['ResolveStream'];
    if (method === undefined) throw new Error('no ResolveStream');
    const channel = new Client(lookaside.target, credentials.createInsecure());
    channels.push(channel);
    const call = channel.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize);
    const answers: unknown[] = [];
    call.on('data', (answer) => answers.push(answer));
    call.on('error', () => undefined);
    return { call, answers, status: new Promise((resolve) => call.on('status', resolve)) };
  }

  it('refuses a ResolveStream over MAX_RESOLVE_STREAMS=1 at once with RESOURCE_EXHAUSTED naming the limit, and counts it', async function () {
    lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, MAX_RESOLVE_STREAMS: '1' } });
    const first = openStream();
    first.call.write({ service: 'greet' });
    await eventually(() => (first.answers.length === 1 ? true : undefined), 10_000, 'the first answer');

    const second = await openStream().status;
    assert.equal(second.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(second.details, 'the server has 1 ResolveStreams open, its limit (MAX_RESOLVE_STREAMS); retry later');
    const page = await eventually(async () => {
      const scraped = await lookaside.scrape();
      return scraped.value('grpc_server_handled_total', { ...STREAM, grpc_code: 'ResourceExhausted' }) === 1 ? scraped : undefined;
    }, 10_000, 'the refused stream counted');
    assert.equal(page.value('lookaside_refused_total', { limit: 'MAX_RESOLVE_STREAMS' }), 1);
    assert.equal(page.value('lookaside_open_resolve_streams'), 1);
    first.call.end();
  });

  it('ends a ResolveStream with no request for RESOLVE_STREAM_IDLE_SECONDS=1 with DEADLINE_EXCEEDED, and counts it', async function () {
    lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, RESOLVE_STREAM_IDLE_SECONDS: '1' } });
    const stream = openStream();
    stream.call.write({ service: 'greet' });
    const idle = await stream.status;
    assert.equal(idle.code, Status.DEADLINE_EXCEEDED);
    assert.equal(idle.details, 'no request for 1 s (RESOLVE_STREAM_IDLE_SECONDS); open a new stream when you need one');
    assert.equal(stream.answers.length, 1, 'its one request was answered first');
    await eventually(async () => {
      const scraped = await lookaside.scrape();
      return scraped.value('grpc_server_handled_total', { ...STREAM, grpc_code: 'DeadlineExceeded' }) === 1 ? scraped : undefined;
    }, 10_000, 'the idle stream counted');
  });

  it('closes connections over MAX_CONNECTIONS=3 at once, counts them, and serves again when one goes', async function () {
    lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, MAX_CONNECTIONS: '3' } });
    const open = (): Promise<Socket> =>
      new Promise((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: lookaside.port }, () => resolve(socket));
        socket.on('error', () => undefined);
        sockets.push(socket);
      });
    // The scrapes go to the metrics port, so these three are all the gRPC connections there are.
    const held = [await open(), await open(), await open()];
    await eventually(async () => ((await lookaside.scrape()).value('lookaside_open_connections') === 3 ? true : undefined), 10_000, '3 open');
    const extra = await open();
    await new Promise((resolve) => extra.once('close', resolve));
    assert.equal((await lookaside.scrape()).value('lookaside_refused_total', { limit: 'MAX_CONNECTIONS' }), 1);

    held[0]?.destroy();
    await eventually(async () => ((await lookaside.scrape()).value('lookaside_open_connections') === 2 ? true : undefined), 10_000, '2 open');
    assert.equal((await lookaside.resolve({ service: 'greet' })).readyEndpoints, 3);
  });
});
