import type { Logger } from '../../common/logging.js';
import type { ListWatchApi } from '../discovery/kubernetes-api.js';
import { NamespaceWatch, type NamespaceSink, type RestartReason } from '../discovery/namespace-watch.js';
import type { DiscoveryFailure } from '../discovery/types.js';
import type { RouteObject } from './route-objects.js';
import type { RouteSource } from './route-source.js';
import { RouteTable } from './route-table.js';

/** Namespaces whose GRPCRoutes are watched at once; past this the least recently used one is let go (it comes back on its next Resolve). */
export const MAX_ROUTE_NAMESPACES = 100;

export interface KubernetesRoutesOptions {
  readonly api: ListWatchApi<RouteObject>;
  readonly refreshIntervalMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly watchSilenceLimitMs?: number;
  readonly logger: Logger;
  readonly onRestart?: (reason: RestartReason) => void;
  /** Called after a namespace's routes changed (listed, or an event), with every route object there. */
  readonly onRoutes?: (namespace: string, objects: readonly RouteObject[]) => void;
  readonly maxNamespaces?: number;
}

/** One namespace's GRPCRoutes, kept current by its watch. */
class NamespaceRoutes implements NamespaceSink<RouteObject> {
  table = RouteTable.EMPTY;
  /** Set once the first list succeeded or failed: from then on Resolve does not wait. */
  settled = false;
  lastUsed = 0;
  private readonly objects = new Map<string, RouteObject>();
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly namespace: string,
    private readonly options: KubernetesRoutesOptions,
  ) {}

  listed(items: readonly RouteObject[]): void {
    this.objects.clear();
    for (const item of items) this.objects.set(item.name, item);
    this.rebuild();
  }

  changed(event: { type: 'ADDED' | 'MODIFIED'; item: RouteObject } | { type: 'DELETED'; name: string }): void {
    if (event.type === 'DELETED') this.objects.delete(event.name);
    else this.objects.set(event.item.name, event.item);
    this.rebuild();
  }

  failed(failure: DiscoveryFailure): void {
    // The last known routes stay in service; a namespace never listed has none until it is.
    if (!this.settled) this.options.logger.warn({ namespace: this.namespace, err: failure.message }, 'cannot read GRPCRoutes; serving without routes until it can');
    this.settle();
  }

  /** Resolves once the first list ended, or after `waitMs`, whichever comes first. */
  whenSettled(waitMs: number): Promise<RouteTable> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.table);
      };
      const timer = setTimeout(done, waitMs);
      this.waiters.add(done);
    });
  }

  private rebuild(): void {
    const objects = [...this.objects.values()];
    for (const object of objects) {
      if (object.error !== undefined) this.options.logger.warn({ namespace: this.namespace, route: object.name, err: object.error }, 'cannot read a GRPCRoute; ignoring it');
    }
    this.table = new RouteTable(objects.flatMap((object) => (object.route === undefined ? [] : [object.route])));
    this.settle();
    this.options.onRoutes?.(this.namespace, objects);
  }

  private settle(): void {
    this.settled = true;
    for (const wake of [...this.waiters]) wake();
  }
}

/**
 * `DISCOVERY=kubernetes`: the GRPCRoutes (gateway.networking.k8s.io/v1) of
 * each namespace a Resolve asks about, listed and watched from that first
 * Resolve on (which waits for the list). A namespace whose routes cannot be
 * read (the CRD is not installed, RBAC refuses) has none, and its watch keeps
 * retrying with backoff.
 */
export class KubernetesRoutes implements RouteSource {
  private readonly namespaces = new Map<string, { routes: NamespaceRoutes; watch: NamespaceWatch<RouteObject> }>();
  private readonly listeners = new Set<(namespace: string | undefined) => void>();
  private useCount = 0;

  constructor(private readonly options: KubernetesRoutesOptions) {}

  onChange(listener: (namespace: string | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  routesIn(namespace: string, waitMs: number): RouteTable | Promise<RouteTable> {
    const entry = this.namespaces.get(namespace) ?? this.open(namespace);
    entry.routes.lastUsed = ++this.useCount;
    return entry.routes.settled ? entry.routes.table : entry.routes.whenSettled(waitMs);
  }

  async close(): Promise<void> {
    for (const { watch } of this.namespaces.values()) watch.stop();
    this.namespaces.clear();
  }

  private open(namespace: string): { routes: NamespaceRoutes; watch: NamespaceWatch<RouteObject> } {
    if (this.namespaces.size >= (this.options.maxNamespaces ?? MAX_ROUTE_NAMESPACES)) this.evictLeastRecentlyUsed();
    const routes = new NamespaceRoutes(namespace, {
      ...this.options,
      onRoutes: (changed, objects) => {
        this.options.onRoutes?.(changed, objects);
        for (const listener of [...this.listeners]) listener(changed);
      },
    });
    const watch = new NamespaceWatch<RouteObject>({
      api: this.options.api,
      namespace,
      refreshIntervalMs: this.options.refreshIntervalMs,
      silenceLimitMs: this.options.watchSilenceLimitMs,
      backoff: this.options.backoff,
      logger: this.options.logger,
      sink: routes,
      onRestart: (reason) => this.options.onRestart?.(reason),
    });
    const entry = { routes, watch };
    this.namespaces.set(namespace, entry);
    watch.start();
    return entry;
  }

  private evictLeastRecentlyUsed(): void {
    let oldest: string | undefined;
    let oldestUse = Infinity;
    for (const [namespace, { routes }] of this.namespaces) {
      if (routes.lastUsed < oldestUse) [oldest, oldestUse] = [namespace, routes.lastUsed];
    }
    if (oldest === undefined) return;
    this.namespaces.get(oldest)?.watch.stop();
    this.namespaces.delete(oldest);
    this.options.logger.info({ namespace: oldest, max: MAX_ROUTE_NAMESPACES }, 'stopped watching the GRPCRoutes of the least recently used namespace');
  }
}
