import assert from 'node:assert/strict';

import { Registry } from 'prom-client';

import { silentLogger } from '../../src/common/logging.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import { Resolver, type ResolveOutcome, type ResolveQuery } from '../../src/lookaside/resolver.js';
import { WatchedServices } from '../../src/lookaside/watched-services.js';
import { slice, sliceEndpoint } from '../support/endpoints.js';
import { FakeSource } from '../support/fake-source.js';

interface Harness {
  source: FakeSource;
  services: WatchedServices;
  resolver: Resolver;
  registry: Registry;
  clock: { nowMs: number };
}

function harness(options: { maxServices?: number; allowed?: string[]; idleTimeoutMs?: number } = {}): Harness {
  const source = new FakeSource();
  const registry = new Registry();
  const clock = { nowMs: 1_000_000 };
  const services = new WatchedServices({
    source,
    maxServices: options.maxServices ?? 10,
    idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    metrics: new LookasideMetrics(registry),
    logger: silentLogger(),
    now: () => clock.nowMs,
  });
  const resolver = new Resolver({
    services,
    ownNamespace: 'home',
    defaultPolicy: 'round_robin',
    allowedNamespaces: options.allowed ?? [],
    describeMissing: (namespace, name) => `nothing for ${namespace}/${name}`,
  });
  return { source, services, resolver, registry, clock };
}

function query(service: string, extra: Partial<ResolveQuery> = {}): ResolveQuery {
  return { service, namespace: 'default', policy: undefined, portName: '', ...extra };
}

async function resolve(resolver: Resolver, q: ResolveQuery, waitMs?: number): Promise<ResolveOutcome> {
  return resolver.resolve(q, waitMs);
}

function failure(outcome: ResolveOutcome): { reason: string; message: string } {
  assert.ok(!outcome.ok, `expected a failure, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('Resolver', () => {
  let h: Harness;
  afterEach(() => h?.services.close());

  it('waits for the first list, then answers synchronously from memory', async () => {
    h = harness();
    const first = h.resolver.resolve(query('greet'));
    assert.ok(first instanceof Promise, 'the first Resolve waits');
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2)])]);
    const answered = await first;
    assert.ok(answered.ok);
    assert.equal(answered.endpoint.address, '10.0.0.1:50051');
    assert.equal(answered.readyEndpoints, 2);
    const second = h.resolver.resolve(query('greet'));
    assert.ok(!(second instanceof Promise), 'later Resolves do not wait');
    assert.ok(second.ok && second.endpoint.address === '10.0.0.2:50051');
  });

  it('answers UNAVAILABLE-worthy when discovery does not answer within the wait', async () => {
    h = harness();
    const outcome = failure(await resolve(h.resolver, query('greet'), 30));
    assert.equal(outcome.reason, 'discovery-unavailable');
    assert.match(outcome.message, /not known yet: no answer from discovery within 30 ms/);
  });

  it('passes a discovery failure on at once, as unavailable or forbidden', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet'));
    h.source.publish('default/greet', { kind: 'failed', failure: { kind: 'unavailable', message: 'connection refused' } });
    const outcome = failure(await pending);
    assert.equal(outcome.reason, 'discovery-unavailable');
    assert.match(outcome.message, /cannot read endpoints of default\/greet: connection refused/);

    const forbidden = resolve(h.resolver, query('secret'));
    h.source.publish('default/secret', { kind: 'failed', failure: { kind: 'forbidden', message: 'RBAC says no' } });
    assert.equal(failure(await forbidden).reason, 'discovery-forbidden');
  });

  it('keeps serving the last endpoints when discovery fails after a sync', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet'));
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
    await pending;
    h.source.publish('default/greet', { kind: 'failed', failure: { kind: 'unavailable', message: 'gone' } });
    const outcome = await resolve(h.resolver, query('greet'));
    assert.ok(outcome.ok && outcome.endpoint.ip === '10.0.0.1');
  });

  it('rejects names that are not RFC 1123 labels without watching anything', async () => {
    h = harness();
    for (const q of [query(''), query('Upper'), query('a_b'), query('x', { namespace: 'Bad' }), query('x', { portName: 'GRPC' })]) {
      assert.equal(failure(await resolve(h.resolver, q)).reason, 'invalid-argument');
    }
    assert.equal(h.services.size, 0);
  });

  it('uses its own namespace when the request has none', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet', { namespace: '' }));
    h.source.publishSlices('home/greet', [slice([sliceEndpoint(1)])]);
    const outcome = await pending;
    assert.ok(outcome.ok && outcome.namespace === 'home');
  });

  it('keeps two namespaces with the same Service name apart', async () => {
    h = harness();
    const a = resolve(h.resolver, query('greet', { namespace: 'a' }));
    const b = resolve(h.resolver, query('greet', { namespace: 'b' }));
    h.source.publishSlices('a/greet', [slice([sliceEndpoint(1)])]);
    h.source.publishSlices('b/greet', [slice([sliceEndpoint(2)])]);
    const [inA, inB] = await Promise.all([a, b]);
    assert.ok(inA.ok && inA.endpoint.ip === '10.0.0.1');
    assert.ok(inB.ok && inB.endpoint.ip === '10.0.0.2');
  });

  it('refuses namespaces outside ALLOWED_NAMESPACES', async () => {
    h = harness({ allowed: ['default'] });
    const outcome = failure(await resolve(h.resolver, query('greet', { namespace: 'kube-system' })));
    assert.equal(outcome.reason, 'permission-denied');
    assert.match(outcome.message, /"kube-system" is not served.*allowed: default/);
    assert.equal(h.services.size, 0);
  });

  it('refuses a new Service once MAX_SERVICES are watched, but still serves the watched ones', async () => {
    h = harness({ maxServices: 1 });
    const pending = resolve(h.resolver, query('one'));
    h.source.publishSlices('default/one', [slice([sliceEndpoint(1)])]);
    assert.ok((await pending).ok);
    const refused = failure(await resolve(h.resolver, query('two')));
    assert.equal(refused.reason, 'too-many-services');
    assert.match(refused.message, /maximum of 1 services \(MAX_SERVICES\)/);
    assert.ok((await resolve(h.resolver, query('one'))).ok);
  });

  it('says NOT_FOUND-worthy when the Service has no slices', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('ghost'));
    h.source.publishSlices('default/ghost', []);
    const outcome = failure(await pending);
    assert.equal(outcome.reason, 'not-found');
    assert.match(outcome.message, /nothing for default\/ghost/);
  });

  it('says no ready endpoint when the slices hold none, and empties on scale to zero', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet'));
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
    assert.ok((await pending).ok);
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1, { ready: false }), sliceEndpoint(2, { terminating: true })])]);
    const outcome = failure(await resolve(h.resolver, query('greet')));
    assert.equal(outcome.reason, 'no-ready-endpoints');
    assert.match(outcome.message, /no ready endpoint on port "grpc" \(1 EndpointSlice\(s\), 2 endpoint\(s\) not ready or terminating\)/);
    h.source.publishSlices('default/greet', [slice([])]);
    assert.equal(failure(await resolve(h.resolver, query('greet'))).reason, 'no-ready-endpoints');
  });

  describe('port selection', () => {
    const twoPorts = [{ name: 'http', port: 8080 }, { name: 'grpc', port: 50051 }];
    const noGrpc = [{ name: 'http', port: 8080 }, { name: 'admin', port: 9000 }];

    async function synced(ports: Array<{ name: string; port: number }>): Promise<void> {
      const pending = resolve(h.resolver, query('multi', { portName: ports[0]?.name ?? '' }));
      h.source.publishSlices('default/multi', [slice([sliceEndpoint(1)], ports)]);
      await pending;
    }

    it('uses the named port', async () => {
      h = harness();
      await synced(twoPorts);
      const outcome = await resolve(h.resolver, query('multi', { portName: 'http' }));
      assert.ok(outcome.ok && outcome.endpoint.address === '10.0.0.1:8080');
    });

    it('uses the port named grpc when none is asked for', async () => {
      h = harness();
      await synced(twoPorts);
      const outcome = await resolve(h.resolver, query('multi'));
      assert.ok(outcome.ok && outcome.endpoint.port === 50051);
    });

    it('rejects an unknown port name, listing the real ones', async () => {
      h = harness();
      await synced(twoPorts);
      const outcome = failure(await resolve(h.resolver, query('multi', { portName: 'metrics' })));
      assert.equal(outcome.reason, 'invalid-argument');
      assert.match(outcome.message, /no port named "metrics"; the Service's ports are: grpc, http/);
    });

    it('on a one-port Service answers no port name and its own, refuses another, and counts its ready endpoints per snapshot', async () => {
      h = harness();
      const first = h.resolver.resolve(query('greet'));
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2), sliceEndpoint(3, { ready: false })])]);
      const unnamed = await first;
      assert.ok(unnamed.ok && unnamed.readyEndpoints === 2);
      const named = await resolve(h.resolver, query('greet', { portName: 'grpc' }));
      assert.ok(named.ok && named.readyEndpoints === 2 && named.endpoint.port === 50051);
      const other = failure(await resolve(h.resolver, query('greet', { portName: 'http' })));
      assert.equal(other.reason, 'invalid-argument');
      assert.match(other.message, /no port named "http"; the Service's ports are: grpc/);
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2), sliceEndpoint(3)])]);
      const grown = await resolve(h.resolver, query('greet'));
      assert.ok(grown.ok && grown.readyEndpoints === 3, 'the new snapshot counts');
    });

    it('asks for port_name when several ports exist and none is grpc', async () => {
      h = harness();
      await synced(noGrpc);
      const outcome = failure(await resolve(h.resolver, query('multi')));
      assert.equal(outcome.reason, 'invalid-argument');
      assert.match(outcome.message, /several ports \(admin, http\) and none is named "grpc"; set port_name/);
    });

    it('takes any port when the caller only wants the IP', async () => {
      h = harness();
      await synced(noGrpc);
      const outcome = await resolve(h.resolver, query('multi', { anyPort: true }));
      assert.ok(outcome.ok && outcome.endpoint.ip === '10.0.0.1');
    });
  });

  it('rotates exactly evenly and continues the rotation across endpoint changes', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet'));
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2), sliceEndpoint(3)])]);
    await pending;
    const picks: string[] = [];
    for (let i = 0; i < 299; i++) {
      const outcome = await resolve(h.resolver, query('greet'));
      assert.ok(outcome.ok);
      picks.push(outcome.endpoint.podName);
    }
    // 1 (first) + 299 = 300 picks: exactly 100 each.
    const counts = new Map<string, number>([['pod-1', 1]]);
    for (const pod of picks) counts.set(pod, (counts.get(pod) ?? 0) + 1);
    assert.deepEqual([...counts.entries()].sort(), [['pod-1', 100], ['pod-2', 100], ['pod-3', 100]]);

    // The last pick was pod-3; pod-2 leaves and pod-4 arrives: the rotation goes on after pod-3, at pod-4.
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(3), sliceEndpoint(4)])]);
    const next = await Promise.all([0, 1, 2].map(() => resolve(h.resolver, query('greet'))));
    assert.deepEqual(next.map((o) => (o.ok ? o.endpoint.podName : o.reason)), ['pod-4', 'pod-1', 'pod-3']);
  });

  it('applies RANDOM when asked and the default policy otherwise', async () => {
    h = harness();
    const pending = resolve(h.resolver, query('greet', { policy: 'random' }));
    h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2)])]);
    const outcome = await pending;
    assert.ok(outcome.ok && outcome.policy === 'random');
    const byDefault = await resolve(h.resolver, query('greet'));
    assert.ok(byDefault.ok && byDefault.policy === 'round_robin');
  });

  describe('watched services', () => {
    it('starts one watch per Service, however many calls arrive at once', async () => {
      h = harness();
      const pending = Array.from({ length: 20 }, () => resolve(h.resolver, query('greet')));
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
      const outcomes = await Promise.all(pending);
      assert.ok(outcomes.every((o) => o.ok));
      assert.equal(h.source.followCount.get('default/greet'), 1);
    });

    it('stops watching a Service idle for longer than IDLE_TIMEOUT, and starts again on demand', async () => {
      h = harness({ idleTimeoutMs: 10_000 });
      const pending = resolve(h.resolver, query('greet'));
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
      await pending;
      h.clock.nowMs += 9_000;
      h.services.sweepIdle();
      assert.ok(h.source.followed.has('default/greet'), 'not idle yet');
      await resolve(h.resolver, query('greet'));
      h.clock.nowMs += 9_000;
      h.services.sweepIdle();
      assert.ok(h.source.followed.has('default/greet'), 'the Resolve in between kept it');
      h.clock.nowMs += 2_000;
      h.services.sweepIdle();
      assert.equal(h.source.followed.has('default/greet'), false);
      assert.equal(h.services.size, 0);
      const again = h.resolver.resolve(query('greet'));
      assert.ok(again instanceof Promise);
      assert.equal(h.source.followCount.get('default/greet'), 2);
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1)])]);
      assert.ok((await again).ok);
    });

    it('exports the watched count and per-Service endpoints, and removes them when unwatched', async () => {
      h = harness({ idleTimeoutMs: 1_000 });
      const pending = resolve(h.resolver, query('greet'));
      h.source.publishSlices('default/greet', [slice([sliceEndpoint(1), sliceEndpoint(2), sliceEndpoint(3, { ready: false })])]);
      await pending;
      let text = await h.registry.metrics();
      assert.match(text, /^lookaside_watched_services 1$/m);
      assert.match(text, /^lookaside_endpoints\{namespace="default",service="greet"\} 2$/m);
      assert.match(text, /^lookaside_endpoints_last_change_timestamp_seconds\{namespace="default",service="greet"\} 1000$/m);
      h.clock.nowMs += 5_000;
      h.services.sweepIdle();
      text = await h.registry.metrics();
      assert.match(text, /^lookaside_watched_services 0$/m);
      assert.doesNotMatch(text, /service="greet"/);
    });
  });
});
