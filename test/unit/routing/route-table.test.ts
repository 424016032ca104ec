import assert from 'node:assert/strict';

import { RouteTable, type CallFacts, type RouteDecision } from '../../../src/lookaside/routing/route-table.js';
import { backend, route } from './route-fixtures.js';

const GREET = '/greet.v1.GreetService/Greet';

function call(method = GREET, headers?: Record<string, string>): CallFacts {
  return { method, headers };
}

function backendOf(decision: RouteDecision | undefined): string | undefined {
  if (decision === undefined) return undefined;
  return decision.kind === 'backend' ? decision.backend.name : `no-backend: ${decision.message}`;
}

function decide(table: RouteTable, facts: CallFacts, service = 'greet'): string | undefined {
  return backendOf(table.forService('default', service)?.decide(facts));
}

describe('RouteTable', () => {
  it('leaves a Service without routes alone, and a call no rule matches', () => {
    const table = new RouteTable([route('canary', [{ matches: [{ headers: [{ name: 'x-canary', value: 'yes' }] }], backendRefs: [backend('v2')] }])]);
    assert.equal(table.forService('default', 'other'), undefined);
    assert.equal(decide(table, call()), undefined);
    assert.equal(decide(table, call(GREET, { 'x-canary': 'no' })), undefined);
    assert.equal(decide(table, call(GREET, { 'x-canary': 'yes' })), 'v2');
  });

  it('takes the first matching rule in route order when matches rank the same', () => {
    const table = new RouteTable([
      route('r', [
        { matches: [{ headers: [{ name: 'x-a', value: '1' }] }], backendRefs: [backend('first')] },
        { matches: [{ headers: [{ name: 'x-b', value: '1' }] }], backendRefs: [backend('second')] },
        { backendRefs: [backend('catch-all')] },
      ]),
    ]);
    assert.equal(decide(table, call(GREET, { 'x-a': '1', 'x-b': '1' })), 'first');
    assert.equal(decide(table, call(GREET, { 'x-b': '1' })), 'second');
    assert.equal(decide(table, call(GREET, {})), 'catch-all');
  });

  it('ranks as the spec says: longer service name, then longer method name, then more headers, before rule order', () => {
    const table = new RouteTable([
      route('r', [
        { matches: [{ headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '1' }] }], backendRefs: [backend('two-headers')] },
        { matches: [{ method: { method: 'Greet' } }], backendRefs: [backend('method-only')] },
        { matches: [{ method: { service: 'greet.v1.GreetService' } }], backendRefs: [backend('service-only')] },
        { matches: [{ method: { service: 'greet.v1.GreetService', method: 'Greet' } }], backendRefs: [backend('exact')] },
      ]),
    ]);
    assert.equal(decide(table, call(GREET, { 'x-a': '1', 'x-b': '1' })), 'exact');
    assert.equal(decide(table, call('/greet.v1.GreetService/Other', { 'x-a': '1', 'x-b': '1' })), 'service-only');
    assert.equal(decide(table, call('/other.Svc/Greet', { 'x-a': '1', 'x-b': '1' })), 'method-only');
    assert.equal(decide(table, call('/other.Svc/Other', { 'x-a': '1', 'x-b': '1' })), 'two-headers');
    assert.equal(decide(table, call('', { 'x-a': '1' })), undefined);
  });

  it('breaks ties between routes by age, then by namespace/name', () => {
    const rule = (to: string): unknown => ({ backendRefs: [backend(to)] });
    const older = route('zzz', [rule('older')], { createdAt: '2025-06-01T00:00:00Z' });
    const newerA = route('aaa', [rule('newer-a')], { createdAt: '2026-06-01T00:00:00Z' });
    const newerB = route('bbb', [rule('newer-b')], { createdAt: '2026-06-01T00:00:00Z' });
    assert.equal(decide(new RouteTable([newerB, newerA, older]), call()), 'older');
    assert.equal(decide(new RouteTable([newerB, newerA]), call()), 'newer-a');
  });

  it('needs every header of a match, compared exactly, and any one match of a rule', () => {
    const table = new RouteTable([
      route('r', [
        {
          matches: [{ headers: [{ name: 'X-Tenant', value: 'a' }, { name: 'x-env', value: 'beta' }] }, { method: { method: 'Ping' } }],
          backendRefs: [backend('special')],
        },
      ]),
    ]);
    assert.equal(decide(table, call(GREET, { 'x-tenant': 'a', 'x-env': 'beta' })), 'special');
    assert.equal(decide(table, call(GREET, { 'x-tenant': 'a' })), undefined);
    assert.equal(decide(table, call(GREET, { 'x-tenant': 'A', 'x-env': 'beta' })), undefined);
    assert.equal(decide(table, call('/any.Svc/Ping')), 'special');
  });

  it('splits a rule exactly by weight across all its matches, and sends nothing to weight 0', () => {
    const table = new RouteTable([route('r', [{ backendRefs: [backend('v1', 90), backend('v2', 10), backend('off', 0)] }])]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1_000; i++) {
      const to = decide(table, call(i % 2 === 0 ? GREET : '/x.Y/Z')) as string;
      counts[to] = (counts[to] ?? 0) + 1;
    }
    assert.deepEqual(counts, { v1: 900, v2: 100 });
  });

  it('says which route has nowhere to send a call (no backendRefs, or all weight 0)', () => {
    const table = new RouteTable([route('empty', [{ backendRefs: [backend('a', 0)] }])]);
    assert.match(decide(table, call()) as string, /^no-backend: GRPCRoute default\/empty .*weight 0/);
  });

  it('ignores routes that are not accepted or not attached to a Service', () => {
    const unsupported = route('regex', [{ matches: [{ method: { type: 'RegularExpression', method: 'G.*' } }], backendRefs: [backend('v2')] }]);
    const toGateway = route('gw', [{ backendRefs: [backend('v2')] }], { parents: [{ name: 'my-gateway' }] });
    assert.equal(unsupported.unsupported?.reason, 'UnsupportedValue');
    assert.deepEqual(toGateway.parents, []);
    assert.equal(new RouteTable([unsupported, toGateway]).forService('default', 'greet'), undefined);
  });
});
