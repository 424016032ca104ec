import { strict as assert } from 'node:assert';

import { AdsClient } from '../support/ads-client.js';
import { countOf, resolveOnStream } from '../support/routed-resolves.js';
import { endpointsYaml, ProcessGroup, type FileService, type RunningLookaside } from './support/lookaside.js';
import { eventually } from '../support/process.js';

const GREET = '/greet.v1.GreetService/Greet';
const SERVICES: readonly FileService[] = [
  { name: 'greetserver', endpoints: [{ address: '10.0.0.1:50051', pod: 'greetserver-0' }] },
  { name: 'greetserver-v1', endpoints: [{ address: '10.0.1.1:50051', pod: 'v1-0' }, { address: '10.0.1.2:50051', pod: 'v1-1' }] },
  { name: 'greetserver-v2', endpoints: [{ address: '10.0.2.1:50051', pod: 'v2-0' }] },
];
const BY_SUBNET: Record<string, string> = { '10.0.0': 'greetserver', '10.0.1': 'v1', '10.0.2': 'v2' };

function split(v1: number, v2: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'greetserver-split',
    parentRefs: [{ name: 'greetserver' }],
    rules: [{ ...extra, backendRefs: [{ name: 'greetserver-v1', weight: v1 }, { name: 'greetserver-v2', weight: v2 }] }],
  };
}

/** Sends `requests` on one ResolveStream; each answer as the Service that took it (or the failure's reason). */
async function resolveAll(lookaside: RunningLookaside, requests: readonly Record<string, unknown>[]): Promise<string[]> {
  const answers = await resolveOnStream(lookaside.target, requests);
  return answers.map((answer) => (answer.ok ? (BY_SUBNET[answer.address.split('.').slice(0, 3).join('.')] ?? answer.address) : answer.reason));
}

const counts = countOf;

const RESOLVE = { service: 'greetserver', method: GREET };

describe('lookaside end to end: GRPCRoutes from the endpoints file (built process)', function () {
  this.timeout(60_000);
  const group = new ProcessGroup();
  afterEach(() => group.stopAll());

  it('splits 1,000 Resolves of the parent Service exactly 900/100 between its backends', async () => {
    const lookaside = await group.start({ services: SERVICES, routes: [split(90, 10)] });
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 1_000 }, () => RESOLVE))), { v1: 900, v2: 100 });
  });

  it('flips blue-green 100/0 → 0/100, and sends nothing to the old backend once it is removed', async () => {
    const lookaside = await group.start({ services: SERVICES, routes: [split(100, 0)] });
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 50 }, () => RESOLVE))), { v1: 50 });

    await lookaside.replaceEndpoints(endpointsYaml(SERVICES, [split(0, 100)]));
    await eventually(async () => ((await resolveAll(lookaside, [RESOLVE]))[0] === 'v2' ? true : undefined), 10_000, 'the flip');
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 50 }, () => RESOLVE))), { v2: 50 });

    // v1 goes away, the route still naming it at weight 0: not one call fails or goes there.
    const withoutV1 = SERVICES.filter((service) => service.name !== 'greetserver-v1');
    const logsBefore = lookaside.process.logs.length;
    await lookaside.replaceEndpoints(endpointsYaml(withoutV1, [split(0, 100)]));
    await lookaside.waitForLogAfter(logsBefore, (line) => line.msg === 'endpoints file reloaded');
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 50 }, () => RESOLVE))), { v2: 50 });
  });

  it('follows a method match and a header match; other calls go to the Service itself', async () => {
    const route = {
      name: 'greetserver-by-call',
      parentRefs: [{ name: 'greetserver' }],
      rules: [
        { matches: [{ headers: [{ name: 'x-canary', value: 'always' }] }], backendRefs: [{ name: 'greetserver-v2' }] },
        { matches: [{ method: { service: 'greet.v1.GreetService', method: 'Greet' } }], backendRefs: [{ name: 'greetserver-v1' }] },
      ],
    };
    const lookaside = await group.start({ services: SERVICES, routes: [route] });
    const answers = await resolveAll(lookaside, [
      { service: 'greetserver', method: GREET },
      { service: 'greetserver', method: '/greet.v1.GreetService/Other', headers: { 'x-canary': 'always' } },
      // Both rules match: the spec ranks a method match above header matches.
      { service: 'greetserver', method: GREET, headers: { 'x-canary': 'always' } },
      { service: 'greetserver', method: '/greet.v1.GreetService/Other' },
      { service: 'greetserver' },
    ]);
    assert.deepEqual(answers, ['v1', 'v2', 'v1', 'greetserver', 'greetserver']);
  });

  it('fails only the share sent to a backend that does not exist, with UNAVAILABLE naming route and backend', async () => {
    const route = { name: 'half-broken', parentRefs: [{ name: 'greetserver' }], rules: [{ backendRefs: [{ name: 'greetserver-v1' }, { name: 'greetserver-v3' }] }] };
    const lookaside = await group.start({ services: SERVICES, routes: [route] });
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 10 }, () => RESOLVE))), { v1: 5, ROUTE_BACKEND_UNAVAILABLE: 5 });
    assert.deepEqual(await resolveAll(lookaside, [RESOLVE]), ['v1']);
    const error = await lookaside.resolveError({ service: 'greetserver', method: GREET });
    assert.equal(error.code, 'unavailable');
    assert.equal(error.message, 'GRPCRoute default/half-broken sends this call to Service default/greetserver-v3, which does not exist (no EndpointSlice)');
  });

  it('refuses an endpoints file whose route it cannot honour, naming the field, and keeps the last good one', async () => {
    const lookaside = await group.start({ services: SERVICES, routes: [split(90, 10)] });
    const logsBefore = lookaside.process.logs.length;
    await lookaside.replaceEndpoints(endpointsYaml(SERVICES, [split(0, 100, { matches: [{ method: { type: 'RegularExpression', method: 'G.*' } }] })]));
    const line = await lookaside.waitForLogAfter(logsBefore, (entry) => entry.msg === 'endpoints file is broken; keeping the last good content');
    assert.match(String(line['err']), /routes\[0\]: spec\.rules\[0\]\.matches\[0\]\.method\.type: "RegularExpression" is not supported/);
    assert.deepEqual(counts(await resolveAll(lookaside, Array.from({ length: 10 }, () => RESOLVE))), { v1: 9, v2: 1 });
  });

  it('serves xDS clients the same route as a RouteConfiguration, and pushes the flip', async () => {
    const lookaside = await group.start({ services: SERVICES, routes: [split(90, 10)] });
    const client = AdsClient.open(lookaside.target);
    try {
      const name = 'greetserver.default.svc.cluster.local:50051';
      client.request('route', [name]);
      const first = await client.next('route');
      const clusters = (response: typeof first): unknown => {
        const config = response.resources.get(name) as { virtual_hosts: Array<{ routes: Array<{ route: Record<string, unknown> }> }> };
        return config.virtual_hosts[0]?.routes.map((entry) => entry.route['weighted_clusters'] ?? entry.route['cluster']);
      };
      assert.deepEqual(clusters(first), [
        {
          clusters: [
            { name: 'greetserver-v1.default.svc.cluster.local:50051', weight: { value: 90 } },
            { name: 'greetserver-v2.default.svc.cluster.local:50051', weight: { value: 10 } },
          ],
        },
        name,
      ]);
      client.ack(first);
      await lookaside.replaceEndpoints(endpointsYaml(SERVICES, [split(0, 100)]));
      const pushed = await client.next('route');
      assert.deepEqual(clusters(pushed), ['greetserver-v2.default.svc.cluster.local:50051', name]);
    } finally {
      client.close();
    }
  });
});
