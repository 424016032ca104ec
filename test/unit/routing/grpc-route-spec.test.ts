import assert from 'node:assert/strict';

import { parseGrpcRoute, RouteSpecError } from '../../../src/lookaside/routing/grpc-route-spec.js';

function object(spec: unknown): unknown {
  return { metadata: { namespace: 'shop', name: 'cart', generation: 4, creationTimestamp: '2026-02-03T04:05:06Z' }, spec };
}

describe('parseGrpcRoute', () => {
  it('reads parents, matches and backends with the spec defaults (weight 1, kind Service, Exact)', () => {
    const route = parseGrpcRoute(
      object({
        parentRefs: [{ group: '', kind: 'Service', name: 'cart', port: 50051 }, { name: 'public-gateway' }],
        rules: [{ matches: [{ method: { service: 'cart.v1.Cart' }, headers: [{ name: 'X-User', value: 'beta' }] }], backendRefs: [{ name: 'cart-v2', port: 50051 }] }],
      }),
    );
    assert.equal(route.generation, 4);
    assert.deepEqual(route.parents, [{ name: 'cart', port: 50051 }]);
    assert.deepEqual(route.rules, [
      {
        matches: [{ method: { service: 'cart.v1.Cart', method: '' }, headers: [{ name: 'x-user', value: 'beta' }] }],
        backends: [{ name: 'cart-v2', weight: 1, problem: undefined }],
      },
    ]);
    assert.equal(route.unsupported, undefined);
  });

  it('marks RegularExpression matches and filters as UnsupportedValue, saying where', () => {
    const route = parseGrpcRoute(
      object({
        parentRefs: [{ group: '', kind: 'Service', name: 'cart' }],
        rules: [
          { matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: '.*' }] }], filters: [{ type: 'RequestHeaderModifier' }] },
        ],
      }),
    );
    assert.equal(route.unsupported?.reason, 'UnsupportedValue');
    assert.match(route.unsupported?.message ?? '', /spec\.rules\[0\]\.filters: filters are not supported; spec\.rules\[0\]\.matches\[0\]\.headers\[0\]\.type: "RegularExpression"/);
  });

  it('flags backends of another kind or namespace (InvalidKind, RefNotPermitted)', () => {
    const route = parseGrpcRoute(
      object({
        parentRefs: [{ group: '', kind: 'Service', name: 'cart' }],
        rules: [{ backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'b' }, { name: 'cart-v2', namespace: 'other', port: 1 }] }],
      }),
    );
    assert.deepEqual(
      route.rules[0]?.backends.map((backend) => backend.problem?.reason),
      ['InvalidKind', 'RefNotPermitted'],
    );
  });

  it('refuses shapes the CRD would refuse, saying where', () => {
    assert.throws(() => parseGrpcRoute(object({ rules: [{ backendRefs: [{ name: 'a', weight: -1 }] }] })), /spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
    assert.throws(() => parseGrpcRoute(object({ rules: [{ matches: [{ method: {} }] }] })), RouteSpecError);
    assert.throws(() => parseGrpcRoute({ metadata: { name: 'x' } }), /metadata\.namespace: is required/);
  });
});
