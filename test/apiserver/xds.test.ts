import assert from 'node:assert/strict';

import { AdsClient, type AdsResponse } from '../support/ads-client.js';
import type { ControlPlane } from '../support/control-plane.js';
import { controlPlaneFor } from './fixture.js';
import { LookasideUnderTest } from './lookaside.js';
import { addressOf, Cluster, endpointSlice, GRPC_PORT, podIp, summarize, uniqueName, type EndpointSpec } from './objects.js';

/** The bound: an EndpointSlice write reaches xDS clients within this. */
const PUSH_LIMIT_MS = 1_000;

function readyEndpoints(block: number, count: number, from = 0): EndpointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ ip: podIp(block, from + i), ready: true }));
}

function addressesOf(endpoints: readonly EndpointSpec[]): string[] {
  return endpoints.map((endpoint) => addressOf(endpoint.ip)).sort();
}

/** The addresses of the one ClusterLoadAssignment in `response`, sorted. */
function assignment(response: AdsResponse): string[] {
  const [cla] = response.resources.values();
  const localities = (cla?.['endpoints'] ?? []) as Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }>;
  return localities.flatMap((locality) => locality.lb_endpoints.map((lb) => `${lb.endpoint.address.socket_address.address}:${lb.endpoint.address.socket_address.port_value}`)).sort();
}

describe('lookaside on a real kube-apiserver: what an xDS client sees of EndpointSlice writes', function () {
  this.timeout(60_000);
  let plane: ControlPlane;
  let cluster: Cluster;
  let lookaside: LookasideUnderTest;
  let namespace: string;
  const clients: AdsClient[] = [];
  /** Write sent → the client has the push, per kind of write. */
  const delaysMs = new Map<string, number[]>();

  before(async function () {
    plane = await controlPlaneFor(this);
    cluster = new Cluster(plane.admin);
    namespace = uniqueName('xds');
    await cluster.createNamespace(namespace);
    lookaside = await LookasideUnderTest.start(plane.adminKubeconfig);
  });

  after(async () => {
    for (const client of clients) client.close();
    await lookaside?.stop();
    const all = [...delaysMs.values()].flat();
    if (all.length === 0) return;
    console.log(`      EndpointSlice write sent → xDS client has the push, all writes: ${summarize(all)}`);
    for (const [kind, samples] of delaysMs) console.log(`        ${kind}: ${summarize(samples)}`);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(lookaside?.process.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n'));
  });

  /** A Service with `endpoints` in one slice, and a client subscribed to its Listener and assignment (both ACKed). */
  async function subscribed(endpoints: EndpointSpec[]): Promise<{ service: string; client: AdsClient }> {
    const service = uniqueName('svc');
    await cluster.createService(namespace, service);
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
    const client = AdsClient.open(lookaside.target, { id: service, locality: { zone: 'test' } });
    clients.push(client);
    client.request('listener', [`${service}.${namespace}:${GRPC_PORT}`]);
    const listener = await client.next('listener');
    assert.equal(listener.resources.size, 1, 'the Listener exists');
    client.ack(listener);
    client.request('endpoint', [`${service}.${namespace}.svc.cluster.local:${GRPC_PORT}`]);
    const first = await client.next('endpoint');
    assert.deepEqual(assignment(first), addressesOf(endpoints));
    client.ack(first);
    return { service, client };
  }

  /** Makes a write and waits for the assignment the client gets next to equal `expected`, recording the delay. */
  async function change(kind: string, client: AdsClient, write: () => Promise<unknown>, expected: readonly string[]): Promise<void> {
    const sinceMs = Date.now();
    await write();
    for (;;) {
      const response = await client.next('endpoint', 5_000);
      client.ack(response, [...response.resources.keys()]);
      if (JSON.stringify(assignment(response)) !== JSON.stringify(expected)) continue;
      const delayMs = response.atMs - sinceMs;
      delaysMs.set(kind, [...(delaysMs.get(kind) ?? []), delayMs]);
      assert.ok(delayMs <= PUSH_LIMIT_MS, `${kind}: the push came ${delayMs} ms after the write`);
      return;
    }
  }

  it('pushes an added endpoint, a readiness flip both ways and a terminating endpoint', async () => {
    const endpoints = readyEndpoints(20, 3);
    const { service, client } = await subscribed(endpoints);
    const name = `${service}-a`;
    const grown = [...endpoints, { ip: podIp(20, 3), ready: true }];
    await change('endpoint added', client, () => cluster.replaceSlice(endpointSlice(namespace, service, name, grown)), addressesOf(grown));
    for (const index of [0, 2]) {
      await change('not ready', client, () => cluster.patchEndpoint(namespace, name, index, { ready: false }), addressesOf(grown.filter((_, i) => i !== index)));
      await change('ready again', client, () => cluster.patchEndpoint(namespace, name, index, { ready: true }), addressesOf(grown));
    }
    await change('terminating', client, () => cluster.patchEndpoint(namespace, name, 1, { terminating: true }), addressesOf(grown.filter((_, i) => i !== 1)));
  });

  it('merges several slices, and follows the deletion of one', async () => {
    const first = readyEndpoints(21, 50, 0);
    const { service, client } = await subscribed(first);
    const second = readyEndpoints(21, 50, 100);
    const third = readyEndpoints(21, 20, 200);
    await change('slice created', client, () => cluster.createSlice(endpointSlice(namespace, service, `${service}-b`, second)), addressesOf([...first, ...second]));
    await change('slice created', client, () => cluster.createSlice(endpointSlice(namespace, service, `${service}-c`, third)), addressesOf([...first, ...second, ...third]));
    await change('slice deleted', client, () => cluster.deleteSlice(namespace, `${service}-b`), addressesOf([...first, ...third]));
  });

  it('sends an empty assignment on a scale to zero, keeping the Listener, and the endpoints on the way back', async () => {
    const endpoints = readyEndpoints(22, 4);
    const { service, client } = await subscribed(endpoints);
    const listenersBefore = client.received('listener').length;
    await change('scale to zero', client, () => cluster.replaceSlice(endpointSlice(namespace, service, `${service}-a`, [])), []);
    const back = readyEndpoints(22, 2, 10);
    await change('scale up from zero', client, () => cluster.replaceSlice(endpointSlice(namespace, service, `${service}-a`, back)), addressesOf(back));
    assert.equal(client.received('listener').length, listenersBefore, 'the Listener never changed');
  });

  it('drops the Listener once the last slice of the Service is deleted', async () => {
    const { service, client } = await subscribed(readyEndpoints(23, 2));
    const sinceMs = Date.now();
    await cluster.deleteSlice(namespace, `${service}-a`);
    const listener = await client.next('listener', 5_000);
    assert.equal(listener.resources.size, 0);
    const delayMs = listener.atMs - sinceMs;
    delaysMs.set('Service gone (Listener)', [...(delaysMs.get('Service gone (Listener)') ?? []), delayMs]);
    assert.ok(delayMs <= PUSH_LIMIT_MS, `the Listener went ${delayMs} ms after the write`);
  });
});
