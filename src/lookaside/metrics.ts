import { Counter, Gauge, type Registry } from 'prom-client';

import { BufferedCounter, type BufferedCounterChild } from '../common/metrics.js';

import type { ServiceKey, ServiceSnapshot } from './discovery/types.js';

type ResolveLabel = 'namespace' | 'service' | 'policy' | 'code';

/** How looking up a name that was not watched ended (`refused`: over the lookup limits). */
export type LookupResultLabel = 'found' | 'missing' | 'failed' | 'full' | 'refused';

/** Label value for calls that never reached a watched Service, keeping label sets bounded. */
export const UNWATCHED_LABEL = '_unwatched';

/**
 * The lookaside's own metrics. Per-Service series exist only for watched
 * Services (at most MAX_SERVICES) and are removed when a Service is unwatched,
 * so label sets stay bounded however many names clients try.
 */
export class LookasideMetrics {
  private readonly resolves: BufferedCounter<ResolveLabel>;
  private readonly endpoints: Gauge<'namespace' | 'service'>;
  private readonly lastChange: Gauge<'namespace' | 'service'>;
  private readonly watched: Gauge;
  private readonly watchRestarts: Counter<'reason'>;
  private readonly lookups: Counter<'result'>;
  private readonly resolveCountsByService = new Map<string, ResolveCounts>();
  /** Calls that reached no watched Service, under UNWATCHED_LABEL; never removed. */
  readonly unwatchedResolves: ResolveCounts;

  constructor(registry: Registry) {
    this.resolves = new BufferedCounter({
      name: 'lookaside_resolve_total',
      help: 'Resolve calls by Service, policy and gRPC code.',
      labelNames: ['namespace', 'service', 'policy', 'code'],
      registers: [registry],
    });
    this.unwatchedResolves = new ResolveCounts(this.resolves, UNWATCHED_LABEL, UNWATCHED_LABEL);
    this.endpoints = new Gauge({
      name: 'lookaside_endpoints',
      help: 'Ready endpoints (pods) of each watched Service.',
      labelNames: ['namespace', 'service'],
      registers: [registry],
    });
    this.lastChange = new Gauge({
      name: 'lookaside_endpoints_last_change_timestamp_seconds',
      help: 'Unix time at which the endpoint set of a watched Service last changed.',
      labelNames: ['namespace', 'service'],
      registers: [registry],
    });
    this.watched = new Gauge({
      name: 'lookaside_watched_services',
      help: 'Services currently watched.',
      registers: [registry],
    });
    this.watchRestarts = new Counter({
      name: 'lookaside_watch_restarts_total',
      help: 'Watches restarted after a failure, by reason (expired = 410 Gone, error, closed early, silent = no event or BOOKMARK for too long).',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.lookups = new Counter({
      name: 'lookaside_service_lookups_total',
      help: 'Lookups of Service names not watched, by result (found, missing, failed, full = MAX_SERVICES reached, refused = over the lookup limits).',
      labelNames: ['result'],
      registers: [registry],
    });
  }

  /**
   * Counts one Resolve outside the per-call path (a request refused before it
   * names a Service); the per-call path counts on the outcome's ResolveCounts.
   */
  countResolve(namespace: string, service: string, policy: string, code: string): void {
    this.resolveCounts(namespace, service).count(policy, code);
  }

  /**
   * The lookaside_resolve_total series of one Service, kept by its
   * WatchedService so a Resolve counts without looking anything up; removed
   * by `serviceUnwatched`. UNWATCHED_LABEL for both labels gives the shared
   * series of calls that reached no watched Service.
   */
  resolveCounts(namespace: string, service: string): ResolveCounts {
    if (namespace === UNWATCHED_LABEL && service === UNWATCHED_LABEL) return this.unwatchedResolves;
    const id = `${namespace}\u0000${service}`;
    let counts = this.resolveCountsByService.get(id);
    if (counts === undefined) {
      counts = new ResolveCounts(this.resolves, namespace, service);
      this.resolveCountsByService.set(id, counts);
    }
    return counts;
  }

  setWatchedServices(count: number): void {
    this.watched.set(count);
  }

  endpointsChanged(service: ServiceKey, snapshot: ServiceSnapshot, nowMs: number): void {
    this.endpoints.labels(service.namespace, service.name).set(snapshot.readyCount);
    this.lastChange.labels(service.namespace, service.name).set(nowMs / 1000);
  }

  serviceUnwatched(service: ServiceKey): void {
    this.endpoints.remove(service.namespace, service.name);
    this.lastChange.remove(service.namespace, service.name);
    const id = `${service.namespace}\u0000${service.name}`;
    this.resolveCountsByService.get(id)?.remove();
    this.resolveCountsByService.delete(id);
  }

  watchRestarted(reason: 'expired' | 'error' | 'closed' | 'silent'): void {
    this.watchRestarts.labels(reason).inc();
  }

  serviceLookedUp(result: LookupResultLabel): void {
    this.lookups.labels(result).inc();
  }
}

/**
 * The lookaside_resolve_total series of one Service (or of every name not
 * watched), by policy and code, each made on its first count. Held where a
 * Resolve already is (the WatchedService), so counting costs no map lookup
 * under a string key built per call: a random one of 1,000 Services would
 * otherwise touch cold entries of a map of them all on every call.
 */
export class ResolveCounts {
  private readonly byPolicy = new Map<string, Map<string, BufferedCounterChild<ResolveLabel>>>();
  // The series counted last: nearly every call of a Service has the same policy and succeeds.
  private lastPolicy: string | undefined;
  private lastCode: string | undefined;
  private last: BufferedCounterChild<ResolveLabel> | undefined;
  private removed = false;

  constructor(
    private readonly counter: BufferedCounter<ResolveLabel>,
    readonly namespace: string,
    readonly service: string,
  ) {}

  count(policy: string, code: string): void {
    if (this.last !== undefined && code === this.lastCode && policy === this.lastPolicy) {
      this.last.inc();
      return;
    }
    // Removed with its Service: a late count must not bring the series back unbounded.
    if (this.removed) return;
    let byCode = this.byPolicy.get(policy);
    if (byCode === undefined) {
      byCode = new Map();
      this.byPolicy.set(policy, byCode);
    }
    let child = byCode.get(code);
    if (child === undefined) {
      child = this.counter.child({ namespace: this.namespace, service: this.service, policy, code });
      byCode.set(code, child);
    }
    this.lastPolicy = policy;
    this.lastCode = code;
    this.last = child;
    child.inc();
  }

  /** What an outcome printed for a person (a log line, a test's message) shows of it: its labels, not the registry behind them. */
  toJSON(): { namespace: string; service: string } {
    return { namespace: this.namespace, service: this.service };
  }

  /** @internal LookasideMetrics.serviceUnwatched: every series of the Service goes, and later counts are dropped. */
  remove(): void {
    this.removed = true;
    this.last = undefined;
    for (const byCode of this.byPolicy.values()) for (const child of byCode.values()) this.counter.remove(child);
    this.byPolicy.clear();
  }
}
