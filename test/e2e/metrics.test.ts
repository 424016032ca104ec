import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';

import { eventually } from '../support/process.js';
import { grpcRequestHeaderBlock, RawH2Connection } from '../support/raw-h2-connection.js';
import { OWN_NAMESPACE, STANDARD_ENV, STANDARD_SERVICES } from './support/fixtures.js';
import { callMany, ProcessGroup, type RunningLookaside } from './support/lookaside.js';
import type { MetricsPage } from './support/metrics.js';

const LOOKASIDE_METRICS = [
  'lookaside_resolve_total',
  'lookaside_refused_total',
  'lookaside_open_connections',
  'lookaside_open_calls',
  'lookaside_open_resolve_streams',
  'lookaside_endpoints',
  'lookaside_watched_services',
  'lookaside_watch_restarts_total',
  'lookaside_endpoints_last_change_timestamp_seconds',
  'lookaside_service_lookups_total',
] as const;
const GRPC_METRICS = ['grpc_server_started_total', 'grpc_server_handled_total', 'grpc_server_handling_seconds'] as const;
/** A sample of prom-client's default metrics. */
const PROCESS_METRICS = [
  'process_cpu_user_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
] as const;

/** Names no client can make the lookaside use as a label value. */
const INVALID_NAMES = ['Bad_Name', 'x'.repeat(10_240), 'grüße', 'evil"} 1\nlookaside_fake 1'] as const;

const V1 = { grpc_type: 'unary', grpc_service: 'lookaside.v1.Lookaside', grpc_method: 'Resolve' } as const;
const SEED = { grpc_type: 'unary', grpc_service: 'lookaside.Lookaside', grpc_method: 'Resolve' } as const;

function resolves(service: string, policy: string, code: string, namespace = OWN_NAMESPACE): Record<string, string> {
  return { namespace, service, policy, code };
}

describe('lookaside end to end: /metrics', function () {
  const group = new ProcessGroup();

  after(async function () {
    await group.stopAll();
  });

  describe('after a known set of calls', function () {
    let lookaside: RunningLookaside;
    let page: MetricsPage;

    before(async function () {
      lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
      const calls: Array<() => Promise<unknown>> = [
        () => lookaside.resolve({ service: 'greet', policy: 'ROUND_ROBIN' }),
        () => lookaside.resolve({ service: 'greet', policy: 'ROUND_ROBIN' }),
        () => lookaside.resolve({ service: 'greet', policy: 'ROUND_ROBIN' }),
        () => lookaside.resolve({ service: 'greet', namespace: OWN_NAMESPACE }),
        () => lookaside.resolve({ service: 'pair', policy: 'RANDOM' }),
        () => lookaside.resolve({ service: 'pair', policy: 'RANDOM' }),
        () => lookaside.resolve({ service: 'multi' }),
        () => lookaside.resolveSeed({ service: 'pair' }),
        () => lookaside.resolveError({ service: 'down' }),
        () => lookaside.resolveError({ service: 'nosuch' }),
        () => lookaside.resolveError({ service: 'multi', port_name: 'admin' }),
        () => lookaside.resolveError({ service: 'greet', policy: 9 }),
        ...INVALID_NAMES.map((name) => () => lookaside.resolveError({ service: name })),
        ...INVALID_NAMES.map((name) => () => lookaside.resolveError({ service: 'greet', namespace: name })),
      ];
      await callMany(calls.length, (index) => (calls[index] as () => Promise<unknown>)());
      page = await lookaside.scrape();
    });

    it('serves the Prometheus text format over HTTP at /metrics', async function () {
      assert.match(page.contentType, /^text\/plain; version=0\.0\.4/);
      const elsewhere = await fetch(`http://127.0.0.1:${lookaside.metricsPort}/`);
      assert.equal(elsewhere.status, 404);
      assert.match(await elsewhere.text(), /metrics are at \/metrics/);
    });

    it('declares every lookaside, gRPC server and process metric', function () {
      for (const name of [...LOOKASIDE_METRICS, ...GRPC_METRICS, ...PROCESS_METRICS]) {
        assert.ok(page.families.has(name), `${name} is declared`);
      }
      assert.equal(page.families.get('grpc_server_handling_seconds'), 'histogram');
      assert.equal(page.families.get('lookaside_resolve_total'), 'counter');
      assert.equal(page.families.get('lookaside_endpoints'), 'gauge');
    });

    it('counts Resolve calls by namespace, service, policy (as applied) and gRPC code', function () {
      assert.equal(page.value('lookaside_resolve_total', resolves('greet', 'round_robin', 'OK')), 4, 'POLICY_UNSPECIFIED counts as the default, round_robin');
      assert.equal(page.value('lookaside_resolve_total', resolves('pair', 'random', 'OK')), 3, 'v1 RANDOM and the seed default router');
      assert.equal(page.value('lookaside_resolve_total', resolves('multi', 'round_robin', 'OK')), 1);
      assert.equal(page.value('lookaside_resolve_total', resolves('down', 'round_robin', 'Unavailable')), 1);
      assert.equal(
        page.value('lookaside_resolve_total', resolves('_unwatched', 'round_robin', 'NotFound', '_unwatched')),
        1,
        'a missing Service is not watched, so it gets no series of its own',
      );
      assert.equal(page.value('lookaside_resolve_total', resolves('multi', 'round_robin', 'InvalidArgument')), 1);
      assert.equal(page.value('lookaside_resolve_total', resolves('_unwatched', 'unknown', 'InvalidArgument', '_unwatched')), 1, 'the unknown policy');
      assert.equal(
        page.value('lookaside_resolve_total', resolves('_unwatched', 'round_robin', 'InvalidArgument', '_unwatched')),
        INVALID_NAMES.length * 2,
        'malformed names',
      );
      for (const sample of page.find('lookaside_resolve_total')) {
        assert.deepEqual(Object.keys(sample.labels).sort(), ['app', 'code', 'namespace', 'policy', 'service']);
      }
    });

    it('never uses a name it rejected as a label value, so label sets stay bounded', function () {
      const services = page.labelValues('lookaside_resolve_total', 'service');
      const namespaces = page.labelValues('lookaside_resolve_total', 'namespace');
      assert.deepEqual([...services].sort(), ['_unwatched', 'down', 'greet', 'multi', 'pair']);
      assert.deepEqual([...namespaces].sort(), ['_unwatched', OWN_NAMESPACE]);
      for (const name of INVALID_NAMES) assert.ok(!page.text.includes(name), `${name.slice(0, 20)} does not appear`);
      assert.equal(page.families.has('lookaside_fake'), false);
    });

    it('reports the ready endpoints of each watched Service, and how many Services it watches', function () {
      const ready = (service: string): number | undefined => page.value('lookaside_endpoints', { namespace: OWN_NAMESPACE, service });
      assert.equal(ready('greet'), 3, 'not-ready and terminating pods are not counted');
      assert.equal(ready('pair'), 2);
      assert.equal(ready('multi'), 2, 'distinct pods, not pod-port pairs');
      assert.equal(ready('down'), 0);
      assert.equal(ready('nosuch'), undefined, 'a missing Service is not watched');
      assert.equal(page.value('lookaside_watched_services'), 4);
      assert.equal(page.value('lookaside_service_lookups_total', { result: 'found' }), 4);
      assert.equal(page.value('lookaside_service_lookups_total', { result: 'missing' }), 1);

      const changedAt = page.value('lookaside_endpoints_last_change_timestamp_seconds', { namespace: OWN_NAMESPACE, service: 'greet' });
      assert.ok(changedAt !== undefined && Math.abs(changedAt - Date.now() / 1000) < 300, `timestamp ${changedAt} is about now`);
    });

    it('counts every gRPC call by service, method and code, with its latency', function () {
      const v1Calls = 7 + 4 + 2 * INVALID_NAMES.length;
      assert.equal(page.value('grpc_server_started_total', V1), v1Calls);
      assert.equal(page.value('grpc_server_started_total', SEED), 1);
      assert.equal(page.value('grpc_server_handled_total', { ...V1, grpc_code: 'OK' }), 7);
      assert.equal(page.value('grpc_server_handled_total', { ...V1, grpc_code: 'Unavailable' }), 1);
      assert.equal(page.value('grpc_server_handled_total', { ...V1, grpc_code: 'NotFound' }), 1);
      assert.equal(page.value('grpc_server_handled_total', { ...V1, grpc_code: 'InvalidArgument' }), 2 + 2 * INVALID_NAMES.length);
      assert.equal(page.value('grpc_server_handled_total', { ...SEED, grpc_code: 'OK' }), 1);
      assert.equal(page.value('grpc_server_handling_seconds_count', V1), v1Calls);
      assert.equal(page.value('grpc_server_handling_seconds_bucket', { ...V1, le: '+Inf' }), v1Calls);
    });

    it('passes `promtool check metrics` (when promtool is installed)', function () {
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: page.text, encoding: 'utf8' });
      if (promtool.error !== undefined) this.skip();
      // prom-client's default process metrics name three gauges *_total; they are
      // not ours to rename, so only those lint lines are tolerated. A parse error
      // or any other lint finding fails.
      const problems = `${promtool.stdout}${promtool.stderr}`
        .split('\n')
        .filter((line) => line.trim() !== '')
        .filter((line) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(line));
      assert.deepEqual(problems, []);
    });
  });

  describe('a ResolveStream the client cancels', function () {
    it('counts as grpc_code="Canceled" on the metrics page, never OK', async function () {
      const lookaside = await group.start({ services: STANDARD_SERVICES, env: STANDARD_ENV });
      const client = await RawH2Connection.open(lookaside.port);
      try {
        const [id] = await client.openStreams(grpcRequestHeaderBlock('/lookaside.v1.Lookaside/ResolveStream'), 1);
        await eventually(async () => ((await lookaside.scrape()).value('lookaside_open_resolve_streams') === 1 ? true : undefined), 10_000, 'the stream open');
        await client.reset(id ?? 1);
        const stream = { grpc_type: 'bidi_stream', grpc_service: 'lookaside.v1.Lookaside', grpc_method: 'ResolveStream' };
        const page = await eventually(async () => {
          const scraped = await lookaside.scrape();
          return scraped.value('grpc_server_handled_total', { ...stream, grpc_code: 'Canceled' }) === 1 ? scraped : undefined;
        }, 10_000, 'the cancelled stream counted');
        assert.equal(page.value('grpc_server_handled_total', { ...stream, grpc_code: 'OK' }), undefined);
      } finally {
        client.close();
      }
    });
  });

  describe('IDLE_TIMEOUT_SECONDS', function () {
    // Idle Services are swept every second at this setting, so one goes 3 to 4 s after its last Resolve;
    // 3 s rather than 1 leaves room to scrape between a Resolve and the sweep on a loaded machine.
    let lookaside: RunningLookaside;

    before(async function () {
      lookaside = await group.start({ services: STANDARD_SERVICES, env: { ...STANDARD_ENV, IDLE_TIMEOUT_SECONDS: '3' } });
    });

    it('stops watching a Service nobody resolved for IDLE_TIMEOUT_SECONDS, drops its series, and watches it again on demand', async function () {
      await lookaside.resolve({ service: 'greet' });
      const watching = await lookaside.scrape();
      assert.equal(watching.value('lookaside_watched_services'), 1);
      assert.equal(watching.value('lookaside_endpoints', { service: 'greet' }), 3);

      const idle = await eventually(
        async () => {
          const page = await lookaside.scrape();
          return page.value('lookaside_watched_services') === 0 ? page : undefined;
        },
        10_000,
        'lookaside_watched_services back to 0',
      );
      assert.equal(idle.find('lookaside_endpoints', { service: 'greet' }).length, 0);
      assert.equal(idle.find('lookaside_resolve_total', { service: 'greet' }).length, 0);
      assert.ok(lookaside.process.logs.some((line) => line.msg === 'stopped watching idle service' && line['service'] === 'greet'));

      assert.equal((await lookaside.resolve({ service: 'greet' })).readyEndpoints, 3);
      assert.equal((await lookaside.scrape()).value('lookaside_watched_services'), 1);
    });
  });
});
