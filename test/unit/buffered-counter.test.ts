import assert from 'node:assert/strict';

import { Registry } from 'prom-client';

import { BufferedCounter } from '../../src/common/metrics.js';

describe('BufferedCounter', () => {
  function counter(registry: Registry): BufferedCounter<'service' | 'code'> {
    return new BufferedCounter({
      name: 'calls_total',
      help: 'Calls.',
      labelNames: ['service', 'code'],
      registers: [registry],
    });
  }

  it('shows exact counts at every scrape, in prom-client text and JSON', async () => {
    const registry = new Registry();
    const calls = counter(registry);
    const ok = calls.child({ service: 'greet', code: 'OK' });
    const failed = calls.child({ service: 'greet', code: 'NotFound' });
    for (let i = 0; i < 5; i += 1) ok.inc();
    failed.inc();

    let text = await registry.metrics();
    assert.match(text, /^# TYPE calls_total counter$/m);
    assert.match(text, /^calls_total\{service="greet",code="OK"\} 5$/m);
    assert.match(text, /^calls_total\{service="greet",code="NotFound"\} 1$/m);

    ok.inc();
    text = await registry.metrics();
    assert.match(text, /^calls_total\{service="greet",code="OK"\} 6$/m);
    assert.match(text, /^calls_total\{service="greet",code="NotFound"\} 1$/m);

    ok.inc();
    const json = await registry.getMetricsAsJSON();
    const values = json.find((metric) => metric.name === 'calls_total')?.values ?? [];
    assert.deepEqual(
      values.map((value) => [value.labels['code'], value.value]),
      [
        ['OK', 7],
        ['NotFound', 1],
      ],
    );
  });

  it('shows no series for a child never incremented', async () => {
    const registry = new Registry();
    counter(registry).child({ service: 'idle', code: 'OK' });
    assert.doesNotMatch(await registry.metrics(), /service="idle"/);
  });

  it('removes a child and its series, counted or not yet handed over', async () => {
    const registry = new Registry();
    const calls = counter(registry);
    const gone = calls.child({ service: 'gone', code: 'OK' });
    const kept = calls.child({ service: 'kept', code: 'OK' });
    gone.inc();
    kept.inc();
    await registry.metrics();
    gone.inc();
    calls.remove(gone);
    const text = await registry.metrics();
    assert.doesNotMatch(text, /service="gone"/);
    assert.match(text, /^calls_total\{service="kept",code="OK"\} 1$/m);
  });
});
