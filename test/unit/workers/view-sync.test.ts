import assert from 'node:assert/strict';

import { mergeSlices } from '../../../src/lookaside/discovery/slices.js';
import type { DiscoveryState } from '../../../src/lookaside/discovery/types.js';
import { StaticRoutes } from '../../../src/lookaside/routing/static-routes.js';
import { RouteTable } from '../../../src/lookaside/routing/route-table.js';
import { PrimaryDiscovery } from '../../../src/lookaside/workers/primary-discovery.js';
import { PrimaryRoutes } from '../../../src/lookaside/workers/primary-routes.js';
import { decodeState, encodeState } from '../../../src/lookaside/workers/protocol.js';
import { WorkerRelay } from '../../../src/lookaside/workers/worker-relay.js';
import { channelPair } from '../../support/channel-pair.js';
import { slice, sliceEndpoint } from '../../support/endpoints.js';
import { FakeSource } from '../../support/fake-source.js';
import { until } from '../../support/lookaside-server.js';
import { backend, route } from '../routing/route-fixtures.js';

/** Two named ports, one endpoint not ready, one port nothing ready listens on. */
const SLICES = [
  slice([sliceEndpoint(1), sliceEndpoint(2), sliceEndpoint(3, { ready: false })], [{ name: 'grpc', port: 50051 }, { name: 'metrics', port: 9090 }]),
  slice([sliceEndpoint(4, { ready: false })], [{ name: 'admin', port: 8443 }]),
];

/** A worker's PrimaryDiscovery and PrimaryRoutes joined in memory to the primary's WorkerRelay over a FakeSource. */
function joined(routes = new StaticRoutes()): { source: FakeSource; relay: WorkerRelay; discovery: PrimaryDiscovery; workerRoutes: PrimaryRoutes } {
  const pair = channelPair();
  const source = new FakeSource();
  const relay = new WorkerRelay(pair.primary, source, routes);
  pair.primary.onMessage((message) => relay.handle(message));
  return { source, relay, discovery: new PrimaryDiscovery(pair.worker, 'file'), workerRoutes: new PrimaryRoutes(pair.worker) };
}

describe('LB_WORKERS: Services and routes from the primary to a worker', function () {
  it('carries a snapshot through the wire form unchanged: ports, numbers, endpoints, counts, fingerprint', function () {
    const snapshot = mergeSlices(SLICES);
    const state = decodeState(structuredClone(encodeState({ kind: 'synced', snapshot })));
    assert.equal(state.kind, 'synced');
    if (state.kind !== 'synced') return;
    assert.deepEqual(state.snapshot, snapshot);
    assert.ok(Object.isFrozen(state.snapshot) && Object.isFrozen(state.snapshot.readyByPort.get('grpc')));
    assert.deepEqual(decodeState(encodeState({ kind: 'failed', failure: { kind: 'forbidden', message: 'no' } })), { kind: 'failed', failure: { kind: 'forbidden', message: 'no' } });
  });

  it('follows a Service in the primary\'s source for the worker, sends each new state, and stops following when the worker does', async function () {
    const { source, discovery } = joined();
    const states: DiscoveryState[] = [];
    const subscription = discovery.follow({ namespace: 'default', name: 'greet' }, (state) => states.push(state));
    await until(() => source.followed.has('default/greet'), 'the primary follows');
    source.publishSlices('default/greet', SLICES);
    await until(() => states.length === 1, 'the first state');
    source.publishSlices('default/greet', [slice([sliceEndpoint(7)])]);
    await until(() => states.length === 2, 'the second state');
    const latest = states[1];
    assert.equal(latest?.kind === 'synced' ? latest.snapshot.readyByPort.get('grpc')?.map((endpoint) => endpoint.address).join() : undefined, '10.0.0.7:50051');
    assert.ok(discovery.answersFromMemory({ namespace: 'default', name: 'other' }), 'its namespace is known now');
    assert.ok(!discovery.answersFromMemory({ namespace: 'elsewhere', name: 'other' }));

    subscription.stop();
    await until(() => !source.followed.has('default/greet'), 'the primary stops following');
  });

  it('says why a Service is missing in the primary source\'s words, and passes endIfMissing on', async function () {
    const { source, discovery } = joined();
    let state: DiscoveryState | undefined;
    discovery.follow({ namespace: 'default', name: 'nope' }, (received) => (state = received), { endIfMissing: true });
    await until(() => source.followed.has('default/nope'), 'the primary follows');
    assert.deepEqual(source.followOptions.get('default/nope'), { endIfMissing: true });
    source.publishSlices('default/nope', []);
    await until(() => state !== undefined, 'the answer');
    assert.equal(discovery.describeMissing({ namespace: 'default', name: 'nope' }), 'fake has no default/nope');
    assert.ok(!discovery.answersFromMemory({ namespace: 'default', name: 'other' }), 'a missing name leaves nothing watched there');
  });

  it('stops every follow of a worker that exited', async function () {
    const { source, relay, discovery } = joined();
    discovery.follow({ namespace: 'default', name: 'a' }, () => undefined);
    discovery.follow({ namespace: 'default', name: 'b' }, () => undefined);
    await until(() => relay.followCount === 2, 'both followed');
    relay.close();
    assert.equal(source.followed.size, 0);
  });

  it('answers a namespace\'s routes, then sends them again after each change', async function () {
    const routes = new StaticRoutes();
    const { workerRoutes } = joined(routes);
    const first = await workerRoutes.routesIn('default', 10_000);
    assert.equal(first.routes.length, 0);
    const changed: (string | undefined)[] = [];
    workerRoutes.onChange((namespace) => changed.push(namespace));
    routes.replace([route('canary', [{ backendRefs: [backend('v1', 90), backend('v2', 10)] }])]);
    await until(() => changed.length === 1, 'the change');
    assert.deepEqual(changed, ['default']);
    const table = workerRoutes.routesIn('default', 10_000);
    assert.ok(table instanceof RouteTable, 'answered from memory');
    const decision = table.forService('default', 'greet')?.decide({ method: '', headers: undefined });
    assert.equal(decision?.kind, 'backend');
  });

  it('counts routes not answered within the wait as none', async function () {
    const pair = channelPair();
    const workerRoutes = new PrimaryRoutes(pair.worker);
    // Nobody answers on the primary's side.
    assert.equal(await workerRoutes.routesIn('default', 0), RouteTable.EMPTY);
  });
});
