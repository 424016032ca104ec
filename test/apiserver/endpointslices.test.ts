import assert from 'node:assert/strict';

import { bufCurl } from '../support/buf-curl.js';
import type { ControlPlane } from '../support/control-plane.js';
import { controlPlaneFor } from './fixture.js';
import { errorView, LookasideUnderTest, readyView, type View } from './lookaside.js';
import { addressOf, Cluster, endpointSlice, podIp, summarize, uniqueName, type EndpointSpec } from './objects.js';

/** `count` ready endpoints numbered from `from` in address block `block`. */
function readyEndpoints(block: number, count: number, from = 0): EndpointSpec[] {
  return Array.from({ length: count }, (_, i) => ({ ip: podIp(block, from + i), ready: true }));
}

function addresses(endpoints: readonly EndpointSpec[]): string[] {
  return endpoints.map((endpoint) => addressOf(endpoint.ip));
}

describe('lookaside on a real kube-apiserver: EndpointSlices written through the API', function () {
  this.timeout(60_000);
  let plane: ControlPlane;
  let cluster: Cluster;
  let lookaside: LookasideUnderTest;
  let namespace: string;
  /** API write acknowledged → Resolve shows it, per kind of change. */
  const delaysMs = new Map<string, number[]>();
  /** The API's own answer time for those writes, for scale. */
  const writeMs: number[] = [];

  before(async function () {
    plane = await controlPlaneFor(this);
    cluster = new Cluster(plane.admin);
    namespace = uniqueName('slices');
    await cluster.createNamespace(namespace);
    lookaside = await LookasideUnderTest.start(plane.adminKubeconfig);
  });

  after(async function () {
    await lookaside?.stop();
    const all = [...delaysMs.values()].flat();
    if (all.length === 0) return;
    console.log(`      API write sent → Resolve shows it, all changes: ${summarize(all)} (the write itself: ${summarize(writeMs)})`);
    for (const [kind, samples] of delaysMs) console.log(`        ${kind}: ${summarize(samples)}`);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(lookaside?.process.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n'));
  });

  /**
   * Makes one change through the API and waits for Resolve to show `expected`,
   * recording the delay from the moment the write was sent (the watch event
   * often reaches the lookaside before the write's own answer reaches the test).
   */
  async function change(kind: string, service: string, write: () => Promise<unknown>, expected: View): Promise<void> {
    const sinceMs = Date.now();
    await write();
    writeMs.push(Date.now() - sinceMs);
    const delayMs = await lookaside.waitForView(namespace, service, expected, { sinceMs });
    delaysMs.set(kind, [...(delaysMs.get(kind) ?? []), delayMs]);
  }

  async function newService(): Promise<string> {
    const service = uniqueName('svc');
    await cluster.createService(namespace, service);
    return service;
  }

  it('answers NOT_FOUND for a Service that has no EndpointSlice yet, then serves the first one once NEGATIVE_CACHE_SECONDS are over', async function () {
    const service = await newService();
    const answer = await lookaside.resolve(namespace, service);
    assert.equal(answer.ok, false);
    assert.equal(!answer.ok && answer.code, 'NOT_FOUND');
    assert.match(!answer.ok ? answer.details : '', /kubernetes\.io\/service-name=/);

    // Not through change(): the name is remembered as missing for up to 5 s, which is no watch delay.
    const endpoints = readyEndpoints(1, 3);
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
    await lookaside.waitForView(namespace, service, readyView(addresses(endpoints)));
  });

  it('rotates over exactly the ready endpoints (ready null counts as ready; false does not)', async function () {
    const service = await newService();
    const endpoints: EndpointSpec[] = [
      { ip: podIp(2, 0), ready: true },
      { ip: podIp(2, 1), ready: true },
      { ip: podIp(2, 2), ready: false },
      { ip: podIp(2, 3), ready: null },
      { ip: podIp(2, 4) },
    ];
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, endpoints));
    const expected = [podIp(2, 0), podIp(2, 1), podIp(2, 3), podIp(2, 4)].map(addressOf).sort();
    await lookaside.waitForView(namespace, service, readyView(expected));

    const handedOut: string[] = [];
    for (let i = 0; i < expected.length * 3; i++) {
      const answer = await lookaside.resolve(namespace, service);
      assert.ok(answer.ok, `Resolve failed: ${JSON.stringify(answer)}`);
      assert.equal(answer.readyEndpoints, expected.length);
      handedOut.push(answer.address);
    }
    // Round robin: three full rotations in one fixed order, each address once per rotation.
    const rotation = handedOut.slice(0, expected.length);
    assert.deepEqual([...rotation].sort(), expected);
    assert.deepEqual(handedOut, [...rotation, ...rotation, ...rotation]);

    // A real reflection client (as an operator would use grpcurl) sees the same endpoints.
    const viaBuf = await bufCurl(lookaside.target, 'lookaside.v1.Lookaside/Resolve', { service, namespace });
    assert.equal(viaBuf.exitCode, 0, viaBuf.stderr);
    assert.ok(expected.includes(String(viaBuf.body?.['address'])), viaBuf.stdout);
  });

  it('follows readiness flips both ways, one endpoint at a time', async function () {
    const service = await newService();
    const endpoints = readyEndpoints(3, 6);
    const name = `${service}-a`;
    await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
    const all = addresses(endpoints);
    await lookaside.waitForView(namespace, service, readyView(all));

    for (let round = 0; round < 5; round++) {
      const index = (round * 2 + 1) % endpoints.length;
      await change('readiness flip', service, () => cluster.patchEndpoint(namespace, name, index, { ready: false }), readyView(all.filter((_, i) => i !== index)));
      await change('readiness flip', service, () => cluster.patchEndpoint(namespace, name, index, { ready: true }), readyView(all));
    }
  });

  it('answers UNAVAILABLE when no endpoint is ready, and recovers', async function () {
    const service = await newService();
    const endpoints = readyEndpoints(4, 2);
    const name = `${service}-a`;
    await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
    await lookaside.waitForView(namespace, service, readyView(addresses(endpoints)));

    await change('readiness flip', service, () => cluster.patchEndpoint(namespace, name, 0, { ready: false }), readyView(addresses(endpoints).slice(1)));
    await change('readiness flip', service, () => cluster.patchEndpoint(namespace, name, 1, { ready: false }), errorView('UNAVAILABLE'));
    await change('readiness flip', service, () => cluster.patchEndpoint(namespace, name, 1, { ready: true }), readyView(addresses(endpoints).slice(1)));
  });

  it('stops handing out an endpoint once it is terminating, even while it is still ready', async function () {
    const service = await newService();
    const endpoints = readyEndpoints(5, 4);
    const name = `${service}-a`;
    await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
    await lookaside.waitForView(namespace, service, readyView(addresses(endpoints)));

    // A rolling update: the old pod is terminating but still serving (ready stays true).
    await change('terminating', service, () => cluster.patchEndpoint(namespace, name, 2, { terminating: true }), readyView(addresses(endpoints).filter((_, i) => i !== 2)));
    const replaced = [...endpoints.filter((_, i) => i !== 2), { ip: podIp(5, 10), ready: true }];
    await change('endpoints replaced', service, () => cluster.replaceSlice(endpointSlice(namespace, service, name, replaced)), readyView(addresses(replaced)));
  });

  it('merges a second and a third slice (250 endpoints), and follows the deletion of one', async function () {
    const service = await newService();
    const first = readyEndpoints(6, 100, 0);
    const second = readyEndpoints(6, 100, 100);
    const third = readyEndpoints(6, 50, 200);
    await change('slice created', service, () => cluster.createSlice(endpointSlice(namespace, service, `${service}-1`, first)), readyView(addresses(first)));
    await change('slice created', service, () => cluster.createSlice(endpointSlice(namespace, service, `${service}-2`, second)), readyView(addresses([...first, ...second])));
    await change('slice created', service, () => cluster.createSlice(endpointSlice(namespace, service, `${service}-3`, third)), readyView(addresses([...first, ...second, ...third])));

    // A readiness flip deep inside the third slice is still seen.
    await change('readiness flip', service, () => cluster.patchEndpoint(namespace, `${service}-3`, 49, { ready: false }), readyView(addresses([...first, ...second, ...third.slice(0, 49)])));
    await change('slice deleted', service, () => cluster.deleteSlice(namespace, `${service}-2`), readyView(addresses([...first, ...third.slice(0, 49)])));
  });

  it('answers NOT_FOUND once the last slice is deleted, and serves a slice created again', async function () {
    const service = await newService();
    const endpoints = readyEndpoints(7, 3);
    const name = `${service}-a`;
    await cluster.createSlice(endpointSlice(namespace, service, name, endpoints));
    await lookaside.waitForView(namespace, service, readyView(addresses(endpoints)));

    await change('slice deleted', service, () => cluster.deleteSlice(namespace, name), errorView('NOT_FOUND'));
    const recreated = readyEndpoints(7, 2, 10);
    await change('slice created', service, () => cluster.createSlice(endpointSlice(namespace, service, name, recreated)), readyView(addresses(recreated)));
  });

  it('scales to zero (slices kept, no endpoints) and back', async function () {
    const service = await newService();
    const slices = [readyEndpoints(8, 60, 0), readyEndpoints(8, 60, 100)];
    for (const [i, endpoints] of slices.entries()) await cluster.createSlice(endpointSlice(namespace, service, `${service}-${i}`, endpoints));
    await lookaside.waitForView(namespace, service, readyView(addresses(slices.flat())));

    // The EndpointSlice controller keeps one empty slice for a Service with no pods and deletes the rest.
    await cluster.deleteSlice(namespace, `${service}-1`);
    await change('scale to zero', service, () => cluster.replaceSlice(endpointSlice(namespace, service, `${service}-0`, [])), errorView('UNAVAILABLE'));
    const back = readyEndpoints(8, 3, 200);
    await change('scale up from zero', service, () => cluster.replaceSlice(endpointSlice(namespace, service, `${service}-0`, back)), readyView(addresses(back)));
  });

  it('drops a slice relabelled to another Service (the label selector stops matching), and the other Service gains it', async function () {
    const service = await newService();
    const other = await newService();
    const kept = readyEndpoints(10, 2, 0);
    const moved = readyEndpoints(10, 3, 10);
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, kept));
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-b`, moved));
    await cluster.createSlice(endpointSlice(namespace, other, `${other}-a`, []));
    await lookaside.waitForView(namespace, service, readyView(addresses([...kept, ...moved])));
    await lookaside.waitForView(namespace, other, errorView('UNAVAILABLE'));

    await change('slice relabelled', service, () => cluster.relabelSlice(namespace, `${service}-b`, other), readyView(addresses(kept)));
    await lookaside.waitForView(namespace, other, readyView(addresses(moved)));
  });

  it('follows 200 Services at once (one list and one watch for their namespace) and sees a change in every one', async function () {
    const count = 200;
    const services = Array.from({ length: count }, (_, i) => ({ name: `many-${i}`, ips: [podIp(100 + (i % 100), 2 * i), podIp(100 + (i % 100), 2 * i + 1)] }));
    for (const { name, ips } of services) {
      await cluster.createService(namespace, name);
      await cluster.createSlice(endpointSlice(namespace, name, `${name}-a`, ips.map((ip) => ({ ip, ready: true }))));
    }
    // Every first Resolve at once: the namespace is already listed and watched for the other tests'
    // Services, so each is answered from memory; past 64 lookups under way at once the rest answer
    // UNAVAILABLE "retry shortly" and are retried.
    await Promise.all(services.map(({ name, ips }) => lookaside.waitForView(namespace, name, readyView(ips.map(addressOf)), { timeoutMs: 60_000 })));

    for (const { name } of services) await cluster.patchEndpoint(namespace, `${name}-a`, 0, { ready: false });
    const sinceMs = Date.now();
    for (const { name, ips } of services) await lookaside.waitForView(namespace, name, readyView([addressOf(ips[1]!)]), { sinceMs });
    assert.ok((await lookaside.metric('lookaside_watched_services')) >= count);
  });

  it('keeps Services of the same name in two namespaces apart', async function () {
    const service = await newService();
    const otherNamespace = uniqueName('slices-other');
    await cluster.createNamespace(otherNamespace);
    await cluster.createService(otherNamespace, service);
    const here = readyEndpoints(9, 2, 0);
    const there = readyEndpoints(9, 3, 10);
    await cluster.createSlice(endpointSlice(namespace, service, `${service}-a`, here));
    await cluster.createSlice(endpointSlice(otherNamespace, service, `${service}-a`, there));

    await lookaside.waitForView(namespace, service, readyView(addresses(here)));
    await lookaside.waitForView(otherNamespace, service, readyView(addresses(there)));
    await change('readiness flip', service, () => cluster.patchEndpoint(namespace, `${service}-a`, 0, { ready: false }), readyView(addresses(here.slice(1))));
    await lookaside.waitForView(otherNamespace, service, readyView(addresses(there)));
  });
});
