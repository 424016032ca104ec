import { Registry } from 'prom-client';

import { silentLogger } from '../../src/common/logging.js';
import type { DiscoverySource } from '../../src/lookaside/discovery/types.js';
import { LookasideMetrics } from '../../src/lookaside/metrics.js';
import { Resolver } from '../../src/lookaside/resolver.js';
import { WatchedServices, type WatchedServicesOptions } from '../../src/lookaside/watched-services.js';

export interface ResolverStack {
  readonly services: WatchedServices;
  readonly resolver: Resolver;
  readonly registry: Registry;
  /** The stack's clock unless `options.now` replaced it: tests move it by hand. */
  readonly clock: { nowMs: number };
}

/**
 * WatchedServices and a Resolver over `source`, wired as main.ts wires them
 * (own namespace `default`, round robin, every namespace allowed), with a
 * clock that only moves when told. `options` override any of it.
 */
export function resolverStack(source: DiscoverySource, options: Partial<WatchedServicesOptions> = {}): ResolverStack {
  const registry = new Registry();
  const clock = { nowMs: 1_000_000 };
  const services = new WatchedServices({
    source,
    maxServices: 10,
    idleTimeoutMs: 600_000,
    metrics: new LookasideMetrics(registry),
    logger: silentLogger(),
    now: () => clock.nowMs,
    ...options,
  });
  const resolver = new Resolver({
    services,
    ownNamespace: 'default',
    defaultPolicy: 'round_robin',
    allowedNamespaces: [],
    describeMissing: (namespace, name) => source.describeMissing({ namespace, name }),
    loads: options.loads,
  });
  return { services, resolver, registry, clock };
}
