import type { KubeConfig } from '@kubernetes/client-node';

import type { Logger } from '../../common/logging.js';
import type { LookasideMetrics } from '../metrics.js';
import { clientNodeSliceApi, serviceSelector, type EndpointSliceApi } from './kubernetes-api.js';
import { ServiceWatch } from './service-watch.js';
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
}

/** `DISCOVERY=kubernetes`: one list+watch of EndpointSlices per followed Service. */
export class KubernetesDiscovery implements DiscoverySource {
  readonly name = 'kubernetes';
  private readonly watches = new Set<ServiceWatch>();

  static fromKubeConfig(
    kubeConfig: KubeConfig,
    options: Omit<KubernetesDiscoveryOptions, 'api'>,
  ): KubernetesDiscovery {
    return new KubernetesDiscovery({ ...options, api: clientNodeSliceApi(kubeConfig) });
  }

  constructor(private readonly options: KubernetesDiscoveryOptions) {}

  describeMissing(service: ServiceKey): string {
    return `no EndpointSlice in namespace "${service.namespace}" has label ${serviceSelector(service.name)} (does the Service exist, with a selector?)`;
  }

  follow(service: ServiceKey, onState: (state: DiscoveryState) => void, options: FollowOptions = {}): Subscription {
    const watch = new ServiceWatch({
      api: this.options.api,
      service,
      refreshIntervalMs: this.options.refreshIntervalMs,
      silenceLimitMs: this.options.watchSilenceLimitMs,
      backoff: this.options.backoff ?? DEFAULT_BACKOFF,
      logger: this.options.logger,
      onState,
      onRestart: (reason) => this.options.metrics.watchRestarted(reason),
      endIfMissing: options.endIfMissing,
    });
    this.watches.add(watch);
    watch.start();
    return {
      stop: () => {
        watch.stop();
        this.watches.delete(watch);
      },
    };
  }

  async close(): Promise<void> {
    for (const watch of this.watches) watch.stop();
    this.watches.clear();
  }
}
