import assert from 'node:assert/strict';

import { Registry } from 'prom-client';

import { LookasideMetrics } from '../../src/lookaside/metrics.js';

describe('LookasideMetrics: lookaside_resolve_total', () => {
  it('counts each Resolve under its namespace, service, policy and code', async () => {
    const registry = new Registry();
    const metrics = new LookasideMetrics(registry);
    for (let i = 0; i < 3; i += 1) metrics.countResolve('default', 'greet', 'round_robin', 'OK');
    metrics.countResolve('default', 'greet', 'round_robin', 'Unavailable');
    metrics.countResolve('default', 'greet', 'random', 'OK');
    metrics.countResolve('other', 'greet', 'round_robin', 'OK');
    const page = await registry.metrics();
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="greet",policy="round_robin",code="OK"} 3'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="greet",policy="round_robin",code="Unavailable"} 1'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="greet",policy="random",code="OK"} 1'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="other",service="greet",policy="round_robin",code="OK"} 1'), page);
  });

  it('drops every series of a Service no longer watched, and only those; counts it from zero if watched again', async () => {
    const registry = new Registry();
    const metrics = new LookasideMetrics(registry);
    metrics.countResolve('default', 'greet', 'round_robin', 'OK');
    metrics.countResolve('default', 'greet', 'random', 'NotFound');
    metrics.countResolve('default', 'greeter', 'round_robin', 'OK');
    metrics.countResolve('other', 'greet', 'round_robin', 'OK');
    await registry.metrics();
    metrics.serviceUnwatched({ namespace: 'default', name: 'greet' });
    let page = await registry.metrics();
    assert.ok(!page.includes('namespace="default",service="greet"'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="greeter",policy="round_robin",code="OK"} 1'), page);
    assert.ok(page.includes('lookaside_resolve_total{namespace="other",service="greet",policy="round_robin",code="OK"} 1'), page);
    metrics.countResolve('default', 'greet', 'round_robin', 'OK');
    page = await registry.metrics();
    assert.ok(page.includes('lookaside_resolve_total{namespace="default",service="greet",policy="round_robin",code="OK"} 1'), page);
  });
});
