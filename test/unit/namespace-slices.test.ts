import assert from 'node:assert/strict';

import type { CompactSlice } from '../../src/lookaside/discovery/compact-slices.js';
import { NamespaceSlices } from '../../src/lookaside/discovery/namespace-slices.js';
import type { DiscoveryState } from '../../src/lookaside/discovery/types.js';

let version = 0;

/** A slice of `service` with ready endpoints at 10.0.0.<n>, one port named grpc. */
function slice(name: string, service: string, ...hosts: number[]): CompactSlice {
  return {
    name,
    service,
    resourceVersion: String(++version),
    ports: [{ name: 'grpc', port: 50051 }],
    portsSignature: 'grpc:50051',
    ips: hosts.map((n) => `10.0.0.${n}`),
    pods: hosts.map((n) => `pod-${n}`),
    sites: hosts.map(() => ({ zone: '', nodeName: '' })),
    servable: Uint8Array.from(hosts.map(() => 1)),
  };
}

/** What a subscriber was told, in a form easy to compare: served addresses, `missing` or `failed: …`. */
function describe_(state: DiscoveryState): string {
  if (state.kind === 'failed') return `failed: ${state.failure.message}`;
  if (state.kind === 'pending') return 'pending';
  if (state.snapshot.sliceCount === 0) return 'missing';
  return (state.snapshot.readyByPort.get('grpc') ?? []).map((endpoint) => endpoint.ip).join(',');
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('NamespaceSlices: one namespace’s slices, shared by the Services followed in it', () => {
  let emptied: number;
  let store: NamespaceSlices;

  beforeEach(() => {
    emptied = 0;
    store = new NamespaceSlices(() => emptied++);
  });

  function follow(service: string, endIfMissing = false): { states: string[]; stop: () => void } {
    const states: string[] = [];
    const subscription = store.subscribe(service, (state) => states.push(describe_(state)), endIfMissing);
    return { states, stop: () => subscription.stop() };
  }

  it('answers every Service followed before the list once it arrives, and nothing before', async () => {
    const greet = follow('greet');
    const billing = follow('billing');
    await settle();
    assert.deepEqual([greet.states, billing.states], [[], []]);

    store.listed([slice('greet-a', 'greet', 1, 2), slice('billing-a', 'billing', 3), slice('other-a', 'other', 4)]);
    assert.deepEqual(greet.states, ['10.0.0.1,10.0.0.2']);
    assert.deepEqual(billing.states, ['10.0.0.3']);
    assert.equal(store.sliceCount, 3, 'the slices of Services nobody follows are held too');
  });

  it('answers a Service followed after the list from memory, on a later turn of the event loop', async () => {
    store.listed([slice('greet-a', 'greet', 1)]);
    const greet = follow('greet');
    assert.deepEqual(greet.states, [], 'never from inside subscribe');
    await settle();
    assert.deepEqual(greet.states, ['10.0.0.1']);
  });

  it('delivers a burst of changes once, and only to the Service they belong to', async () => {
    store.listed([slice('greet-a', 'greet', 1), slice('billing-a', 'billing', 3)]);
    const greet = follow('greet');
    const billing = follow('billing');
    await settle();
    store.changed({ type: 'MODIFIED', item: slice('greet-a', 'greet', 1, 2) });
    store.changed({ type: 'ADDED', item: slice('greet-b', 'greet', 5) });
    store.changed({ type: 'ADDED', item: slice('unfollowed-a', 'unfollowed', 9) });
    await settle();
    assert.deepEqual(greet.states, ['10.0.0.1', '10.0.0.1,10.0.0.2,10.0.0.5']);
    assert.deepEqual(billing.states, ['10.0.0.3'], 'untouched Services hear nothing');
  });

  it('moves a slice whose Service label changed to the other Service', async () => {
    store.listed([slice('moving', 'greet', 1), slice('greet-b', 'greet', 2)]);
    const greet = follow('greet');
    const billing = follow('billing');
    await settle();
    store.changed({ type: 'MODIFIED', item: slice('moving', 'billing', 1) });
    await settle();
    assert.deepEqual(greet.states, ['10.0.0.1,10.0.0.2', '10.0.0.2']);
    assert.deepEqual(billing.states, ['missing', '10.0.0.1']);
  });

  it('applies a re-list as the differences from what it held: changed, vanished and new slices', async () => {
    const kept = slice('greet-kept', 'greet', 1);
    store.listed([kept, slice('greet-gone', 'greet', 2)]);
    const greet = follow('greet');
    await settle();
    store.listed([kept]);
    store.listed([kept]);
    assert.deepEqual(greet.states, ['10.0.0.1,10.0.0.2', '10.0.0.1'], 'an unchanged re-list tells nobody anything');
  });

  it('ends a lookup that finds its Service missing by itself, and says when nobody is left', async () => {
    const lookup = follow('nosuch', true);
    store.listed([slice('greet-a', 'greet', 1)]);
    assert.deepEqual(lookup.states, ['missing']);
    assert.equal(emptied, 1, 'the namespace is let go at once, inside the list’s delivery');
    store.changed({ type: 'ADDED', item: slice('nosuch-a', 'nosuch', 7) });
    await settle();
    assert.deepEqual(lookup.states, ['missing'], 'nothing more is delivered');
  });

  it('passes a failure before the first list to everyone waiting, then the list when a retry works', async () => {
    const greet = follow('greet');
    store.failed({ kind: 'forbidden', message: 'HTTP 403' });
    assert.deepEqual(greet.states, ['failed: HTTP 403']);
    const late = follow('greet');
    await settle();
    assert.deepEqual(late.states, ['failed: HTTP 403'], 'a newcomer hears the last failure rather than waiting');
    store.listed([slice('greet-a', 'greet', 1)]);
    assert.deepEqual(greet.states, ['failed: HTTP 403', '10.0.0.1']);
  });

  it('will not call a name missing while its watch is failing, but keeps serving what it holds', async () => {
    store.listed([slice('greet-a', 'greet', 1)]);
    const greet = follow('greet');
    await settle();
    store.failed({ kind: 'unavailable', message: 'the API server is unreachable' });
    assert.deepEqual(greet.states, ['10.0.0.1'], 'a Service already answered keeps its endpoints, with no failure');

    const newcomer = follow('created-meanwhile', true);
    const known = follow('greet');
    await settle();
    assert.deepEqual(newcomer.states, ['failed: the API server is unreachable'], 'what is held may be stale');
    assert.deepEqual(known.states, ['10.0.0.1']);

    store.listed([slice('greet-a', 'greet', 1)]);
    const again = follow('created-meanwhile', true);
    await settle();
    assert.deepEqual(again.states, ['missing'], 'once listed again, a missing name is missing');
  });

  it('stops delivering to a subscriber that stopped, and lets the namespace go with the last one', async () => {
    store.listed([slice('greet-a', 'greet', 1)]);
    const first = follow('greet');
    const second = follow('greet');
    await settle();
    first.stop();
    assert.equal(emptied, 0);
    store.changed({ type: 'DELETED', name: 'greet-a', resourceVersion: '99' });
    await settle();
    assert.deepEqual(first.states, ['10.0.0.1']);
    assert.deepEqual(second.states, ['10.0.0.1', 'missing'], 'a Service whose slices all went is missing');
    second.stop();
    second.stop();
    assert.equal(emptied, 1);
  });
});
