import assert from 'node:assert/strict';

import { pino } from 'pino';
import { Registry } from 'prom-client';

import { LimitMetrics } from '../../src/lookaside/limit-metrics.js';

describe('LimitMetrics', () => {
  it('counts every refusal by limit, reads the open counts at scrape time, and logs a limit at most once a minute with the count since', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const clock = { nowMs: 1_000_000 };
    const registry = new Registry();
    const metrics = new LimitMetrics(registry, logger, () => clock.nowMs);
    metrics.watch({ connections: () => Promise.resolve(3), calls: () => 7, resolveStreams: () => 2 });

    for (let i = 0; i < 5; i += 1) metrics.countRefused('MAX_OPEN_CALLS');
    clock.nowMs += 59_000;
    metrics.countRefused('MAX_OPEN_CALLS');
    metrics.countRefused('MAX_CONNECTIONS');
    clock.nowMs += 1_000;
    metrics.countRefused('MAX_OPEN_CALLS');

    const page = await registry.metrics();
    assert.match(page, /^lookaside_refused_total\{limit="MAX_OPEN_CALLS"\} 7$/m);
    assert.match(page, /^lookaside_refused_total\{limit="MAX_CONNECTIONS"\} 1$/m);
    assert.match(page, /^lookaside_open_connections 3$/m);
    assert.match(page, /^lookaside_open_calls 7$/m);
    assert.match(page, /^lookaside_open_resolve_streams 2$/m);
    assert.deepEqual(
      lines.map((line) => [line['limit'], line['refused']]),
      [
        ['MAX_OPEN_CALLS', 1],
        ['MAX_CONNECTIONS', 1],
        ['MAX_OPEN_CALLS', 6],
      ],
    );
  });
});
