/**
 * Endpoint weights from ORCA load reports, as gRFC A58 (gRPC's
 * weighted_round_robin) defines them: weight = qps / (utilization + eps/qps ×
 * penalty), used only after a blackout period of steady reports, and dropped
 * when reports stop.
 */

export interface WeightConfig {
  /** A weight is used only once its endpoint has reported non-zero weights for this long (0 = at once). */
  readonly blackoutMs: number;
  /** A weight with no new report for this long is dropped, and the blackout starts over. */
  readonly expirationMs: number;
  /** How much errors per second weigh against an endpoint (A58's error_utilization_penalty). */
  readonly errorPenalty: number;
  /** Weights are read into a new scheduler this often. */
  readonly updatePeriodMs: number;
  /** The report_interval asked of each endpoint's ORCA stream. */
  readonly reportIntervalMs: number;
  /** ORCA streams open at once over every Service; endpoints beyond it get no weight. */
  readonly maxStreams: number;
}

export const DEFAULT_WEIGHT_CONFIG: WeightConfig = {
  blackoutMs: 10_000,
  expirationMs: 180_000,
  errorPenalty: 1,
  updatePeriodMs: 1_000,
  reportIntervalMs: 1_000,
  maxStreams: 1_000,
};

/** The fields of an ORCA OrcaLoadReport that weights are made of. */
export interface LoadReport {
  readonly cpuUtilization: number;
  readonly applicationUtilization: number;
  /** Queries per second (rps_fractional). */
  readonly qps: number;
  /** Errors per second. */
  readonly eps: number;
}

/**
 * A58's weight of one report: application utilization when reported, else
 * CPU utilization; 0 (no weight) when qps or utilization is 0.
 */
export function reportedWeight(report: LoadReport, errorPenalty: number): number {
  const utilization = report.applicationUtilization > 0 ? report.applicationUtilization : report.cpuUtilization;
  if (!(report.qps > 0) || !(utilization > 0)) return 0;
  return report.qps / (utilization + (report.eps / report.qps) * errorPenalty);
}

/** The weight an endpoint's reports give it, with A58's blackout and expiry. */
export class EndpointWeight {
  /** The latest report, for the debug view. */
  lastReport: LoadReport | undefined;
  lastReportMs: number | undefined;
  private value = 0;
  private lastUpdatedMs: number | undefined;
  private nonEmptySinceMs: number | undefined;

  constructor(private readonly config: WeightConfig) {}

  /** A report with no weight (qps or utilization 0) leaves the last weight in place, to expire in its time. */
  update(report: LoadReport, nowMs: number): void {
    this.lastReport = report;
    this.lastReportMs = nowMs;
    const weight = reportedWeight(report, this.config.errorPenalty);
    if (weight === 0) return;
    this.nonEmptySinceMs ??= nowMs;
    this.lastUpdatedMs = nowMs;
    this.value = weight;
  }

  /** The reports stopped (stream lost, endpoint gone): the next weight waits out the blackout again. */
  restart(): void {
    this.nonEmptySinceMs = undefined;
  }

  /** The weight to use now; 0 when there is none (no report yet, in blackout, or expired). */
  current(nowMs: number): number {
    if (this.lastUpdatedMs === undefined) return 0;
    if (nowMs - this.lastUpdatedMs >= this.config.expirationMs) {
      this.nonEmptySinceMs = undefined;
      return 0;
    }
    const { blackoutMs } = this.config;
    if (blackoutMs > 0 && (this.nonEmptySinceMs === undefined || nowMs - this.nonEmptySinceMs < blackoutMs)) return 0;
    return this.value;
  }
}

/** No endpoint gets more than this many times the mean weight, so one that reports near-zero utilization cannot draw every call. */
const MAX_WEIGHT_OVER_MEAN = 10;

/**
 * The weights a scheduler uses, from each endpoint's current weight (0 = none):
 * those without one get the mean of the others. Undefined when fewer than two
 * have a weight: then plain round robin is as good as anything.
 */
export function schedulerWeights(weights: readonly number[]): number[] | undefined {
  let sum = 0;
  let count = 0;
  for (const weight of weights) {
    if (weight <= 0) continue;
    sum += weight;
    count += 1;
  }
  if (count < 2) return undefined;
  const mean = sum / count;
  return weights.map((weight) => (weight > 0 ? Math.min(weight, mean * MAX_WEIGHT_OVER_MEAN) : mean));
}
