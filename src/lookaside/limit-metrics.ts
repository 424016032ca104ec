import { Counter, Gauge, type Registry } from 'prom-client';

import type { Logger } from '../common/logging.js';

/** A limit being hit is logged at most this often (with the count since), never once per refusal. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** The limits that refuse work, as the variables that set them. */
export type LimitName = 'MAX_CONNECTIONS' | 'MAX_CONNECTIONS_PER_CLIENT' | 'MAX_OPEN_CALLS' | 'MAX_RESOLVE_STREAMS';

/** Where the gauges read what is open now; read at scrape time only. */
export interface OpenCounts {
  connections(): Promise<number>;
  calls(): number;
  resolveStreams(): number;
}

/**
 * How close the server is to its limits (README "Limits"): what is open now,
 * and how much was refused, by limit; refusals are also logged, sparingly.
 */
export class LimitMetrics {
  private readonly refused: Counter<'limit'>;
  private counts: OpenCounts | undefined;
  private readonly unlogged = new Map<LimitName, { count: number; lastLoggedMs: number }>();

  constructor(
    registry: Registry,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.refused = new Counter({
      name: 'lookaside_refused_total',
      help: 'Connections, calls and ResolveStreams refused, by the limit that refused them.',
      labelNames: ['limit'],
      registers: [registry],
    });
    const gauge = (name: string, help: string, read: (counts: OpenCounts) => number | Promise<number>): void => {
      const source = (): OpenCounts | undefined => this.counts;
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect(this: Gauge) {
          const counts = source();
          if (counts !== undefined) this.set(await read(counts));
        },
      });
    };
    gauge('lookaside_open_connections', 'TCP connections open on the gRPC port (MAX_CONNECTIONS).', (counts) => counts.connections());
    gauge('lookaside_open_calls', 'gRPC calls of every kind open now, ResolveStreams included (MAX_OPEN_CALLS).', (counts) => counts.calls());
    gauge('lookaside_open_resolve_streams', 'ResolveStreams open now (MAX_RESOLVE_STREAMS).', (counts) => counts.resolveStreams());
  }

  /** Gives the gauges their source, once the server and its listener exist. */
  watch(counts: OpenCounts): void {
    this.counts = counts;
  }

  countRefused(limit: LimitName): void {
    this.refused.labels(limit).inc();
    const nowMs = this.now();
    const pending = this.unlogged.get(limit) ?? { count: 0, lastLoggedMs: Number.NEGATIVE_INFINITY };
    pending.count += 1;
    this.unlogged.set(limit, pending);
    if (nowMs - pending.lastLoggedMs < REFUSAL_LOG_INTERVAL_MS) return;
    this.logger.warn({ limit, refused: pending.count }, 'limit reached: refusing connections or calls');
    pending.count = 0;
    pending.lastLoggedMs = nowMs;
  }
}
