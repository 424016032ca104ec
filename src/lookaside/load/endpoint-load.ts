import type { Endpoint } from '../discovery/types.js';
import { EndpointHealth, type OutlierConfig } from './outlier.js';
import { EndpointWeight, type WeightConfig } from './weights.js';

/** How much each new latency moves the average: about the last 20 calls. */
const LATENCY_EWMA_ALPHA = 0.1;

/**
 * What the lookaside knows of one endpoint beyond its address: the calls all
 * clients have open on it, its failures and ejection, and its weight from
 * ORCA load reports. Lives as long as the endpoint is in its Service.
 */
export class EndpointLoad {
  /** Calls handed out to reporting clients and not yet reported (nor released). */
  outstanding = 0;
  /** Reported calls, and failures among them, since the endpoint appeared. */
  calls = 0;
  failures = 0;
  /** Average latency of the recent reported calls; undefined until one is reported. */
  latencyMicros: number | undefined;
  readonly health: EndpointHealth;
  readonly weight: EndpointWeight;

  constructor(
    /** Replaced when discovery republishes it (a new pod name or zone on the same address). */
    public endpoint: Endpoint,
    /** The Service's port name this address serves. */
    readonly portName: string,
    outlier: OutlierConfig,
    weights: WeightConfig,
    nowMs: number,
  ) {
    this.health = new EndpointHealth(outlier, nowMs);
    this.weight = new EndpointWeight(weights);
  }

  get address(): string {
    return this.endpoint.address;
  }

  noteLatency(latencyMicros: number): void {
    this.latencyMicros =
      this.latencyMicros === undefined ? latencyMicros : this.latencyMicros + LATENCY_EWMA_ALPHA * (latencyMicros - this.latencyMicros);
  }
}
