import assert from 'node:assert/strict';

import { compactSlice, type CompactSlice } from '../../src/lookaside/discovery/compact-slices.js';
import { ServiceEndpoints } from '../../src/lookaside/discovery/service-endpoints.js';
import { mergeSlices } from '../../src/lookaside/discovery/slices.js';
import type { ServiceSnapshot } from '../../src/lookaside/discovery/types.js';
import { seededRandom } from '../support/endpoints.js';

/** A raw EndpointSlice as the API sends it, for both compactSlice and mergeSlices. */
interface RawSlice {
  metadata: { name: string; resourceVersion: string; labels: Record<string, string> };
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  ports: Array<{ name?: string; port: number }> | null;
  endpoints: Array<{
    addresses: string[];
    conditions: { ready?: boolean | null; terminating?: boolean };
    targetRef?: { kind: 'Pod'; name: string };
    nodeName: string;
    zone: string;
  }> | null;
}

let version = 0;

function raw(name: string, endpoints: RawSlice['endpoints'], ports: RawSlice['ports'] = [{ name: 'grpc', port: 50051 }], addressType: RawSlice['addressType'] = 'IPv4'): RawSlice {
  return { metadata: { name, resourceVersion: String(++version), labels: { 'kubernetes.io/service-name': 'greet' } }, addressType, ports, endpoints };
}

function compact(slice: RawSlice): CompactSlice {
  const result = compactSlice(slice);
  if (result === undefined) throw new Error(`${slice.metadata.name} was not read`);
  return result;
}

/** The snapshot fields a consumer reads, without the fingerprint (whose form differs). */
function content(snapshot: ServiceSnapshot): unknown {
  return {
    sliceCount: snapshot.sliceCount,
    readyCount: snapshot.readyCount,
    notReadyCount: snapshot.notReadyCount,
    ports: [...snapshot.readyByPort].map(([name, endpoints]) => [name, endpoints.map((e) => ({ ...e }))]),
    portNumbers: [...snapshot.portNumbers],
  };
}

/** A random slice over a small pool of pods, so addresses move between slices and repeat. */
function randomSlice(random: () => number, name: string): RawSlice {
  const roll = random();
  if (roll < 0.05) return raw(name, null, null);
  if (roll < 0.08) return raw(name, [{ addresses: ['greet.example'], conditions: {}, nodeName: '', zone: '' }], [{ port: 80 }], 'FQDN');
  const ports: RawSlice['ports'] =
    roll < 0.2
      ? [{ name: 'grpc', port: 50051 }, { name: 'metrics', port: 9090 }]
      : roll < 0.3
        ? [{ port: 8080 }]
        : roll < 0.4
          ? [{ name: 'grpc', port: 50052 }] // a named target port that differs between pods
          : [{ name: 'grpc', port: 50051 }];
  const endpoints: NonNullable<RawSlice['endpoints']> = [];
  const count = Math.floor(random() * 8);
  for (let i = 0; i < count; i++) {
    const n = Math.floor(random() * 24);
    const ready = random();
    const ip = n % 7 === 0 ? `fd00::${n + 1}` : `10.0.0.${n + 1}`;
    endpoints.push({
      addresses: [random() < 0.03 ? 'not-an-ip' : ip],
      conditions: { ready: ready < 0.6 ? true : ready < 0.75 ? false : ready < 0.9 ? null : undefined, terminating: random() < 0.1 },
      ...(n % 5 === 0 ? {} : { targetRef: { kind: 'Pod' as const, name: `greet-${n}` } }),
      nodeName: `node-${n % 3}`,
      zone: `zone-${n % 2}`,
    });
  }
  return raw(name, endpoints, ports);
}

describe('ServiceEndpoints: a Service merged one slice at a time', () => {
  it('gives the same snapshot as merging every slice again, over 3,000 random slice writes and deletes', () => {
    const random = seededRandom(20_260_611);
    const current = new Map<string, RawSlice>();
    const view = new ServiceEndpoints();
    for (let step = 0; step < 3_000; step++) {
      const name = `greet-${Math.floor(random() * 6)}`;
      if (random() < 0.2) {
        current.delete(name);
        view.apply(name, undefined);
      } else {
        const slice = randomSlice(random, name);
        current.set(name, slice);
        view.apply(name, compact(slice));
      }
      if (random() < 0.5) continue; // several changes between snapshots, as a burst of events
      assert.deepEqual(content(view.snapshot()), content(mergeSlices([...current.values()])), `after step ${step}`);
    }
  });

  it('starts from the slices it is given', () => {
    const slices = [raw('a', [{ addresses: ['10.0.0.2'], conditions: {}, nodeName: 'n', zone: 'z' }]), raw('b', [{ addresses: ['10.0.0.1'], conditions: { ready: false }, nodeName: 'n', zone: 'z' }])];
    const view = new ServiceEndpoints(slices.map(compact));
    assert.deepEqual(content(view.snapshot()), content(mergeSlices(slices)));
  });

  it('keeps the same snapshot, fingerprint and all, when a write changes nothing it serves', () => {
    const endpoints = [{ addresses: ['10.0.0.1'], conditions: { ready: true }, nodeName: 'n', zone: 'z' }];
    const view = new ServiceEndpoints([compact(raw('a', endpoints))]);
    const first = view.snapshot();
    view.apply('a', compact(raw('a', endpoints)));
    assert.equal(view.snapshot(), first, 'a new resourceVersion with the same endpoints');
    view.apply('a', compact(raw('a', [{ ...endpoints[0]!, conditions: { ready: false } }])));
    const second = view.snapshot();
    assert.notEqual(second.fingerprint, first.fingerprint);
    assert.notEqual(new ServiceEndpoints().snapshot().fingerprint, new ServiceEndpoints().snapshot().fingerprint, 'two views never share fingerprints');
  });

  it('shows the new pod once an address is taken over by another pod (a pod replaced on the same IP)', () => {
    const at = (pod: string, ip: string): NonNullable<RawSlice['endpoints']>[number] => ({
      addresses: [ip],
      conditions: {},
      targetRef: { kind: 'Pod', name: pod },
      nodeName: 'n',
      zone: 'z',
    });
    const view = new ServiceEndpoints([compact(raw('a', [at('greet-old', '10.0.0.1'), at('greet-2', '10.0.0.2')]))]);
    view.snapshot();
    view.apply('a', compact(raw('a', [at('greet-new', '10.0.0.1'), at('greet-2', '10.0.0.2')])));
    const served = view.snapshot().readyByPort.get('grpc') ?? [];
    assert.deepEqual(
      served.map((endpoint) => `${endpoint.address} ${endpoint.podName}`),
      ['10.0.0.1:50051 greet-new', '10.0.0.2:50051 greet-2'],
    );
  });

  it('changes only what one slice brought when that slice of a 10,000-endpoint Service changes', () => {
    const slices = Array.from({ length: 100 }, (_, s) =>
      raw(`big-${s}`, Array.from({ length: 100 }, (_, i) => ({ addresses: [`10.${s}.0.${i + 1}`], conditions: {}, targetRef: { kind: 'Pod' as const, name: `p-${s}-${i}` }, nodeName: 'n', zone: 'z' }))),
    );
    const view = new ServiceEndpoints(slices.map(compact));
    const before = view.snapshot().readyByPort.get('grpc') ?? [];
    assert.equal(before.length, 10_000);

    const changed = raw('big-42', [...(slices[42]?.endpoints ?? []).slice(1), { addresses: ['10.42.1.1'], conditions: {}, nodeName: 'n', zone: 'z' }]);
    view.apply('big-42', compact(changed));
    const after = view.snapshot().readyByPort.get('grpc') ?? [];

    assert.equal(after.length, 10_000);
    const kept = new Set(before);
    const fresh = after.filter((endpoint) => !kept.has(endpoint));
    assert.deepEqual(fresh.map((endpoint) => endpoint.address), ['10.42.1.1:50051'], 'every other endpoint object is the one published before');
    assert.ok(!after.some((endpoint) => endpoint.address === '10.42.0.1:50051'));
    assert.deepEqual(after.map((e) => e.address), [...after.map((e) => e.address)].sort(), 'still sorted by address');
  });
});
