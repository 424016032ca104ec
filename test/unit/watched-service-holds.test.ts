import assert from 'node:assert/strict';

import type { ResolveQuery } from '../../src/lookaside/resolver.js';
import type { WatchedService } from '../../src/lookaside/watched-services.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { FakeSource } from '../support/fake-source.js';
import { resolverStack, type ResolverStack } from '../support/resolver-stack.js';

const IDLE_MS = 60_000;
const GREET: ResolveQuery = { service: 'greet', namespace: 'default', policy: undefined, portName: '' };

describe('watched Services held by subscribers, and their snapshot listeners', () => {
  let source: FakeSource;
  let h: ResolverStack;
  let greet: WatchedService;

  beforeEach(async () => {
    source = new FakeSource();
    h = resolverStack(source, { idleTimeoutMs: IDLE_MS });
    const first = h.resolver.resolve(GREET);
    source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
    assert.ok((await first).ok);
    const acquired = h.services.acquire({ namespace: 'default', name: 'greet' });
    assert.equal(acquired.kind, 'watched');
    greet = (acquired as { service: WatchedService }).service;
  });

  afterEach(() => h.services.close());

  it('keeps a held Service watched however long it goes without a Resolve', () => {
    const release = h.services.hold(greet);
    h.clock.nowMs += 10 * IDLE_MS;
    h.services.sweepIdle();
    assert.equal(h.services.size, 1);
    assert.ok(source.followed.has('default/greet'), 'its watch is still open');
    release();
  });

  it('lets it go idle IDLE_TIMEOUT after the last holder let go, not after the last Resolve', () => {
    const releaseOne = h.services.hold(greet);
    const releaseTwo = h.services.hold(greet);
    h.clock.nowMs += 2 * IDLE_MS;
    releaseOne();
    h.services.sweepIdle();
    assert.equal(h.services.size, 1, 'one holder is left');
    releaseTwo();
    releaseTwo();
    h.clock.nowMs += IDLE_MS - 1;
    h.services.sweepIdle();
    assert.equal(h.services.size, 1, 'idle only from the release');
    h.clock.nowMs += 2;
    h.services.sweepIdle();
    assert.equal(h.services.size, 0);
    assert.ok(!source.followed.has('default/greet'), 'its watch is closed');
  });

  it('calls a listener after each new snapshot, never from inside the change, and not once it stopped listening', async () => {
    const seen: number[] = [];
    const stop = greet.onSnapshot((service) => seen.push(service.snapshot.readyCount));
    source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2)])]);
    assert.deepEqual(seen, [], 'not synchronously');
    await Promise.resolve();
    assert.deepEqual(seen, [2]);

    source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2)])]);
    await Promise.resolve();
    assert.deepEqual(seen, [2], 'an identical snapshot is no change');

    source.publishSlices('default/greet', [slice([sliceEndpoint(3)])]);
    stop();
    await Promise.resolve();
    assert.deepEqual(seen, [2], 'a listener removed before its call is not called');
  });

  it('hands Resolve the new snapshot at once, listeners or not', async () => {
    greet.onSnapshot(() => undefined);
    source.publishSlices('default/greet', [slice([sliceEndpoint(7)])]);
    const outcome = await h.resolver.resolve(GREET);
    assert.ok(outcome.ok);
    assert.equal(outcome.endpoint.ip, '10.0.0.7');
  });
});
