import type { Logger } from '../common/logging.js';
import { ServicePickers } from './balancing/service-pickers.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type ServiceKey,
  type Subscription,
} from './discovery/types.js';
import type { LookasideMetrics } from './metrics.js';

export interface WatchedServicesOptions {
  readonly source: DiscoverySource;
  readonly maxServices: number;
  readonly idleTimeoutMs: number;
  readonly metrics: LookasideMetrics;
  readonly logger: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  readonly random?: () => number;
}

/** One Service being followed: its latest state and the pickers built from it. */
export class WatchedService {
  state: DiscoveryState = { kind: 'pending' };
  pickers: ServicePickers | undefined;
  lastUsedMs: number;
  private readonly settledWaiters = new Set<() => void>();

  constructor(
    readonly key: ServiceKey,
    nowMs: number,
  ) {
    this.lastUsedMs = nowMs;
  }

  /** Resolves once the first list has answered (or failed), or after `timeoutMs`. */
  whenSettled(timeoutMs: number): Promise<void> {
    if (this.state.kind !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.settledWaiters.delete(finish);
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, timeoutMs));
      this.settledWaiters.add(finish);
    });
  }

  /** Wakes every caller waiting in `whenSettled`. */
  settle(): void {
    for (const finish of [...this.settledWaiters]) finish();
  }
}

/**
 * The Services the lookaside follows. A Service is followed from its first
 * Resolve, kept current by its source, and dropped after IDLE_TIMEOUT with no
 * Resolve; at most MAX_SERVICES are followed at once.
 */
export class WatchedServices {
  private readonly services = new Map<string, { service: WatchedService; subscription: Subscription }>();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: WatchedServicesOptions) {
    this.now = options.now ?? Date.now;
    const sweepEveryMs = Math.max(1_000, Math.min(60_000, Math.floor(options.idleTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweepIdle(), sweepEveryMs);
    this.sweepTimer.unref();
  }

  get size(): number {
    return this.services.size;
  }

  /**
   * The followed Service for `key`, starting to follow it if needed. Undefined
   * when MAX_SERVICES are already followed (or after close).
   */
  acquire(key: ServiceKey): WatchedService | undefined {
    const id = serviceKeyString(key);
    const existing = this.services.get(id);
    const nowMs = this.now();
    if (existing !== undefined) {
      existing.service.lastUsedMs = nowMs;
      return existing.service;
    }
    if (this.closed || this.services.size >= this.options.maxServices) return undefined;

    const service = new WatchedService(key, nowMs);
    const subscription = this.options.source.follow(key, (state) => this.apply(id, service, state));
    this.services.set(id, { service, subscription });
    this.options.metrics.setWatchedServices(this.services.size);
    this.options.logger.info({ namespace: key.namespace, service: key.name }, 'watching service');
    return service;
  }

  /** Stops following every Service unused for longer than IDLE_TIMEOUT. */
  sweepIdle(): void {
    const oldestAllowedMs = this.now() - this.options.idleTimeoutMs;
    for (const [id, { service }] of this.services) {
      if (service.lastUsedMs < oldestAllowedMs) {
        this.drop(id);
        this.options.logger.info(
          { namespace: service.key.namespace, service: service.key.name },
          'stopped watching idle service',
        );
      }
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const id of [...this.services.keys()]) this.drop(id);
  }

  private drop(id: string): void {
    const entry = this.services.get(id);
    if (entry === undefined) return;
    this.services.delete(id);
    entry.subscription.stop();
    entry.service.settle();
    this.options.metrics.serviceUnwatched(entry.service.key);
    this.options.metrics.setWatchedServices(this.services.size);
  }

  private apply(id: string, service: WatchedService, state: DiscoveryState): void {
    if (this.services.get(id)?.service !== service) return;
    if (state.kind !== 'synced') {
      // A source keeps serving the last snapshot once synced; a late failure changes nothing.
      if (service.state.kind !== 'synced') service.state = state;
      if (state.kind === 'failed') service.settle();
      return;
    }
    const previous = service.state.kind === 'synced' ? service.state.snapshot : undefined;
    service.state = state;
    service.settle();
    if (previous?.fingerprint === state.snapshot.fingerprint) return;

    service.pickers = new ServicePickers(state.snapshot, service.pickers, this.options.random);
    this.options.metrics.endpointsChanged(service.key, state.snapshot, this.now());
    this.options.logger.info(
      {
        namespace: service.key.namespace,
        service: service.key.name,
        ready: state.snapshot.readyCount,
        previousReady: previous?.readyCount ?? 0,
        notReady: state.snapshot.notReadyCount,
        slices: state.snapshot.sliceCount,
      },
      'endpoints changed',
    );
  }
}
