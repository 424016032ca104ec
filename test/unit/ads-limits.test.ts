import assert from 'node:assert/strict';

import { status as Status } from '@grpc/grpc-js';

import { MAX_NAMES_PER_TYPE } from '../../src/lookaside/xds/ads-stream.js';
import { MAX_REPORTED_STREAMS } from '../../src/lookaside/xds/xds-server.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { until } from '../support/lookaside-server.js';
import { grpcFrame, RawGrpcClient } from '../support/raw-grpc.js';
import { XdsHarness, type XdsHarnessOptions } from '../support/xds-harness.js';

const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const LISTENER = 'greet.default:50051';

describe('ADS server: the server limits and a stream that goes wrong', function () {
  this.timeout(30_000);
  let h: XdsHarness;

  async function start(options: XdsHarnessOptions = {}): Promise<XdsHarness> {
    h = await XdsHarness.start(options);
    h.publish('default/greet', [slice([sliceEndpoint(1)])]);
    return h;
  }

  afterEach(() => h.stop());

  it('counts each ADS stream as one open call (MAX_OPEN_CALLS), refuses the one over it, and frees its slot when it ends', async () => {
    await start({ limits: { maxOpenCalls: 2 } });
    const [first, second] = [h.client('first'), h.client('second')];
    for (const client of [first, second]) {
      client.request('listener', [LISTENER]);
      await h.pushed(client, 'listener', 0);
    }
    assert.equal(h.lookaside.openCalls(), 2);
    assert.equal(h.lookaside.openResolveStreams(), 0, 'ADS streams are not ResolveStreams (MAX_RESOLVE_STREAMS)');

    const third = h.client('third');
    third.request('listener', [LISTENER]);
    const refused = await third.status;
    assert.equal(refused.code, Status.RESOURCE_EXHAUSTED);
    assert.match(refused.details, /MAX_OPEN_CALLS/);

    first.close();
    await until(() => h.lookaside.openCalls() === 1, 'the closed stream gave its slot back');
    await until(() => h.xds.size === 1, 'the closed stream forgotten');
    const fourth = h.client('fourth');
    fourth.request('listener', [LISTENER]);
    await h.pushed(fourth, 'listener', 0);
  });

  it('leaves an idle ADS stream open when ResolveStreams idle out, and keeps pushing to it', async () => {
    await start({ limits: { resolveStreamIdleMs: 1_000 } });
    const client = h.client();
    client.request('endpoint', ['greet.default.svc.cluster.local:50051']);
    client.ack(await h.pushed(client, 'endpoint'));
    h.timers.advance(3_600_000);
    h.lookaside.sweepIdleStreams();
    h.publish('default/greet', [slice([sliceEndpoint(2)])]);
    await h.pushed(client, 'endpoint', 1);
    assert.equal(h.xds.size, 1);
  });

  it(`ends a stream that subscribes to more than ${MAX_NAMES_PER_TYPE} names of a type with RESOURCE_EXHAUSTED`, async () => {
    await start();
    const client = h.client();
    client.request('cluster', Array.from({ length: MAX_NAMES_PER_TYPE + 1 }, (_, i) => `svc-${i}.default:80`));
    const status = await client.status;
    assert.equal(status.code, Status.RESOURCE_EXHAUSTED);
    assert.equal(status.details, `${MAX_NAMES_PER_TYPE + 1} names of cluster subscribed on one stream; at most ${MAX_NAMES_PER_TYPE}`);
    await until(() => h.xds.size === 0 && h.source.followCount.size === 0, 'nothing left behind');
  });

  /** One request message on a raw HTTP/2 stream of `path`, and the status that ends it. */
  async function rawCall(path: string, message: Buffer): Promise<{ status: number | undefined; message: string }> {
    const raw = new RawGrpcClient(h.target);
    try {
      return await raw.call(path, grpcFrame(message));
    } finally {
      raw.close();
    }
  }

  it('ends a stream asking for a resource type it does not serve with INVALID_ARGUMENT, listing the ones it does', async () => {
    await start();
    const request = h.xds.protos.adsService['StreamAggregatedResources']?.requestSerialize({
      type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      resource_names: ['x'],
    }) as Buffer;
    const answer = await rawCall(ADS_METHOD, request);
    assert.equal(answer.status, Status.INVALID_ARGUMENT);
    assert.match(answer.message, /Secret" is not served; this server serves .*Listener, .*RouteConfiguration, .*Cluster, .*ClusterLoadAssignment/);
  });

  it('answers DeltaAggregatedResources with UNIMPLEMENTED: State of the World only', async () => {
    await start();
    const answer = await rawCall('/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources', Buffer.alloc(0));
    assert.equal(answer.status, Status.UNIMPLEMENTED);
  });

  it('ends a stream whose request cannot be decoded with INVALID_ARGUMENT', async () => {
    await start();
    const answer = await rawCall(ADS_METHOD, Buffer.from([0x0a, 0xff, 0xff]));
    assert.equal(answer.status, Status.INVALID_ARGUMENT);
    assert.match(answer.message, /cannot decode the request/);
  });

  it('ends every ADS stream with UNAVAILABLE "shutting down" at shutdown, so clients move to another replica', async () => {
    await start();
    const client = h.client();
    client.request('listener', [LISTENER]);
    await h.pushed(client, 'listener');
    h.lookaside.server.tryShutdown(() => undefined);
    await h.lookaside.endStreams();
    const status = await client.status;
    assert.equal(status.code, Status.UNAVAILABLE);
    assert.equal(status.details, 'shutting down');
    assert.equal(await h.metric('lookaside_xds_streams'), 0);
  });

  it(`shows at most ${MAX_REPORTED_STREAMS} streams on /debug/xds, and finds any one by its node id`, async () => {
    // The clients share one connection: room for all of them on it.
    await start({ limits: { maxStreamsPerConnection: 2 * MAX_REPORTED_STREAMS } });
    const clients = Array.from({ length: MAX_REPORTED_STREAMS + 1 }, (_, i) => h.client(`fleet-${i}`));
    for (const client of clients) client.request('listener', [LISTENER]);
    await until(() => h.xds.size === clients.length, 'every stream open');
    const all = h.xds.report();
    assert.equal(all.streams_open, MAX_REPORTED_STREAMS + 1);
    assert.equal(all.streams.length, MAX_REPORTED_STREAMS);
    const one = h.xds.report(`fleet-${MAX_REPORTED_STREAMS}`);
    assert.equal(one.streams_matching, 1);
    assert.equal(one.streams[0]?.node?.['id'], `fleet-${MAX_REPORTED_STREAMS}`);
  });

  it('keeps lookaside_xds_* up to date: streams, pushes and subscriptions by type', async () => {
    await start();
    const client = h.client();
    client.request('listener', [LISTENER, 'other.default:80']);
    client.request('cluster', ['greet.default.svc.cluster.local:50051']);
    await h.pushed(client, 'listener', 0);
    await h.pushed(client, 'cluster', 0);
    assert.equal(await h.metric('lookaside_xds_streams'), 1);
    assert.equal(await h.metric('lookaside_xds_subscriptions', { type: 'listener' }), 2);
    assert.equal(await h.metric('lookaside_xds_subscriptions', { type: 'cluster' }), 1);
    assert.equal(await h.metric('lookaside_xds_pushes_total', { type: 'listener' }), 1);
    assert.equal(await h.metric('lookaside_xds_pushes_total', { type: 'route' }), 0);
    client.close();
    await until(async () => (await h.metric('lookaside_xds_subscriptions')) === 0 && (await h.metric('lookaside_xds_streams')) === 0, 'the gauges back to 0');
  });
});
