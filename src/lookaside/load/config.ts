import { readInteger, readNumber, type Env } from '../../common/config.js';
import { DEFAULT_OUTLIER_CONFIG } from './outlier.js';
import type { LoadConfig } from './service-load.js';
import { DEFAULT_WEIGHT_CONFIG } from './weights.js';

/** Calls handed out by unary Resolve and never reported are released after this long (CALL_LEASE_SECONDS). */
export const DEFAULT_CALL_LEASE_MS = 30_000;

export const DEFAULT_LOAD_CONFIG: LoadConfig = {
  outlier: DEFAULT_OUTLIER_CONFIG,
  weights: DEFAULT_WEIGHT_CONFIG,
  callLeaseMs: DEFAULT_CALL_LEASE_MS,
};

/** The outlier ejection, call lease and weight settings (README "Load- and failure-aware balancing"). */
export function readLoadConfig(env: Env): LoadConfig {
  const outlier = DEFAULT_OUTLIER_CONFIG;
  const weights = DEFAULT_WEIGHT_CONFIG;
  const seconds = (name: string, fallbackMs: number, min: number, max: number): number =>
    readInteger(env, name, fallbackMs / 1000, { min, max }) * 1000;
  return {
    outlier: {
      consecutiveFailures: readInteger(env, 'OUTLIER_CONSECUTIVE_FAILURES', outlier.consecutiveFailures, { min: 0, max: 10_000 }),
      failurePercentage: readInteger(env, 'OUTLIER_FAILURE_PERCENTAGE', outlier.failurePercentage, { min: 0, max: 100 }),
      failureMinCalls: readInteger(env, 'OUTLIER_FAILURE_MIN_CALLS', outlier.failureMinCalls, { min: 1, max: 1_000_000 }),
      windowMs: seconds('OUTLIER_WINDOW_SECONDS', outlier.windowMs, 1, 3_600),
      baseEjectionMs: seconds('OUTLIER_BASE_EJECTION_SECONDS', outlier.baseEjectionMs, 1, 86_400),
      maxEjectionMs: seconds('OUTLIER_MAX_EJECTION_SECONDS', outlier.maxEjectionMs, 1, 86_400),
      maxEjectionPercent: readInteger(env, 'OUTLIER_MAX_EJECTION_PERCENT', outlier.maxEjectionPercent, { min: 0, max: 100 }),
      stalledCallsMs: readInteger(env, 'OUTLIER_STALLED_CALLS_MS', outlier.stalledCallsMs, { min: 0, max: 3_600_000 }),
    },
    weights: {
      blackoutMs: seconds('WRR_BLACKOUT_SECONDS', weights.blackoutMs, 0, 3_600),
      expirationMs: seconds('WRR_WEIGHT_EXPIRATION_SECONDS', weights.expirationMs, 1, 86_400),
      errorPenalty: readNumber(env, 'WRR_ERROR_PENALTY', weights.errorPenalty, { min: 0, max: 1_000 }),
      updatePeriodMs: weights.updatePeriodMs,
      reportIntervalMs: readInteger(env, 'ORCA_REPORT_INTERVAL_MS', weights.reportIntervalMs, { min: 100, max: 600_000 }),
      maxStreams: readInteger(env, 'MAX_ORCA_STREAMS', weights.maxStreams, { min: 0, max: 100_000 }),
    },
    callLeaseMs: seconds('CALL_LEASE_SECONDS', DEFAULT_CALL_LEASE_MS, 1, 3_600),
  };
}
