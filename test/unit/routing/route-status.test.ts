import assert from 'node:assert/strict';

import { decodeRouteObject, type RouteObject, type RouteParentStatus } from '../../../src/lookaside/routing/route-objects.js';
import { CONTROLLER_NAME, desiredStatusParents } from '../../../src/lookaside/routing/route-status.js';

const EARLIER = '2026-01-01T00:00:00.000Z';
const NOW = '2026-06-01T12:00:00.000Z';
const GATEWAY_ENTRY: RouteParentStatus = { parentRef: { name: 'edge' }, controllerName: 'example.com/gateway', conditions: [] };

function object(generation: number, backends: string[], statusParents: RouteParentStatus[] = [], extra: Record<string, unknown> = {}): RouteObject {
  const decoded = decodeRouteObject({
    metadata: { namespace: 'shop', name: 'cart', generation, resourceVersion: '42' },
    spec: { parentRefs: [{ group: '', kind: 'Service', name: 'cart', port: 8080 }], rules: [{ backendRefs: backends.map((name) => ({ name, port: 8080 })), ...extra }] },
    status: { parents: statusParents },
  });
  assert.ok(decoded !== undefined);
  return decoded;
}

function conditions(parents: RouteParentStatus[] | undefined): string[] {
  const ours = parents?.find((entry) => entry.controllerName === CONTROLLER_NAME);
  return (ours?.conditions ?? []).map((c) => `${c.type}=${c.status} ${c.reason} gen ${c.observedGeneration} at ${c.lastTransitionTime}`);
}

describe('GRPCRoute status', () => {
  it('says Accepted and ResolvedRefs for each Service parent, with the generation, keeping other controllers\' entries', () => {
    const parents = desiredStatusParents(object(3, ['cart-v1']), () => true, NOW);
    assert.deepEqual(conditions(parents), [`Accepted=True Accepted gen 3 at ${NOW}`, `ResolvedRefs=True ResolvedRefs gen 3 at ${NOW}`]);
    assert.deepEqual(parents?.find((entry) => entry.controllerName === CONTROLLER_NAME)?.parentRef, { group: '', kind: 'Service', name: 'cart', port: 8080 });
    const withGateway = desiredStatusParents(object(3, ['cart-v1'], [GATEWAY_ENTRY]), () => true, NOW);
    assert.deepEqual(withGateway?.[0], GATEWAY_ENTRY);
  });

  it('writes nothing when the status already says it, and keeps lastTransitionTime while a condition holds', () => {
    const written = desiredStatusParents(object(1, ['cart-v1']), () => true, EARLIER) ?? [];
    assert.equal(desiredStatusParents(object(1, ['cart-v1'], written), () => true, NOW), undefined);
    const missing = desiredStatusParents(object(2, ['cart-v9'], written), (name) => name !== 'cart-v9', NOW);
    assert.deepEqual(conditions(missing), [`Accepted=True Accepted gen 2 at ${EARLIER}`, `ResolvedRefs=False BackendNotFound gen 2 at ${NOW}`]);
  });

  it('reports unsupported values and invalid backends with the spec\'s reasons, and waits while a backend is unknown', () => {
    const regex = object(1, ['cart-v1'], [], { matches: [{ method: { type: 'RegularExpression', method: 'A.*' } }] });
    assert.match(conditions(desiredStatusParents(regex, () => true, NOW))[0] as string, /^Accepted=False UnsupportedValue/);
    const other = decodeRouteObject({
      metadata: { namespace: 'shop', name: 'cart', generation: 1 },
      spec: { parentRefs: [{ group: '', kind: 'Service', name: 'cart' }], rules: [{ backendRefs: [{ name: 'b', kind: 'Bucket', group: 'example.com' }] }] },
    });
    assert.ok(other !== undefined);
    assert.match(conditions(desiredStatusParents(other, () => true, NOW))[1] as string, /^ResolvedRefs=False InvalidKind/);
    assert.equal(desiredStatusParents(object(1, ['cart-v1']), () => undefined, NOW), undefined);
  });
});
