import type { Endpoint } from '../discovery/types.js';
import { EndpointHealth, type OutlierConfig } from './outlier.js';
import { EndpointWeight, type WeightConfig } from './weights.js';

/** How much each new latency moves the average: about the last 20 calls. */
const LATENCY_EWMA_ALPHA = 0.1;
/**
 * The average latency least request reads halves for every this long without
 * a report from the endpoint, so one that was slow and is no longer picked
 * gets tried again (as Linkerd's and tower's peak EWMA decay theirs).
 */
export const LATENCY_HALF_LIFE_MS = 10_000;

/** The calls open on every endpoint of one Service together, kept up to date by its endpoints. */
export interface OpenCallTally {
  open: number;
}

/**
 * What the lookaside knows of one endpoint beyond its address: the calls all
 * clients have open on it, its failures and ejection, and its weight from
 * ORCA load reports. Lives as long as the endpoint is in its Service.
 */
export class EndpointLoad {
  /** Reported calls, and failures among them, since the endpoint appeared. */
  calls = 0;
  failures = 0;
  /** Average latency of the recent reported calls; undefined until one is reported. */
  latencyMicros: number | undefined;
  readonly health: EndpointHealth;
  readonly weight: EndpointWeight;
  private openCalls = 0;
  /** When a call on it was last answered, or when it last got calls open after having none. */
  private progressAtMs: number;
  private latencyAtMs = 0;

  constructor(
    /** Replaced when discovery republishes it (a new pod name or zone on the same address). */
    public endpoint: Endpoint,
    /** The Service's port name this address serves. */
    readonly portName: string,
    outlier: OutlierConfig,
    weights: WeightConfig,
    private readonly now: () => number,
    /** Shared by the Service's endpoints, so it can tell at once that none has a call open. */
    private readonly tally: OpenCallTally = { open: 0 },
  ) {
    this.progressAtMs = now();
    this.health = new EndpointHealth(outlier, this.progressAtMs);
    this.weight = new EndpointWeight(weights);
  }

  get address(): string {
    return this.endpoint.address;
  }

  /** Calls handed out to reporting clients and not yet reported (nor released). */
  get outstanding(): number {
    return this.openCalls;
  }

  /** A call handed out to a client that will report it. */
  callOpened(): void {
    if (this.openCalls === 0) this.progressAtMs = this.now();
    this.openCalls += 1;
    this.tally.open += 1;
  }

  /** `count` calls reported, or released unreported. */
  callsClosed(count: number): void {
    this.openCalls -= count;
    this.tally.open -= count;
  }

  /** A reported call on it was answered (not an endpoint failure): its open calls are moving. */
  answered(nowMs: number): void {
    this.progressAtMs = nowMs;
  }

  noteLatency(latencyMicros: number, nowMs: number): void {
    this.latencyAtMs = nowMs;
    this.latencyMicros =
      this.latencyMicros === undefined ? latencyMicros : this.latencyMicros + LATENCY_EWMA_ALPHA * (latencyMicros - this.latencyMicros);
  }

  /** How long it has had calls open and none of them (nor any other) answered; 0 with none open. */
  stalledMs(nowMs: number): number {
    return this.openCalls === 0 ? 0 : Math.max(0, nowMs - this.progressAtMs);
  }

  /**
   * What a call sent to it now should take, as least request weighs it: the
   * average latency (halving every LATENCY_HALF_LIFE_MS without reports), or
   * how long its open calls have been stalled if that is longer (a frozen pod
   * looks slower at once, before any of its calls times out). Undefined when
   * nothing is known yet.
   */
  expectedLatencyMicros(nowMs: number): number | undefined {
    const stalledMicros = this.stalledMs(nowMs) * 1000;
    if (this.latencyMicros === undefined) return stalledMicros > 0 ? stalledMicros : undefined;
    const decayed = this.latencyMicros * 2 ** (-(nowMs - this.latencyAtMs) / LATENCY_HALF_LIFE_MS);
    return Math.max(decayed, stalledMicros);
  }
}
