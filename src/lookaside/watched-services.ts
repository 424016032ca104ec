import type { Logger } from '../common/logging.js';
import { TokenBucket } from '../common/token-bucket.js';
import { ServicePickers } from './balancing/service-pickers.js';
import type { ServiceLoad } from './load/service-load.js';
import {
  serviceKeyString,
  type DiscoverySource,
  type DiscoveryState,
  type ServiceKey,
  type ServiceSnapshot,
  type Subscription,
} from './discovery/types.js';
import type { ServiceLoads } from './load/service-loads.js';
import type { LookasideMetrics, ResolveCounts } from './metrics.js';
import { MissingServices, type RememberedAnswer } from './missing-services.js';
import { ServiceLookup } from './service-lookup.js';

/** How long a name found missing is answered from memory unless told otherwise (NEGATIVE_CACHE_SECONDS). */
export const DEFAULT_MISSING_TTL_MS = 5_000;
/** Missing names remembered at once; past this the oldest is forgotten. */
export const MAX_MISSING_NAMES = 10_000;
/** A lookup that failed (API server unreachable, RBAC) is retried on demand after this long. */
export const FAILED_LOOKUP_TTL_MS = 1_000;
/** Lookups under way at once; more new names at the same moment are asked to retry. */
export const MAX_LOOKUPS_IN_FLIGHT = 64;
/** A lookup the source has not answered after this long is abandoned (sources time out sooner). */
export const LOOKUP_ABANDON_MS = 60_000;

export interface WatchedServicesOptions {
  readonly source: DiscoverySource;
  readonly maxServices: number;
  readonly idleTimeoutMs: number;
  readonly metrics: LookasideMetrics;
  readonly logger: Logger;
  /** How long a missing name is answered from memory; 0 looks it up again every time. */
  readonly missingTtlMs?: number;
  readonly maxMissingNames?: number;
  readonly maxLookupsInFlight?: number;
  /**
   * New names looked up per second (bursts of twice that), to spare the API
   * server a flood of made-up names; undefined means no limit (file discovery).
   * Lookups the source answers from memory (`answersFromMemory`) are not counted.
   */
  readonly lookupsPerSecond?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
  readonly random?: () => number;
  /** The per-endpoint state (outstanding calls, ejections, weights) of each watched Service; none when not given. */
  readonly loads?: ServiceLoads;
  /** Where round-robin rotations start (the worker's slot with LB_WORKERS > 1); 0 when not given. */
  readonly rotationOffset?: number;
}

/** Called after a watched Service's snapshot changed (never from inside the change). */
export type SnapshotListener = (service: WatchedService) => void;

/** One Service being followed: it exists, and its latest snapshot and pickers are here. */
export class WatchedService {
  pickers: ServicePickers;
  /** What `acquire` answers for it, made once: a Resolve allocates nothing to be told the Service is watched. */
  readonly acquired: { readonly kind: 'watched'; readonly service: WatchedService } = { kind: 'watched', service: this };
  /** Holders (xDS subscriptions) keeping the Service watched however long it goes without a Resolve. */
  private holds = 0;
  private readonly listeners = new Set<SnapshotListener>();

  constructor(
    readonly key: ServiceKey,
    public snapshot: ServiceSnapshot,
    public lastUsedMs: number,
    /** Its lookaside_resolve_total series, counted on by each Resolve answered from it. */
    readonly resolveCounts: ResolveCounts,
    random: (() => number) | undefined,
    load?: ServiceLoad,
    rotationOffset = 0,
  ) {
    this.pickers = new ServicePickers(snapshot, undefined, random, load, rotationOffset);
  }

  /** Whether something holds the Service watched (WatchedServices.hold). */
  get held(): boolean {
    return this.holds > 0;
  }

  /** @internal WatchedServices.hold counts holders here. */
  addHold(delta: 1 | -1): void {
    this.holds += delta;
  }

  /** Calls `listener` after each new snapshot, asynchronously, until the returned function is called. */
  onSnapshot(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** @internal WatchedServices publishes a new snapshot. Resolve never pays for listeners that do not exist. */
  publish(snapshot: ServiceSnapshot, pickers: ServicePickers): void {
    this.snapshot = snapshot;
    this.pickers = pickers;
    if (this.listeners.size === 0) return;
    const listeners = [...this.listeners];
    queueMicrotask(() => {
      for (const listener of listeners) if (this.listeners.has(listener)) listener(this);
    });
  }
}

/** What is known of a name a Resolve asks for, right now. */
export type Acquired =
  | { readonly kind: 'watched'; readonly service: WatchedService }
  | RememberedAnswer
  | { readonly kind: 'looking-up'; readonly lookup: ServiceLookup }
  | { readonly kind: 'full' }
  | { readonly kind: 'busy'; readonly limit: string };

interface LookupEntry {
  readonly lookup: ServiceLookup;
  readonly subscription: Subscription;
  /** Set when the lookup found the Service: its states now go to the watched entry. */
  watched: WatchedService | undefined;
}

/**
 * The Services the lookaside follows. Only a Service that exists is watched
 * (counted in MAX_SERVICES, with a watch and metric series): a name's first
 * Resolve looks it up, and a name found missing is only remembered, briefly
 * and in bounded memory. A watched Service is dropped after IDLE_TIMEOUT with
 * no Resolve and no hold (an xDS subscription), even if it lost its endpoints meanwhile.
 */
export class WatchedServices {
  private readonly services = new Map<string, { service: WatchedService; subscription: Subscription }>();
  /** The same Services by namespace, then name: what a Resolve looks up, without building a `namespace/name` key per call. */
  private readonly byNamespace = new Map<string, Map<string, WatchedService>>();
  private readonly lookups = new Map<string, LookupEntry>();
  private readonly missing: MissingServices;
  private readonly lookupBudget: TokenBucket | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: WatchedServicesOptions) {
    this.now = options.now ?? Date.now;
    this.missing = new MissingServices(options.maxMissingNames ?? MAX_MISSING_NAMES);
    const rate = options.lookupsPerSecond;
    this.lookupBudget = rate === undefined ? undefined : new TokenBucket({ ratePerSecond: rate, burst: 2 * rate, now: this.now });
    const sweepEveryMs = Math.max(1_000, Math.min(60_000, Math.floor(options.idleTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweepIdle(), sweepEveryMs);
    this.sweepTimer.unref();
  }

  /** Services watched now (each counts toward MAX_SERVICES). */
  get size(): number {
    return this.services.size;
  }

  get maxServices(): number {
    return this.options.maxServices;
  }

  /** Missing names remembered now (none count toward MAX_SERVICES). */
  get missingCount(): number {
    return this.missing.size;
  }

  get lookupsInFlight(): number {
    return this.lookups.size;
  }

  /** How long a name found missing is remembered (NEGATIVE_CACHE_SECONDS); a subscriber asks again after that. */
  get missingTtlMs(): number {
    return this.options.missingTtlMs ?? DEFAULT_MISSING_TTL_MS;
  }

  /**
   * Keeps `service` watched, whatever IDLE_TIMEOUT says, until the returned
   * release is called; it then goes idle IDLE_TIMEOUT after that release
   * unless a Resolve or another hold comes first.
   */
  hold(service: WatchedService): () => void {
    service.addHold(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      service.addHold(-1);
      service.lastUsedMs = Math.max(service.lastUsedMs, this.now());
    };
  }

  /** What is known of `key`, starting a lookup when nothing is and the limits allow one. */
  acquire(key: ServiceKey): Acquired {
    const nowMs = this.now();
    const watched = this.byNamespace.get(key.namespace)?.get(key.name);
    if (watched !== undefined) {
      watched.lastUsedMs = nowMs;
      return watched.acquired;
    }
    const id = serviceKeyString(key);
    const running = this.lookups.get(id);
    if (running !== undefined) return { kind: 'looking-up', lookup: running.lookup };
    const remembered = this.missing.get(id, nowMs);
    if (remembered !== undefined) return remembered;
    if (this.closed || this.services.size >= this.options.maxServices) return { kind: 'full' };

    const maxInFlight = this.options.maxLookupsInFlight ?? MAX_LOOKUPS_IN_FLIGHT;
    if (this.lookups.size >= maxInFlight) return this.refuse(`${maxInFlight} lookups of new names are already under way`);
    // Only a lookup that costs the API server a request spends the budget.
    if (this.options.source.answersFromMemory?.(key) !== true && this.lookupBudget?.tryTake() === false) {
      return this.refuse(`new names are looked up at most ${this.options.lookupsPerSecond} per second (LOOKUPS_PER_SECOND)`);
    }
    return { kind: 'looking-up', lookup: this.startLookup(key, id, nowMs) };
  }

  /** Stops following every Service unused for longer than IDLE_TIMEOUT; forgets what expired. */
  sweepIdle(): void {
    const nowMs = this.now();
    const oldestAllowedMs = nowMs - this.options.idleTimeoutMs;
    for (const [id, { service }] of this.services) {
      if (service.lastUsedMs < oldestAllowedMs && !service.held) {
        this.drop(id);
        this.options.logger.info(
          { namespace: service.key.namespace, service: service.key.name },
          'stopped watching idle service',
        );
      }
    }
    for (const [id, entry] of this.lookups) {
      if (nowMs - entry.lookup.startedAtMs < LOOKUP_ABANDON_MS) continue;
      const failure = { kind: 'unavailable', message: `no answer from discovery within ${LOOKUP_ABANDON_MS} ms` } as const;
      this.endLookup(id, entry, { kind: 'failed', failure }, FAILED_LOOKUP_TTL_MS);
    }
    this.missing.sweep(nowMs);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const id of [...this.services.keys()]) this.drop(id);
    for (const entry of this.lookups.values()) entry.subscription.stop();
    this.lookups.clear();
    this.missing.clear();
  }

  private refuse(limit: string): Acquired {
    this.options.metrics.serviceLookedUp('refused');
    return { kind: 'busy', limit };
  }

  private startLookup(key: ServiceKey, id: string, nowMs: number): ServiceLookup {
    this.missing.forget(id);
    const lookup = new ServiceLookup(key, nowMs);
    // Sources never call back from inside follow(), so `entry` is set by the first state.
    let entry: LookupEntry | undefined;
    const subscription = this.options.source.follow(
      key,
      (state) => {
        if (entry?.watched !== undefined) this.apply(id, entry.watched, state);
        else if (entry !== undefined) this.lookupAnswered(id, entry, state);
      },
      { endIfMissing: true },
    );
    entry = { lookup, subscription, watched: undefined };
    this.lookups.set(id, entry);
    return lookup;
  }

  private lookupAnswered(id: string, entry: LookupEntry, state: DiscoveryState): void {
    if (this.lookups.get(id) !== entry || state.kind === 'pending') return;
    if (state.kind === 'failed') {
      this.endLookup(id, entry, { kind: 'failed', failure: state.failure }, FAILED_LOOKUP_TTL_MS);
    } else if (state.snapshot.sliceCount === 0) {
      this.endLookup(id, entry, { kind: 'missing' }, this.options.missingTtlMs ?? DEFAULT_MISSING_TTL_MS);
    } else if (this.services.size >= this.options.maxServices) {
      this.lookups.delete(id);
      entry.subscription.stop();
      this.options.metrics.serviceLookedUp('full');
      entry.lookup.settle({ kind: 'full' });
    } else {
      this.lookups.delete(id);
      const { key } = entry.lookup;
      const { metrics, random, loads, rotationOffset } = this.options;
      const service = new WatchedService(key, state.snapshot, this.now(), metrics.resolveCounts(key.namespace, key.name), random, loads?.open(key), rotationOffset);
      entry.watched = service;
      this.services.set(id, { service, subscription: entry.subscription });
      const names = this.byNamespace.get(key.namespace) ?? new Map<string, WatchedService>();
      names.set(key.name, service);
      this.byNamespace.set(key.namespace, names);
      this.options.metrics.serviceLookedUp('found');
      this.options.metrics.setWatchedServices(this.services.size);
      this.options.metrics.endpointsChanged(key, state.snapshot, this.now());
      this.options.logger.info(
        { namespace: key.namespace, service: key.name, ready: state.snapshot.readyCount, slices: state.snapshot.sliceCount },
        'watching service',
      );
      entry.lookup.settle({ kind: 'watched', service });
    }
  }

  /** Ends a lookup that found nothing to watch, remembering why for `ttlMs`. */
  private endLookup(id: string, entry: LookupEntry, answer: RememberedAnswer, ttlMs: number): void {
    this.lookups.delete(id);
    entry.subscription.stop();
    this.missing.remember(id, answer, this.now(), ttlMs);
    this.options.metrics.serviceLookedUp(answer.kind);
    entry.lookup.settle(answer);
  }

  private drop(id: string): void {
    const entry = this.services.get(id);
    if (entry === undefined) return;
    this.services.delete(id);
    const names = this.byNamespace.get(entry.service.key.namespace);
    names?.delete(entry.service.key.name);
    if (names?.size === 0) this.byNamespace.delete(entry.service.key.namespace);
    entry.subscription.stop();
    this.options.loads?.close(entry.service.key);
    this.options.metrics.serviceUnwatched(entry.service.key);
    this.options.metrics.setWatchedServices(this.services.size);
  }

  private apply(id: string, service: WatchedService, state: DiscoveryState): void {
    // A source keeps serving the last snapshot once synced; a late failure changes nothing.
    if (this.services.get(id)?.service !== service || state.kind !== 'synced') return;
    const previous = service.snapshot;
    if (previous.fingerprint === state.snapshot.fingerprint) return;
    service.publish(state.snapshot, new ServicePickers(state.snapshot, service.pickers, this.options.random));
    this.options.metrics.endpointsChanged(service.key, state.snapshot, this.now());
    this.options.logger.info(
      {
        namespace: service.key.namespace,
        service: service.key.name,
        ready: state.snapshot.readyCount,
        previousReady: previous.readyCount,
        notReady: state.snapshot.notReadyCount,
        slices: state.snapshot.sliceCount,
      },
      'endpoints changed',
    );
  }
}
