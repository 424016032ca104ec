import { createHash } from 'node:crypto';

import type { Logger } from '../../common/logging.js';
import { REAL_TIMERS, type Timers } from '../../common/timers.js';
import { serviceKeyString, type ServiceKey, type ServiceSnapshot } from '../discovery/types.js';
import { FAILED_LOOKUP_TTL_MS, type WatchedService, type WatchedServices } from '../watched-services.js';
import type { XdsTarget } from './xds-names.js';
import { TYPE_URLS, type XdsProtos, type XdsType } from './xds-protos.js';
import { buildResource, endpointsOf } from './xds-resources.js';
import type { RouteSource } from '../routing/route-source.js';
import type { ServiceRoutes } from '../routing/route-table.js';

/** A name refused for MAX_SERVICES is asked for again this often while subscribed. */
export const FULL_RETRY_MS = 5_000;
/** A name refused for the lookup budget (LOOKUPS_PER_SECOND, lookups in flight) is asked for again after this. */
export const BUSY_RETRY_MS = 1_000;
/** A missing name is asked for again this long after its negative-cache entry expires (at least MIN_MISSING_RETRY_MS). */
const RETRY_MARGIN_MS = 50;
const MIN_MISSING_RETRY_MS = 1_000;
/** How long a feed waits on a lookup before asking again (lookups are abandoned sooner). */
const LOOKUP_WAIT_MS = 60_000;

/** What one subscribed name comes to right now. */
export type ResourceAnswer =
  | { readonly kind: 'present'; readonly resource: { readonly type_url: string; readonly value: Buffer }; readonly digest: string }
  /** Known not to exist: left out of the response. */
  | { readonly kind: 'absent'; readonly problem: string }
  /** Not known yet (lookup under way, failed, or over the lookup budget): see AdsStream for what waits on it. */
  | { readonly kind: 'unknown'; readonly problem: string };

type FeedState =
  | { readonly kind: 'pending' }
  | { readonly kind: 'watched'; readonly service: WatchedService }
  | { readonly kind: 'missing' }
  /** Refused for MAX_SERVICES: this lookaside cannot serve it, so it is absent (and asked for again). */
  | { readonly kind: 'refused' }
  | { readonly kind: 'unavailable'; readonly problem: string };

interface CachedAnswer {
  readonly state: FeedState;
  readonly snapshot: ServiceSnapshot | undefined;
  /** The Service's routes the answer was built with (RouteConfigurations only). */
  readonly routes: ServiceRoutes | undefined;
  readonly answer: ResourceAnswer;
}

class Feed<S> {
  state: FeedState = { kind: 'pending' };
  readonly subscribers = new Map<S, number>();
  readonly answers = new Map<string, CachedAnswer>();
  release: (() => void) | undefined;
  stopListening: (() => void) | undefined;
  retry: unknown;
  closed = false;

  constructor(
    readonly id: string,
    readonly key: ServiceKey,
  ) {}
}

export interface XdsFeedsOptions {
  readonly services: WatchedServices;
  readonly protos: XdsProtos;
  /** Called (never synchronously from subscribe) when a Service's state or endpoints changed. */
  readonly onChange: (serviceId: string) => void;
  readonly logger: Logger;
  readonly timers?: Timers;
  /** Where the routes of a Service's RouteConfiguration come from; none when not given. */
  readonly routes?: RouteSource;
}

/**
 * One feed per Service some xDS stream subscribes to, shared by every stream:
 * the first subscription looks the Service up through WatchedServices (the
 * Resolve cache, its limits and its negative cache) and holds it watched; the
 * last one lets it go idle as a Resolve-only Service would. A name not known
 * yet is asked for again as its answer expires, so a Service created later
 * reaches its subscribers: NEGATIVE_CACHE_SECONDS (at least 1 s) after it was
 * found missing, 1 s after a failed or over-budget lookup, 5 s after
 * MAX_SERVICES was full (such a Service is served as absent meanwhile).
 */
export class XdsFeeds<S> {
  private readonly feeds = new Map<string, Feed<S>>();
  private readonly timers: Timers;

  constructor(private readonly options: XdsFeedsOptions) {
    this.timers = options.timers ?? REAL_TIMERS;
  }

  get size(): number {
    return this.feeds.size;
  }

  /** Counts one more reference from `subscriber` to the Service of `key`. */
  subscribe(key: ServiceKey, subscriber: S): void {
    const id = serviceKeyString(key);
    let feed = this.feeds.get(id);
    if (feed === undefined) {
      feed = new Feed<S>(id, key);
      this.feeds.set(id, feed);
      const started = feed;
      queueMicrotask(() => this.acquire(started));
    }
    feed.subscribers.set(subscriber, (feed.subscribers.get(subscriber) ?? 0) + 1);
  }

  unsubscribe(key: ServiceKey, subscriber: S): void {
    const id = serviceKeyString(key);
    const feed = this.feeds.get(id);
    const count = feed?.subscribers.get(subscriber);
    if (feed === undefined || count === undefined) return;
    if (count > 1) feed.subscribers.set(subscriber, count - 1);
    else feed.subscribers.delete(subscriber);
    if (feed.subscribers.size === 0) this.close(feed);
  }

  /** The Services subscribed to in `namespace` (every one when undefined). */
  idsIn(namespace: string | undefined): string[] {
    return [...this.feeds.values()].filter((feed) => namespace === undefined || feed.key.namespace === namespace).map((feed) => feed.id);
  }

  subscribersOf(serviceId: string): Iterable<S> {
    return this.feeds.get(serviceId)?.subscribers.keys() ?? [];
  }

  /** The resource of `type` named `name` for `target`, built once per change and shared by every stream. */
  answer(type: XdsType, name: string, target: XdsTarget): ResourceAnswer {
    const feed = this.feeds.get(serviceKeyString(target.key));
    if (feed === undefined) return { kind: 'unknown', problem: 'not subscribed' };
    const snapshot = feed.state.kind === 'watched' ? feed.state.service.snapshot : undefined;
    const routes = type === 'route' ? this.routesOf(feed) : undefined;
    if (routes === 'reading') return { kind: 'unknown', problem: 'reading the GRPCRoutes of the namespace' };
    const cacheKey = `${type}\u0000${name}`;
    const cached = feed.answers.get(cacheKey);
    if (cached !== undefined && cached.state === feed.state && cached.snapshot === snapshot && cached.routes === routes) return cached.answer;
    const answer = this.build(feed.state, snapshot, type, name, target, routes);
    feed.answers.set(cacheKey, { state: feed.state, snapshot, routes, answer });
    return answer;
  }

  /** The routes attached to the feed's Service; 'reading' while its namespace's are first read (a push follows). */
  private routesOf(feed: Feed<S>): ServiceRoutes | undefined | 'reading' {
    const source = this.options.routes;
    if (source === undefined) return undefined;
    const table = source.routesIn(feed.key.namespace, LOOKUP_WAIT_MS);
    if (!(table instanceof Promise)) return table.forService(feed.key.namespace, feed.key.name);
    void table.then(() => {
      if (!feed.closed) this.options.onChange(feed.id);
    });
    return 'reading';
  }

  /** For /debug/xds. */
  describe(): Array<{ service: string; state: string; streams: number }> {
    return [...this.feeds.values()].map((feed) => ({
      service: feed.id,
      state: feed.state.kind === 'unavailable' ? `unavailable: ${feed.state.problem}` : feed.state.kind,
      streams: feed.subscribers.size,
    }));
  }

  closeAll(): void {
    for (const feed of [...this.feeds.values()]) this.close(feed);
  }

  private build(state: FeedState, snapshot: ServiceSnapshot | undefined, type: XdsType, name: string, target: XdsTarget, routes: ServiceRoutes | undefined): ResourceAnswer {
    switch (state.kind) {
      case 'pending':
        return { kind: 'unknown', problem: 'looking the Service up' };
      case 'unavailable':
        return { kind: 'unknown', problem: state.problem };
      case 'missing':
        return { kind: 'absent', problem: 'the Service has no EndpointSlices' };
      case 'refused':
        return { kind: 'absent', problem: `MAX_SERVICES Services are watched already; asked again every ${FULL_RETRY_MS / 1000} s` };
      case 'watched': {
        const endpoints = endpointsOf(snapshot as ServiceSnapshot, target.port);
        if (!endpoints.ok) return { kind: 'absent', problem: endpoints.problem };
        const value = buildResource(this.options.protos, type, name, target, endpoints.endpoints, routes);
        return { kind: 'present', resource: { type_url: TYPE_URLS[type], value }, digest: createHash('sha1').update(value).digest('base64url') };
      }
    }
  }

  private acquire(feed: Feed<S>): void {
    if (feed.closed) return;
    const acquired = this.options.services.acquire(feed.key);
    switch (acquired.kind) {
      case 'watched': {
        const service = acquired.service;
        feed.release = this.options.services.hold(service);
        feed.stopListening = service.onSnapshot(() => this.options.onChange(feed.id));
        this.settle(feed, { kind: 'watched', service });
        return;
      }
      case 'looking-up':
        if (feed.state.kind !== 'pending') this.settle(feed, { kind: 'pending' });
        void acquired.lookup.whenSettled(LOOKUP_WAIT_MS).then(() => this.acquire(feed));
        return;
      case 'missing': {
        const delayMs = Math.max(MIN_MISSING_RETRY_MS, this.options.services.missingTtlMs + RETRY_MARGIN_MS);
        this.settle(feed, { kind: 'missing' }, delayMs);
        return;
      }
      case 'failed':
        this.settle(feed, { kind: 'unavailable', problem: acquired.failure.message }, FAILED_LOOKUP_TTL_MS + RETRY_MARGIN_MS);
        return;
      case 'full':
        this.settle(feed, { kind: 'refused' }, FULL_RETRY_MS);
        return;
      case 'busy':
        this.settle(feed, { kind: 'unavailable', problem: acquired.limit }, BUSY_RETRY_MS);
        return;
    }
  }

  private settle(feed: Feed<S>, state: FeedState, retryAfterMs?: number): void {
    if (state.kind !== feed.state.kind) this.options.logger.debug({ service: feed.id, state: state.kind, retryAfterMs }, 'xDS subscription state');
    feed.state = state;
    if (retryAfterMs !== undefined) feed.retry = this.timers.setTimeout(() => this.acquire(feed), retryAfterMs);
    this.options.onChange(feed.id);
  }

  private close(feed: Feed<S>): void {
    feed.closed = true;
    feed.subscribers.clear();
    feed.answers.clear();
    if (feed.retry !== undefined) this.timers.clearTimeout(feed.retry);
    feed.stopListening?.();
    feed.release?.();
    this.feeds.delete(feed.id);
  }
}
