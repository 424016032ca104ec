import { Counter, Gauge, type Registry } from 'prom-client';

import { grpcCodeName } from '../../common/grpc-metrics.js';
import { BufferedCounter, type BufferedCounterChild } from '../../common/metrics.js';
import type { ServiceKey } from '../discovery/types.js';

/** What the gauges read when scraped. */
export interface LoadGaugeSource {
  /** Ejected endpoints now, per watched Service. */
  ejectedPerService(): Iterable<readonly [ServiceKey, number]>;
  /** ORCA streams open now. */
  orcaStreams(): number;
}

/**
 * Metrics of the per-endpoint state. Per-Service series exist only for
 * watched Services and go with them; `code` takes at most the 17 gRPC code
 * names (anything else a client sends counts as Unknown).
 */
export class LoadMetrics {
  private readonly ejections: Counter<'namespace' | 'service'>;
  private readonly callResults: BufferedCounter<'code'>;
  private readonly resultChildren = new Map<number, BufferedCounterChild<'code'>>();
  private source: LoadGaugeSource | undefined;

  constructor(registry: Registry) {
    this.ejections = new Counter({
      name: 'lookaside_outlier_ejections_total',
      help: 'Endpoints ejected from their Service for failing the calls clients reported.',
      labelNames: ['namespace', 'service'],
      registers: [registry],
    });
    const readSource = (): LoadGaugeSource | undefined => this.source;
    new Gauge({
      name: 'lookaside_ejected_endpoints',
      help: 'Endpoints of each watched Service out of the rotation now (outlier ejection).',
      labelNames: ['namespace', 'service'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, count] of readSource()?.ejectedPerService() ?? []) this.labels(key.namespace, key.name).set(count);
      },
    });
    new Gauge({
      name: 'lookaside_orca_streams',
      help: 'Out-of-band ORCA load report streams open to endpoints (WEIGHTED_ROUND_ROBIN).',
      registers: [registry],
      collect() {
        this.set(readSource()?.orcaStreams() ?? 0);
      },
    });
    this.callResults = new BufferedCounter({
      name: 'lookaside_call_results_total',
      help: 'Finished calls reported by clients, by gRPC code.',
      labelNames: ['code'],
      registers: [registry],
    });
  }

  /** Where the gauges read from (the ServiceLoads, once built). */
  readFrom(source: LoadGaugeSource): void {
    this.source = source;
  }

  countEjection(key: ServiceKey): void {
    this.ejections.labels(key.namespace, key.name).inc();
  }

  /** Runs for every reported call. */
  countResult(code: number): void {
    const known = code >= 0 && code <= 16 ? code : 2;
    let child = this.resultChildren.get(known);
    if (child === undefined) {
      child = this.callResults.child({ code: grpcCodeName(known) });
      this.resultChildren.set(known, child);
    }
    child.inc();
  }

  serviceUnwatched(key: ServiceKey): void {
    this.ejections.remove(key.namespace, key.name);
  }
}
