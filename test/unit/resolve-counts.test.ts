import assert from 'node:assert/strict';

import { Registry } from 'prom-client';

import { silentLogger } from '../../src/common/logging.js';
import { LookasideMetrics, UNWATCHED_LABEL } from '../../src/lookaside/metrics.js';
import { Resolver, type ResolveOutcome, type ResolveQuery } from '../../src/lookaside/resolver.js';
import { WatchedServices } from '../../src/lookaside/watched-services.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { FakeSource } from '../support/fake-source.js';

const IDLE_MS = 60_000;

/** The per-Service lookaside_resolve_total handles a Resolve outcome carries, counted the way server.ts `answer()` counts them. */
describe('Resolve counts (lookaside_resolve_total per watched Service)', () => {
  let source: FakeSource;
  let registry: Registry;
  let metrics: LookasideMetrics;
  let services: WatchedServices;
  let resolver: Resolver;
  const clock = { nowMs: 1_000_000 };

  beforeEach(() => {
    source = new FakeSource();
    source.answer = (id) => (id.endsWith('/greet') || id.endsWith('/pair') ? [slice([sliceEndpoint(1), sliceEndpoint(2)])] : []);
    registry = new Registry();
    metrics = new LookasideMetrics(registry);
    services = new WatchedServices({ source, maxServices: 10, idleTimeoutMs: IDLE_MS, metrics, logger: silentLogger(), now: () => clock.nowMs });
    resolver = new Resolver({
      services,
      ownNamespace: 'home',
      defaultPolicy: 'round_robin',
      allowedNamespaces: [],
      describeMissing: () => 'not in the test',
    });
  });

  afterEach(() => services.close());

  async function resolveAndCount(service: string, extra: Partial<ResolveQuery> = {}): Promise<ResolveOutcome> {
    const outcome = await resolver.resolve({ service, namespace: 'default', policy: undefined, portName: '', ...extra });
    const code = outcome.ok ? 'OK' : outcome.reason === 'not-found' ? 'NotFound' : 'InvalidArgument';
    (outcome.resolveCounts ?? metrics.unwatchedResolves).count(outcome.policy, code);
    return outcome;
  }

  async function series(): Promise<Map<string, number>> {
    const family = (await registry.getMetricsAsJSON()).find((metric) => metric.name === 'lookaside_resolve_total');
    const values = family?.values ?? [];
    return new Map(values.map((value) => [[value.labels['namespace'], value.labels['service'], value.labels['policy'], value.labels['code']].join(' '), value.value]));
  }

  it('counts each watched Service on its own series, by policy and code, however the calls interleave', async () => {
    await resolveAndCount('greet');
    await resolveAndCount('greet', { policy: 'random' });
    await resolveAndCount('greet', { portName: 'http' });
    await resolveAndCount('pair');
    await resolveAndCount('greet');
    await resolveAndCount('greet', { portName: 'http' });
    await resolveAndCount('greet', { policy: 'random' });
    await resolveAndCount('greet');

    assert.deepEqual(
      await series(),
      new Map([
        ['default greet round_robin OK', 3],
        ['default greet random OK', 2],
        ['default greet round_robin InvalidArgument', 2],
        ['default pair round_robin OK', 1],
      ]),
    );
  });

  it('counts names not watched under UNWATCHED_LABEL, on one series per policy and code, shared with requests refused before any lookup', async () => {
    for (let i = 0; i < 20; i += 1) {
      const outcome = await resolveAndCount(`made-up-${i}`);
      assert.equal(outcome.resolveCounts, undefined, 'a missing name has no series of its own');
    }
    await resolveAndCount('Not_A_Name');
    metrics.countResolve(UNWATCHED_LABEL, UNWATCHED_LABEL, 'unknown', 'InvalidArgument');

    assert.deepEqual(
      await series(),
      new Map([
        [`${UNWATCHED_LABEL} ${UNWATCHED_LABEL} round_robin NotFound`, 20],
        [`${UNWATCHED_LABEL} ${UNWATCHED_LABEL} round_robin InvalidArgument`, 1],
        [`${UNWATCHED_LABEL} ${UNWATCHED_LABEL} unknown InvalidArgument`, 1],
      ]),
    );
    assert.equal(metrics.resolveCounts(UNWATCHED_LABEL, UNWATCHED_LABEL), metrics.unwatchedResolves);
  });

  it('drops every series of a Service when it is forgotten; a late count on its old handle brings none back, a new watch starts afresh', async () => {
    const first = await resolveAndCount('greet');
    await resolveAndCount('greet', { policy: 'random' });
    await resolveAndCount('pair');
    const handle = first.resolveCounts;
    assert.ok(handle !== undefined);

    clock.nowMs += 30_000;
    await resolveAndCount('pair'); // keeps pair watched
    clock.nowMs += IDLE_MS;
    services.sweepIdle();
    assert.equal(services.size, 1, 'greet went idle');
    assert.deepEqual(await series(), new Map([['default pair round_robin OK', 2]]));

    handle.count('round_robin', 'OK');
    handle.count('least_request', 'OK');
    assert.deepEqual(await series(), new Map([['default pair round_robin OK', 2]]), 'the forgotten handle counts nothing');

    const again = await resolveAndCount('greet');
    assert.notEqual(again.resolveCounts, handle);
    assert.deepEqual(
      await series(),
      new Map([
        ['default pair round_robin OK', 2],
        ['default greet round_robin OK', 1],
      ]),
    );
  });
});
