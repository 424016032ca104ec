import type { Logger } from '../../common/logging.js';
import type { LookasideMetrics } from '../metrics.js';
import { ApiCredentials, type ApiAccess } from './api-access.js';
import { KubeTransport, type ApiTransport } from './api-transport.js';
import { serviceSelector, transportSliceApi, type EndpointSliceApi } from './kubernetes-api.js';
import { NamespaceSlices } from './namespace-slices.js';
import { NamespaceWatch } from './namespace-watch.js';
import type { DiscoverySource, DiscoveryState, FollowOptions, ServiceKey, Subscription } from './types.js';

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

export interface KubernetesDiscoveryOptions {
  readonly api: EndpointSliceApi;
  readonly refreshIntervalMs: number;
  readonly metrics: LookasideMetrics;
  readonly logger: Logger;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Restart a watch silent for this long (default WATCH_SILENCE_LIMIT_MS). */
  readonly watchSilenceLimitMs?: number;
  /** Slices per list page (default LIST_PAGE_SIZE). */
  readonly pageSize?: number;
  /** The connections `api` uses, closed with the source. */
  readonly transport?: ApiTransport;
}

interface WatchedNamespace {
  readonly store: NamespaceSlices;
  readonly watch: NamespaceWatch;
}

/**
 * `DISCOVERY=kubernetes`: one list+watch of EndpointSlices per namespace that
 * has a followed Service (all its Services' slices, label
 * `kubernetes.io/service-name` present), shared by every Service followed
 * there. Once a namespace is listed, following another Service in it, or
 * finding a name missing, asks the API server nothing. A namespace nobody
 * follows any more is let go, watch and slices.
 */
export class KubernetesDiscovery implements DiscoverySource {
  readonly name = 'kubernetes';
  private readonly namespaces = new Map<string, WatchedNamespace>();

  /** Over the lookaside's own transport (HTTP/2 when the server offers it). */
  static fromAccess(
    access: ApiAccess,
    options: Omit<KubernetesDiscoveryOptions, 'api' | 'transport'>,
    reread?: () => Promise<ApiAccess>,
  ): KubernetesDiscovery {
    const transport = new KubeTransport(new ApiCredentials(access, { reread }), options.logger);
    return new KubernetesDiscovery({ ...options, api: transportSliceApi(transport), transport });
  }

  constructor(private readonly options: KubernetesDiscoveryOptions) {}

  /** Namespaces listed and watched now. */
  get namespaceCount(): number {
    return this.namespaces.size;
  }

  /** The connections to the API server, for other watches (GRPCRoutes) to share. */
  get transport(): ApiTransport | undefined {
    return this.options.transport;
  }

  /** TCP connections to the API server now. */
  get connectionCount(): number {
    return this.options.transport?.connectionCount ?? 0;
  }

  describeMissing(service: ServiceKey): string {
    return `no EndpointSlice in namespace "${service.namespace}" has label ${serviceSelector(service.name)} (does the Service exist, with a selector?)`;
  }

  answersFromMemory(service: ServiceKey): boolean {
    return this.namespaces.has(service.namespace);
  }

  follow(service: ServiceKey, onState: (state: DiscoveryState) => void, options: FollowOptions = {}): Subscription {
    const namespace = this.namespaces.get(service.namespace) ?? this.open(service.namespace);
    return namespace.store.subscribe(service.name, onState, options.endIfMissing === true);
  }

  async close(): Promise<void> {
    for (const { watch } of this.namespaces.values()) watch.stop();
    this.namespaces.clear();
    this.options.transport?.close();
  }

  private open(namespace: string): WatchedNamespace {
    const store = new NamespaceSlices(() => {
      if (this.namespaces.get(namespace) !== entry) return;
      this.namespaces.delete(namespace);
      watch.stop();
      this.options.logger.debug({ namespace }, 'no Service followed in the namespace any more; stopped watching it');
    });
    const watch = new NamespaceWatch({
      api: this.options.api,
      namespace,
      refreshIntervalMs: this.options.refreshIntervalMs,
      silenceLimitMs: this.options.watchSilenceLimitMs,
      backoff: this.options.backoff ?? DEFAULT_BACKOFF,
      pageSize: this.options.pageSize,
      logger: this.options.logger,
      sink: store,
      onRestart: (reason) => this.options.metrics.watchRestarted(reason),
    });
    const entry = { store, watch };
    this.namespaces.set(namespace, entry);
    watch.start();
    return entry;
  }
}
