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
  /**
   * lookaside_resolve_total children by namespace, service, policy, code:
   * nested maps, since the label strings are the same objects call after call
   * (their hashes cached), where one joined key would be a new string to hash.
   */
  private readonly resolveCounters = new Map<string, Map<string, Map<string, Map<string, BufferedCounterChild<ResolveLabel>>>>>();

  constructor(registry: Registry) {
    this.resolves = new BufferedCounter({
      name: 'lookaside_resolve_total',
      help: 'Resolve calls by Service, policy and gRPC code.',
      labelNames: ['namespace', 'service', 'policy', 'code'],
      registers: [registry],
    });
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

  /** Counts one Resolve; the counter child is cached because this runs on every call. */
  countResolve(namespace: string, service: string, policy: string, code: string): void {
    let services = this.resolveCounters.get(namespace);
    if (services === undefined) this.resolveCounters.set(namespace, (services = new Map()));
    let policies = services.get(service);
    if (policies === undefined) services.set(service, (policies = new Map()));
    let codes = policies.get(policy);
    if (codes === undefined) policies.set(policy, (codes = new Map()));
    let counter = codes.get(code);
    if (counter === undefined) codes.set(code, (counter = this.resolves.child({ namespace, service, policy, code })));
    counter.inc();
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
    const services = this.resolveCounters.get(service.namespace);
    for (const codes of services?.get(service.name)?.values() ?? []) for (const counter of codes.values()) this.resolves.remove(counter);
    services?.delete(service.name);
  }

  watchRestarted(reason: 'expired' | 'error' | 'closed' | 'silent'): void {
    this.watchRestarts.labels(reason).inc();
  }

  serviceLookedUp(result: LookupResultLabel): void {
    this.lookups.labels(result).inc();
  }
}
