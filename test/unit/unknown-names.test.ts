import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { silentLogger } from '../../src/common/logging.js';
import { FileDiscovery } from '../../src/lookaside/discovery/file.js';
import type { DiscoverySource } from '../../src/lookaside/discovery/types.js';
import type { ResolveOutcome, ResolveQuery } from '../../src/lookaside/resolver.js';
import {
  FAILED_LOOKUP_TTL_MS,
  LOOKUP_ABANDON_MS,
  MAX_MISSING_NAMES,
  type WatchedServicesOptions,
} from '../../src/lookaside/watched-services.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { FakeSource } from '../support/fake-source.js';
import { resolverStack, type ResolverStack } from '../support/resolver-stack.js';

const TTL_MS = 5_000;

type Harness = ResolverStack;

function harness(source: DiscoverySource, options: Partial<WatchedServicesOptions> = {}): Harness {
  return resolverStack(source, { missingTtlMs: TTL_MS, ...options });
}

function query(service: string): ResolveQuery {
  return { service, namespace: 'default', policy: undefined, portName: '' };
}

function reason(outcome: ResolveOutcome): string {
  return outcome.ok ? 'ok' : outcome.reason;
}

/** Resolves `greet` for the first time and answers its lookup with one ready endpoint. */
async function watchGreet(h: Harness, source: FakeSource): Promise<void> {
  const first = h.resolver.resolve(query('greet'));
  source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
  assert.ok((await first).ok);
}

/** A fake where only `exists` has endpoints; every other name is answered missing. */
function answeringSource(exists: Set<string>): FakeSource {
  const source = new FakeSource();
  source.answer = (id) => (exists.has(id) ? [slice([sliceEndpoint(1)])] : []);
  return source;
}

describe('names that are not Services', () => {
  let h: Harness | undefined;
  afterEach(() => h?.services.close());

  it('answers a real Service after 100,000 made-up names, which took no MAX_SERVICES slot and bounded memory', async function () {
    this.timeout(60_000);
    const directory = await mkdtemp(join(tmpdir(), 'lookaside-names-'));
    const file = join(directory, 'endpoints.yaml');
    await writeFile(file, 'services:\n  - name: greet\n    endpoints: [{ address: "10.0.0.1:50051" }]\n');
    const source = await FileDiscovery.open(file, silentLogger());
    try {
      h = harness(source, { maxServices: 10 });
      const resolver = h.resolver;
      // 50 at a time: as many concurrent first Resolves as a busy client sends.
      for (let first = 1; first <= 100_000; first += 50) {
        const batch = Array.from({ length: 50 }, (_, i) => resolver.resolve(query(`bogus-${first + i}`)));
        for (const outcome of await Promise.all(batch)) assert.equal(reason(outcome), 'not-found');
      }
      assert.equal(h.services.size, 0, 'no made-up name is watched');
      assert.ok(h.services.missingCount <= MAX_MISSING_NAMES, `${h.services.missingCount} missing names remembered`);

      const real = await resolver.resolve(query('greet'));
      assert.ok(real.ok, JSON.stringify(real));
      assert.equal(real.endpoint.address, '10.0.0.1:50051');
      assert.equal(h.services.size, 1);
      assert.doesNotMatch(await h.registry.metrics(), /service="bogus-/, 'no per-Service series for made-up names');
    } finally {
      await source.close();
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('answers a name found missing from memory, with no new lookup, until NEGATIVE_CACHE_SECONDS pass however often it is asked', async () => {
    const exists = new Set<string>();
    const source = answeringSource(exists);
    h = harness(source);
    assert.equal(reason(await h.resolver.resolve(query('later'))), 'not-found');
    assert.deepEqual(source.followOptions.get('default/later'), { endIfMissing: true }, 'a lookup, not a watch');
    assert.equal(source.followed.has('default/later'), false, 'the lookup stopped once it found nothing');

    exists.add('default/later');
    for (let i = 0; i < 10; i++) {
      h.clock.nowMs += (TTL_MS - 1) / 10;
      const remembered = h.resolver.resolve(query('later'));
      assert.ok(!(remembered instanceof Promise), 'a remembered name is answered synchronously');
      assert.equal(reason(remembered), 'not-found');
    }
    assert.equal(source.followCount.get('default/later'), 1, 'asking again neither looks it up nor keeps it alive');

    h.clock.nowMs += 1;
    const found = await h.resolver.resolve(query('later'));
    assert.ok(found.ok, 'a Service created meanwhile is found once the entry expires');
    assert.equal(source.followCount.get('default/later'), 2);
    assert.equal(h.services.size, 1);
  });

  it('remembers at most its capacity of missing names, forgetting the oldest first', async () => {
    const source = answeringSource(new Set());
    h = harness(source, { maxMissingNames: 100 });
    for (let i = 0; i < 1_000; i++) assert.equal(reason(await h.resolver.resolve(query(`bogus-${i}`))), 'not-found');
    assert.equal(h.services.missingCount, 100);
    assert.ok(!(h.resolver.resolve(query('bogus-999')) instanceof Promise), 'the newest is still remembered');
    assert.ok(h.resolver.resolve(query('bogus-0')) instanceof Promise, 'the oldest was forgotten: looked up again');
  });

  it('gives a real Service the last MAX_SERVICES slot while lookups of made-up names are still under way', async () => {
    const source = new FakeSource();
    h = harness(source, { maxServices: 1 });
    const bogus = Array.from({ length: 5 }, (_, i) => h!.resolver.resolve(query(`bogus-${i}`)));
    const real = h.resolver.resolve(query('greet'));
    source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
    assert.ok((await real).ok, 'the lookups under way held no slot');
    assert.equal(h.services.lookupsInFlight, 5);
    for (let i = 0; i < 5; i++) source.publishSlices(`default/bogus-${i}`, []);
    for (const outcome of await Promise.all(bogus)) assert.equal(reason(outcome), 'not-found');
    assert.equal(h.services.size, 1);
    assert.equal(h.services.lookupsInFlight, 0);
  });

  it('refuses a new Service with too-many-services only when real Services fill MAX_SERVICES', async () => {
    h = harness(answeringSource(new Set(['default/one', 'default/two', 'default/three'])), { maxServices: 2 });
    for (let i = 0; i < 50; i++) await h.resolver.resolve(query(`bogus-${i}`));
    assert.ok((await h.resolver.resolve(query('one'))).ok);
    assert.ok((await h.resolver.resolve(query('two'))).ok);
    const refused = await h.resolver.resolve(query('three'));
    assert.equal(reason(refused), 'too-many-services');
    assert.match(!refused.ok ? refused.message : '', /maximum of 2 services \(MAX_SERVICES\)/);
    assert.equal(reason(await h.resolver.resolve(query('bogus-1'))), 'not-found', 'a remembered name still gets its true answer');
  });

  it('keeps watching a Service that loses every slice until it goes idle, then forgets it like any missing name', async () => {
    const source = new FakeSource();
    h = harness(source, { idleTimeoutMs: 60_000 });
    await watchGreet(h, source);

    source.publishSlices('default/greet', []);
    assert.equal(reason(await h.resolver.resolve(query('greet'))), 'not-found');
    assert.equal(h.services.size, 1, 'still watched: the Service may come back');
    source.publishSlices('default/greet', [slice([sliceEndpoint(2)])]);
    const back = await h.resolver.resolve(query('greet'));
    assert.ok(back.ok && back.endpoint.ip === '10.0.0.2');

    source.publishSlices('default/greet', []);
    h.clock.nowMs += 60_001;
    h.services.sweepIdle();
    assert.equal(h.services.size, 0);
    assert.equal(source.followed.has('default/greet'), false);
    const again = h.resolver.resolve(query('greet'));
    source.publishSlices('default/greet', []);
    assert.equal(reason(await again), 'not-found');
    assert.equal(h.services.size, 0, 'looked up again and found missing: not watched');
  });

  it('remembers a failed lookup for a moment, then looks again on demand', async () => {
    const source = new FakeSource();
    h = harness(source);
    const first = h.resolver.resolve(query('greet'));
    source.publish('default/greet', { kind: 'failed', failure: { kind: 'forbidden', message: 'RBAC says no' } });
    assert.equal(reason(await first), 'discovery-forbidden');
    assert.equal(source.followed.has('default/greet'), false, 'nothing keeps retrying in the background');
    assert.equal(reason(h.resolver.resolve(query('greet')) as ResolveOutcome), 'discovery-forbidden');

    h.clock.nowMs += FAILED_LOOKUP_TTL_MS;
    const retried = h.resolver.resolve(query('greet'));
    assert.ok(retried instanceof Promise);
    source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
    assert.ok((await retried).ok);
  });

  it('asks callers to retry when too many lookups are under way, but keeps answering watched and remembered names', async () => {
    const source = new FakeSource();
    h = harness(source, { maxLookupsInFlight: 3 });
    await watchGreet(h, source);
    const gone = h.resolver.resolve(query('gone'));
    source.publishSlices('default/gone', []);
    assert.equal(reason(await gone), 'not-found');

    const pending = [0, 1, 2].map((i) => h!.resolver.resolve(query(`slow-${i}`), 5_000));
    const refused = h.resolver.resolve(query('one-more')) as ResolveOutcome;
    assert.equal(reason(refused), 'lookups-busy');
    assert.match(!refused.ok ? refused.message : '', /3 lookups of new names are already under way.*retry shortly/);
    assert.ok((h.resolver.resolve(query('greet')) as ResolveOutcome).ok);
    assert.equal(reason(h.resolver.resolve(query('gone')) as ResolveOutcome), 'not-found');

    for (let i = 0; i < 3; i++) source.publishSlices(`default/slow-${i}`, []);
    await Promise.all(pending);
    assert.ok(h.resolver.resolve(query('one-more')) instanceof Promise, 'a slot is free again');
  });

  it('looks up at most LOOKUPS_PER_SECOND new names per second, in bursts of twice that', async () => {
    const source = answeringSource(new Set(['default/greet']));
    h = harness(source, { lookupsPerSecond: 10 });
    const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => h!.resolver.resolve(query(`bogus-${i}`))));
    assert.equal(outcomes.filter((outcome) => reason(outcome) === 'not-found').length, 20);
    const refused = outcomes.find((outcome) => reason(outcome) === 'lookups-busy');
    assert.match(refused !== undefined && !refused.ok ? refused.message : '', /at most 10 per second \(LOOKUPS_PER_SECOND\)/);
    assert.equal(reason(await h.resolver.resolve(query('greet'))), 'lookups-busy', 'the budget is spent for every new name');

    h.clock.nowMs += 100;
    assert.ok((await h.resolver.resolve(query('greet'))).ok, 'one lookup more after a tenth of a second');
    assert.equal([...source.followCount.values()].reduce((sum, count) => sum + count, 0), 21);
  });

  it('abandons a lookup its source never answers, so it cannot hold a lookup slot for ever', async () => {
    const source = new FakeSource();
    h = harness(source, { maxLookupsInFlight: 1 });
    assert.equal(reason(await h.resolver.resolve(query('stuck'), 10)), 'discovery-unavailable');
    assert.equal(reason(h.resolver.resolve(query('other')) as ResolveOutcome), 'lookups-busy');
    h.clock.nowMs += LOOKUP_ABANDON_MS;
    h.services.sweepIdle();
    assert.equal(h.services.lookupsInFlight, 0);
    assert.equal(source.followed.has('default/stuck'), false);
    assert.ok(h.resolver.resolve(query('other')) instanceof Promise);
  });

  it('counts lookups by result and keeps missing names out of every per-Service series', async () => {
    h = harness(answeringSource(new Set(['default/greet'])));
    await h.resolver.resolve(query('greet'));
    await h.resolver.resolve(query('nosuch'));
    await h.resolver.resolve(query('nosuch'));
    const text = await h.registry.metrics();
    assert.match(text, /^lookaside_service_lookups_total\{result="found"\} 1$/m);
    assert.match(text, /^lookaside_service_lookups_total\{result="missing"\} 1$/m);
    assert.match(text, /^lookaside_watched_services 1$/m);
    assert.doesNotMatch(text, /service="nosuch"/);
  });
});
