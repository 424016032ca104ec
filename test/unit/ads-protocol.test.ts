import assert from 'node:assert/strict';

import type { AdsClient, AdsResponse } from '../support/ads-client.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { until } from '../support/lookaside-server.js';
import { XdsHarness } from '../support/xds-harness.js';

const LISTENER = 'greet.default:50051';
const CLUSTER = 'greet.default.svc.cluster.local:50051';
const GREET = 'default/greet';

/** The addresses of a ClusterLoadAssignment in a response, sorted. */
function addresses(response: AdsResponse, cluster = CLUSTER): string[] {
  const assignment = response.resources.get(cluster) as { endpoints?: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }> } | undefined;
  assert.ok(assignment !== undefined, `no assignment for ${cluster} in ${[...response.resources.keys()].join(', ')}`);
  return (assignment.endpoints ?? []).flatMap((locality) => locality.lb_endpoints.map((lb) => `${lb.endpoint.address.socket_address.address}:${lb.endpoint.address.socket_address.port_value}`)).sort();
}

function ready(...numbers: number[]) {
  return [slice(numbers.map((n) => sliceEndpoint(n)))];
}

describe('ADS server: the State-of-the-World protocol', function () {
  this.timeout(30_000);
  let h: XdsHarness;

  beforeEach(async () => {
    h = await XdsHarness.start();
    h.publish(GREET, ready(1, 2, 3));
  });

  afterEach(() => h.stop());

  /** A client subscribed to the greet ClusterLoadAssignment, with its first response (not yet ACKed). */
  async function edsClient(id?: string): Promise<{ client: AdsClient; first: AdsResponse }> {
    const client = h.client(id);
    client.request('endpoint', [CLUSTER]);
    return { client, first: await h.pushed(client, 'endpoint') };
  }

  /**
   * A sync point: asks for a RouteConfiguration name new to the stream and
   * waits for its answer, so every response the server meant to send before
   * has arrived by then.
   */
  async function sync(client: AdsClient, name: string): Promise<void> {
    const routes = client.received('route');
    const names = [...(routes.at(-1)?.resources.keys() ?? []), name];
    client.request('route', names, routes.length === 0 ? {} : { nonce: routes.at(-1)?.nonce, version: routes.at(-1)?.version });
    await h.pushed(client, 'route', routes.length);
  }

  it('answers a Listener with RDS over ADS, then the route, the EDS cluster and the ready endpoints', async () => {
    const client = h.client();
    client.request('listener', [LISTENER]);
    const listeners = await h.pushed(client, 'listener');
    const hcm = client.decodeAny((listeners.resources.get(LISTENER)?.['api_listener'] as { api_listener: unknown }).api_listener);
    assert.equal((hcm['rds'] as { route_config_name: string }).route_config_name, CLUSTER);

    client.request('route', [CLUSTER]);
    const route = (await h.pushed(client, 'route')).resources.get(CLUSTER);
    assert.deepEqual((route?.['virtual_hosts'] as Array<{ routes: unknown }>)[0]?.routes, [{ match: { prefix: '' }, route: { cluster: CLUSTER } }]);
    client.request('cluster', [CLUSTER]);
    assert.equal((await h.pushed(client, 'cluster')).resources.get(CLUSTER)?.['type'], 'EDS');
    client.request('endpoint', [CLUSTER]);
    assert.deepEqual(addresses(await h.pushed(client, 'endpoint')), ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051']);
  });

  it('leaves out a Listener whose Service does not exist or lacks the port, and serves the others in the same response', async () => {
    const client = h.client();
    const names = [LISTENER, 'nobody.default:50051', 'greet.default:9999', 'not a name'];
    client.request('listener', names);
    const response = await h.pushed(client, 'listener');
    assert.deepEqual([...response.resources.keys()], [LISTENER]);
    const report = h.xds.report().streams[0]?.types.listener?.names ?? [];
    const byName = new Map(report.map((entry) => [entry.name, entry]));
    assert.equal(byName.get(LISTENER)?.state, 'present');
    assert.match(byName.get('nobody.default:50051')?.problem ?? '', /no EndpointSlices/);
    assert.match(byName.get('greet.default:9999')?.problem ?? '', /no port 9999/);
    assert.match(byName.get('not a name')?.problem ?? '', /has no port/);
  });

  it('records an ACK, sends nothing more while nothing changes, and pushes the next change', async () => {
    const { client, first } = await edsClient('acker');
    client.ack(first);
    // A snapshot change that leaves this assignment as it was (a node name) is no reason to send.
    h.publish(GREET, [slice([1, 2, 3].map((n) => ({ ...sliceEndpoint(n), nodeName: 'moved' })))]);
    await h.flush();
    await sync(client, 'route.default.svc.cluster.local:1');
    assert.equal(client.received('endpoint').length, 1);
    assert.equal(h.xds.report().streams[0]?.types.endpoint?.acked_version, first.version);

    h.publish(GREET, ready(1, 2));
    const second = await h.pushed(client, 'endpoint', 1);
    assert.notEqual(second.version, first.version);
    assert.deepEqual(addresses(second), ['10.0.0.1:50051', '10.0.0.2:50051']);
  });

  it('after a NACK keeps the error detail and resends nothing until the content changes', async () => {
    const { client, first } = await edsClient('nacker');
    client.nack(first, [CLUSTER], 'endpoints[0]: not what I expected');
    h.publish(GREET, [slice([1, 2, 3].map((n) => ({ ...sliceEndpoint(n), nodeName: 'moved' })))]);
    await h.flush();
    await sync(client, 'route.default.svc.cluster.local:1');
    assert.equal(client.received('endpoint').length, 1, 'the rejected content is not sent again');
    const state = h.xds.report().streams[0]?.types.endpoint;
    assert.equal(state?.acked_version, null);
    assert.deepEqual({ ...state?.last_nack, at: undefined }, { version: first.version, nonce: first.nonce, message: 'endpoints[0]: not what I expected', at: undefined });
    assert.equal(await h.metric('lookaside_xds_nacks_total', { type: 'endpoint' }), 1);

    h.publish(GREET, ready(4));
    const next = await h.pushed(client, 'endpoint', 1);
    assert.deepEqual(addresses(next), ['10.0.0.4:50051']);
  });

  it('ignores a request whose nonce is stale, subscription changes included', async () => {
    const { client, first } = await edsClient();
    client.ack(first);
    // Read before the next push, or the ACK itself would arrive stale.
    await until(() => h.xds.report().streams[0]?.types.endpoint?.acked_version === first.version, 'the first ACK read');
    h.publish(GREET, ready(1));
    const second = await h.pushed(client, 'endpoint', 1);
    h.publish('default/other', ready(9));
    // Answers the first response again, asking for another cluster too: stale, so nothing happens.
    client.request('endpoint', [CLUSTER, 'other.default.svc.cluster.local:50051'], { nonce: first.nonce, version: first.version });
    await h.flush();
    await sync(client, 'route.default.svc.cluster.local:1');
    assert.equal(client.received('endpoint').length, 2);
    const stream = h.xds.report().streams[0];
    assert.deepEqual(stream?.types.endpoint?.names.map((entry) => entry.name), [CLUSTER]);
    assert.equal(stream?.stale_requests, 1);
    assert.equal(stream?.types.endpoint?.acked_version, first.version, 'a stale ACK is no ACK');
    assert.equal(h.source.followed.has('default/other'), false, 'nothing was looked up for the stale request');

    client.ack(second, [CLUSTER, 'other.default.svc.cluster.local:50051']);
    const both = await h.pushedMatching(client, 'endpoint', (response) => response.resources.size === 2);
    assert.deepEqual(addresses(both, 'other.default.svc.cluster.local:50051'), ['10.0.0.9:50051']);
  });

  it('stops pushing a name once unsubscribed, and lets its Service go idle', async () => {
    const { client, first } = await edsClient();
    client.request('endpoint', [], { nonce: first.nonce, version: first.version });
    const emptied = await h.pushed(client, 'endpoint', 1);
    assert.equal(emptied.resources.size, 0);
    h.publish(GREET, ready(5));
    await h.flush();
    await sync(client, 'route.default.svc.cluster.local:1');
    assert.equal(client.received('endpoint').length, 2);
    assert.equal(await h.metric('lookaside_xds_subscriptions', { type: 'endpoint' }), 0);

    // The route subscription of sync() holds default/route only; greet is free to go idle.
    h.timers.advance(600_001);
    h.stack.services.sweepIdle();
    assert.equal(h.source.followed.has(GREET), false);
  });

  it('keeps each client on its own version: one ACKs, one NACKs, one subscribes to more', async () => {
    h.publish('default/other', ready(9));
    const { client: acker, first: ackerFirst } = await edsClient('acker');
    const { client: nacker, first: nackerFirst } = await edsClient('nacker');
    const wider = h.client('wider');
    wider.request('endpoint', [CLUSTER, 'other.default.svc.cluster.local:50051']);
    const widerFirst = await h.pushed(wider, 'endpoint');
    assert.equal(ackerFirst.version, nackerFirst.version, 'same names, same content: same version');
    assert.notEqual(widerFirst.version, ackerFirst.version);

    const endpointsByNode = () => new Map(h.xds.report().streams.map((stream) => [stream.node?.['id'], stream.types.endpoint]));
    acker.ack(ackerFirst);
    nacker.nack(nackerFirst, [CLUSTER], 'no thanks');
    // Each client's answer travels on its own socket: read before the next push, or it would arrive stale.
    await until(() => {
      const seen = endpointsByNode();
      return seen.get('acker')?.acked_version === ackerFirst.version && (seen.get('nacker')?.last_nack ?? null) !== null;
    }, 'the ACK and the NACK read');
    h.publish(GREET, ready(1));
    const ackerSecond = await h.pushed(acker, 'endpoint', 1);
    const nackerSecond = await h.pushed(nacker, 'endpoint', 1);
    acker.ack(ackerSecond);
    await until(() => endpointsByNode().get('acker')?.acked_version === ackerSecond.version, 'the second ACK read');

    const byNode = endpointsByNode();
    assert.equal(byNode.get('acker')?.acked_version, ackerSecond.version);
    assert.equal(byNode.get('nacker')?.acked_version, null);
    assert.equal(byNode.get('nacker')?.last_nack?.version, nackerFirst.version);
    assert.equal(byNode.get('nacker')?.sent_version, nackerSecond.version);
    assert.equal(byNode.get('wider')?.acked_version, null);
  });

  it('pushes a removal to every subscribed client', async () => {
    const clients = await Promise.all(['a', 'b', 'c'].map((id) => edsClient(id)));
    h.publish(GREET, ready(1, 3));
    for (const { client } of clients) assert.deepEqual(addresses(await h.pushed(client, 'endpoint', 1)), ['10.0.0.1:50051', '10.0.0.3:50051']);
    assert.equal(await h.metric('lookaside_xds_streams'), 3);
  });

  it('gathers a burst of changes into one push per stream, carrying the last state', async () => {
    const { client, first } = await edsClient();
    client.ack(first);
    await h.flush();
    for (let n = 4; n <= 13; n++) h.publish(GREET, ready(1, n));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const pushes = await h.metric('lookaside_xds_pushes_total', { type: 'endpoint' });
    const last = await h.pushed(client, 'endpoint', 1);
    assert.deepEqual(addresses(last), ['10.0.0.1:50051', '10.0.0.13:50051'].sort());
    await h.flush();
    assert.equal(client.received('endpoint').length, 2, 'ten changes, one push');
    assert.equal(await h.metric('lookaside_xds_pushes_total', { type: 'endpoint' }), pushes + 1);
  });
});
