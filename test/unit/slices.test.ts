import assert from 'node:assert/strict';

import { mergeSlices } from '../../src/lookaside/discovery/slices.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';

function addresses(snapshot: ReturnType<typeof mergeSlices>, port = 'grpc'): string[] {
  return (snapshot.readyByPort.get(port) ?? []).map((endpoint) => endpoint.address);
}

describe('mergeSlices', () => {
  it('unites the endpoints of every slice of a Service', () => {
    const endpoints = Array.from({ length: 250 }, (_, i) => sliceEndpoint(i % 250));
    const snapshot = mergeSlices([
      slice(endpoints.slice(0, 100)),
      slice(endpoints.slice(100, 200)),
      slice(endpoints.slice(200)),
    ]);
    assert.equal(snapshot.sliceCount, 3);
    assert.equal(snapshot.readyCount, 250);
    assert.equal(addresses(snapshot).length, 250);
  });

  it('counts an address present in two slices once', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1), sliceEndpoint(2)]), slice([sliceEndpoint(2)])]);
    assert.deepEqual(addresses(snapshot), ['10.0.0.1:50051', '10.0.0.2:50051']);
  });

  it('treats an absent or null ready condition as ready, as the API says', () => {
    const snapshot = mergeSlices([
      slice([sliceEndpoint(1, undefined), sliceEndpoint(2, null), sliceEndpoint(3, { ready: null }), sliceEndpoint(4, {})]),
    ]);
    assert.equal(snapshot.readyCount, 4);
  });

  it('skips endpoints that are not ready', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1), sliceEndpoint(2, { ready: false })])]);
    assert.deepEqual(addresses(snapshot), ['10.0.0.1:50051']);
    assert.equal(snapshot.notReadyCount, 1);
  });

  it('skips endpoints whose pod is terminating, even while still ready', () => {
    const snapshot = mergeSlices([
      slice([sliceEndpoint(1), sliceEndpoint(2, { ready: true, terminating: true })]),
    ]);
    assert.deepEqual(addresses(snapshot), ['10.0.0.1:50051']);
    assert.equal(snapshot.notReadyCount, 1);
  });

  it('gives no slices a snapshot with no slices (scaled to zero or no Service)', () => {
    const snapshot = mergeSlices([]);
    assert.equal(snapshot.sliceCount, 0);
    assert.equal(snapshot.readyByPort.size, 0);
  });

  it('keeps the ports of slices that have no ready endpoint', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1, { ready: false })])]);
    assert.equal(snapshot.sliceCount, 1);
    assert.deepEqual(addresses(snapshot), []);
    assert.ok(snapshot.readyByPort.has('grpc'));
  });

  it('lists endpoints per named port and sorts them by address', () => {
    const snapshot = mergeSlices([
      slice([sliceEndpoint(3), sliceEndpoint(1)], [{ name: 'grpc', port: 50051 }, { name: 'metrics', port: 9095 }]),
    ]);
    assert.deepEqual(addresses(snapshot, 'grpc'), ['10.0.0.1:50051', '10.0.0.3:50051']);
    assert.deepEqual(addresses(snapshot, 'metrics'), ['10.0.0.1:9095', '10.0.0.3:9095']);
  });

  it('names an unnamed port ""', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1)], [{ port: 80 }])]);
    assert.deepEqual(addresses(snapshot, ''), ['10.0.0.1:80']);
  });

  it('carries pod, zone and node of each endpoint', () => {
    const [first] = mergeSlices([slice([sliceEndpoint(4)])]).readyByPort.get('grpc') ?? [];
    assert.deepEqual(first, {
      address: '10.0.0.4:50051',
      ip: '10.0.0.4',
      port: 50051,
      podName: 'pod-4',
      zone: 'zone-1',
      nodeName: 'node-0',
    });
  });

  it('formats IPv6 addresses as [ip]:port', () => {
    const snapshot = mergeSlices([
      { addressType: 'IPv6', ports: [{ name: 'grpc', port: 50051 }], endpoints: [{ addresses: ['fd00::1'] }] },
    ]);
    assert.deepEqual(addresses(snapshot), ['[fd00::1]:50051']);
  });

  it('ignores FQDN slices, ports without a number and malformed addresses', () => {
    const snapshot = mergeSlices([
      { addressType: 'FQDN', ports: [{ name: 'grpc', port: 1 }], endpoints: [{ addresses: ['example.com'] }] },
      slice([sliceEndpoint(1)], [{ name: 'grpc', port: null }]),
      slice([{ addresses: ['not-an-ip'] }, { addresses: [] }, sliceEndpoint(2)]),
    ]);
    assert.deepEqual(addresses(snapshot), ['10.0.0.2:50051']);
  });

  it('counts an IP ready in one slice and not ready in another as ready', () => {
    const snapshot = mergeSlices([slice([sliceEndpoint(1)]), slice([sliceEndpoint(1, { ready: false })])]);
    assert.equal(snapshot.readyCount, 1);
    assert.equal(snapshot.notReadyCount, 0);
  });

  it('gives equal content equal fingerprints and different content different ones', () => {
    const a = mergeSlices([slice([sliceEndpoint(1), sliceEndpoint(2)])]);
    const b = mergeSlices([slice([sliceEndpoint(2)]), slice([sliceEndpoint(1)])]);
    const c = mergeSlices([slice([sliceEndpoint(1), sliceEndpoint(2, { ready: false })])]);
    assert.notEqual(a.fingerprint, c.fingerprint);
    assert.equal(
      a.fingerprint.split(';').slice(1).join(';'),
      b.fingerprint.split(';').slice(1).join(';'),
    );
  });
});
