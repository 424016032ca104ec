import { silentLogger } from '../../src/common/logging.js';
import { mergeSlices } from '../../src/lookaside/discovery/slices.js';
import type { ServiceSnapshot } from '../../src/lookaside/discovery/types.js';
import { DEFAULT_LOAD_CONFIG } from '../../src/lookaside/load/config.js';
import type { OpenOrcaStream, OrcaStreamHandlers } from '../../src/lookaside/load/orca-client.js';
import { OrcaStreams } from '../../src/lookaside/load/orca-subscription.js';
import type { OutlierConfig } from '../../src/lookaside/load/outlier.js';
import { ServiceLoad, type LoadConfig } from '../../src/lookaside/load/service-load.js';
import type { WeightConfig } from '../../src/lookaside/load/weights.js';
import { slice, sliceEndpoint } from './endpoints.js';

/** A snapshot of `10.0.0.<n>:50051` for each n, port `grpc`. */
export function snapshotOf(...numbers: number[]): ServiceSnapshot {
  return mergeSlices([slice(numbers.map((n) => sliceEndpoint(n)))]);
}

export const address = (n: number): string => `10.0.0.${n}:50051`;

/** ORCA streams the test drives by hand: `streams.get(address)` reports or ends one. */
export class FakeOrca {
  readonly streams = new Map<string, OrcaStreamHandlers>();
  readonly opened: string[] = [];
  readonly cancelled: string[] = [];

  readonly open: OpenOrcaStream = (target, _intervalMs, handlers) => {
    this.opened.push(target);
    this.streams.set(target, handlers);
    return {
      cancel: () => {
        this.cancelled.push(target);
        if (this.streams.get(target) === handlers) this.streams.delete(target);
      },
    };
  };

  report(target: string, cpuUtilization: number, qps: number, eps = 0): void {
    const stream = this.streams.get(target);
    if (stream === undefined) throw new Error(`no ORCA stream to ${target}`);
    stream.report({ cpuUtilization, applicationUtilization: 0, qps, eps });
  }
}

export interface LoadFixture {
  readonly load: ServiceLoad;
  readonly clock: { nowMs: number };
  readonly orca: FakeOrca;
  readonly ejections: string[];
}

/** A ServiceLoad for default/greet on a manual clock, with fake ORCA; `outlier` and `weights` override the defaults. */
export function loadFixture(
  options: { outlier?: Partial<OutlierConfig>; weights?: Partial<WeightConfig>; maxStreams?: number } = {},
): LoadFixture {
  const clock = { nowMs: 1_000_000 };
  const orca = new FakeOrca();
  const config: LoadConfig = {
    ...DEFAULT_LOAD_CONFIG,
    outlier: { ...DEFAULT_LOAD_CONFIG.outlier, ...options.outlier },
    weights: { ...DEFAULT_LOAD_CONFIG.weights, ...options.weights },
  };
  const ejections: string[] = [];
  const load = new ServiceLoad({ namespace: 'default', name: 'greet' }, config, {
    now: () => clock.nowMs,
    logger: silentLogger(),
    orca: new OrcaStreams(orca.open, config.weights.reportIntervalMs, options.maxStreams ?? config.weights.maxStreams),
    onEjected: (key) => ejections.push(`${key.namespace}/${key.name}`),
  });
  return { load, clock, orca, ejections };
}
