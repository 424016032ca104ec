import assert from 'node:assert/strict';

import type { GrpcRoute } from '../../../src/lookaside/routing/grpc-route.js';
import type { RouteSource } from '../../../src/lookaside/routing/route-source.js';
import { RouteTable } from '../../../src/lookaside/routing/route-table.js';
import { StaticRoutes } from '../../../src/lookaside/routing/static-routes.js';
import { Resolver, type ResolveOutcome, type ResolveQuery } from '../../../src/lookaside/resolver.js';
import { slice, sliceEndpoint } from '../../support/endpoints.js';
import { FakeSource } from '../../support/fake-source.js';
import { resolverStack, type ResolverStack } from '../../support/resolver-stack.js';
import { backend, route } from './route-fixtures.js';

/** Services of namespace default: `greet` on 10.0.0.1, `v1` on .11 and .12, `v2` on .21, `down` with nothing ready. */
const SERVICES: Record<string, number[]> = { 'default/greet': [1], 'default/v1': [11, 12], 'default/v2': [21] };

function routed(routes: RouteSource): { stack: ResolverStack; resolver: Resolver } {
  const source = new FakeSource();
  source.answer = (id) => {
    if (id === 'default/down') return [slice([sliceEndpoint(30, { ready: false })])];
    const hosts = SERVICES[id];
    return hosts === undefined ? [] : [slice(hosts.map((n) => sliceEndpoint(n)))];
  };
  const stack = resolverStack(source);
  const resolver = new Resolver({
    services: stack.services,
    ownNamespace: 'default',
    defaultPolicy: 'round_robin',
    allowedNamespaces: [],
    describeMissing: () => 'not in the fake',
    routes,
  });
  return { stack, resolver };
}

function query(extra: Partial<ResolveQuery> = {}): ResolveQuery {
  return { service: 'greet', namespace: '', policy: undefined, portName: '', ...extra };
}

/** Which Service answered (by its endpoint's IP), or the failure's reason. */
function where(outcome: ResolveOutcome): string {
  if (!outcome.ok) return outcome.reason;
  const host = Number(outcome.endpoint.ip.split('.')[3]);
  return host < 10 ? 'greet' : host < 20 ? 'v1' : 'v2';
}

async function tally(resolver: Resolver, times: number, extra: Partial<ResolveQuery> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < times; i++) {
    const to = where(await resolver.resolve(query(extra)));
    counts[to] = (counts[to] ?? 0) + 1;
  }
  return counts;
}

describe('Resolve with GRPCRoutes', () => {
  let stack: ResolverStack | undefined;
  afterEach(() => stack?.services.close());

  it('sends calls to the Service itself when it has no route', async () => {
    const setup = routed(new StaticRoutes([route('elsewhere', [{ backendRefs: [backend('v2')] }], { parents: [{ group: '', kind: 'Service', name: 'other' }] })]));
    stack = setup.stack;
    assert.deepEqual(await tally(setup.resolver, 10), { greet: 10 });
  });

  it('splits 1,000 Resolves 900/100 between the backends of a 90/10 route, each backend balanced by the policy', async () => {
    const setup = routed(new StaticRoutes([route('canary', [{ backendRefs: [backend('v1', 90), backend('v2', 10)] }])]));
    stack = setup.stack;
    assert.deepEqual(await tally(setup.resolver, 1_000), { v1: 900, v2: 100 });
    const pods = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const outcome = await setup.resolver.resolve(query());
      if (outcome.ok && outcome.service === 'v1') pods.add(outcome.endpoint.ip);
    }
    assert.deepEqual([...pods].sort(), ['10.0.0.11', '10.0.0.12']);
  });

  it('follows a method match and a header match, and only them', async () => {
    const setup = routed(
      new StaticRoutes([
        route('by-call', [
          { matches: [{ method: { service: 'greet.v1.GreetService', method: 'Greet' } }], backendRefs: [backend('v1')] },
          { matches: [{ headers: [{ name: 'x-canary', value: 'on' }] }], backendRefs: [backend('v2')] },
        ]),
      ]),
    );
    stack = setup.stack;
    assert.deepEqual(await tally(setup.resolver, 3, { method: '/greet.v1.GreetService/Greet' }), { v1: 3 });
    assert.deepEqual(await tally(setup.resolver, 3, { method: '/greet.v1.GreetService/Other', headers: { 'x-canary': 'on' } }), { v2: 3 });
    assert.deepEqual(await tally(setup.resolver, 3, { method: '/greet.v1.GreetService/Other' }), { greet: 3 });
  });

  it('fails only the share that goes to a missing or unready backend, naming the route and the backend', async () => {
    const setup = routed(new StaticRoutes([route('broken', [{ backendRefs: [backend('v1', 3), backend('gone', 1), backend('down', 1)] }])]));
    stack = setup.stack;
    const messages = new Set<string>();
    const counts: Record<string, number> = {};
    for (let i = 0; i < 50; i++) {
      const outcome = await setup.resolver.resolve(query());
      const to = where(outcome);
      counts[to] = (counts[to] ?? 0) + 1;
      if (!outcome.ok) messages.add(outcome.message);
    }
    assert.deepEqual(counts, { v1: 30, 'route-backend-unavailable': 20 });
    assert.deepEqual([...messages].sort(), [
      'GRPCRoute default/broken sends this call to Service default/down, which has no ready endpoint',
      'GRPCRoute default/broken sends this call to Service default/gone, which does not exist (no EndpointSlice)',
    ]);
  });

  it('fails calls a route sends to a backend of another kind or namespace', async () => {
    const setup = routed(new StaticRoutes([route('odd', [{ backendRefs: [{ name: 'v2', namespace: 'prod', port: 50051 }] }])]));
    stack = setup.stack;
    const outcome = await setup.resolver.resolve(query());
    assert.ok(!outcome.ok);
    assert.equal(outcome.reason, 'route-backend-unavailable');
    assert.match(outcome.message, /GRPCRoute default\/odd .*default\/v2.* is in namespace prod/);
  });

  it('waits for a namespace whose routes are being read before its first answer', async () => {
    let release: (table: RouteTable) => void = () => undefined;
    const pending = new Promise<RouteTable>((resolve) => (release = resolve));
    const routes: RouteSource = { routesIn: () => pending, close: async () => undefined };
    const setup = routed(routes);
    stack = setup.stack;
    const answer = setup.resolver.resolve(query());
    release(new RouteTable([route('all-v2', [{ backendRefs: [backend('v2')] }])] as GrpcRoute[]));
    assert.equal(where(await answer), 'v2');
  });

  it('refuses a method or headers it cannot use, with INVALID_ARGUMENT', async () => {
    const setup = routed(new StaticRoutes());
    stack = setup.stack;
    const refused = async (extra: Partial<ResolveQuery>): Promise<string> => {
      const outcome = await setup.resolver.resolve(query(extra));
      assert.ok(!outcome.ok && outcome.reason === 'invalid-argument', JSON.stringify(outcome));
      return outcome.message;
    };
    assert.match(await refused({ method: 'Greet' }), /not a full method name/);
    assert.match(await refused({ headers: { 'X-Upper': 'a' } }), /lowercase header name/);
    assert.match(await refused({ headers: { ':path': '/a/b' } }), /no pseudo-headers/);
    assert.match(await refused({ headers: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`h${i}`, 'v'])) }), /at most 16 headers/);
    assert.match(await refused({ headers: { big: 'x'.repeat(257) } }), /longer than 256/);
  });
});
