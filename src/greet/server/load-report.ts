import type { ServerMetricRecorder } from '@grpc/grpc-js';

/** How often the load figures are measured and handed to the ORCA recorder. */
export const LOAD_SAMPLE_INTERVAL_MS = 1_000;

/** The part of grpc-js's ServerMetricRecorder the sampler sets. */
export type LoadRecorder = Pick<ServerMetricRecorder, 'setCpuUtilizationMetric' | 'setQpsMetric' | 'setEpsMetric'>;

export interface LoadSamplerOptions {
  readonly recorder: LoadRecorder;
  /** Milliseconds, monotonic; injectable for tests. */
  readonly now?: () => number;
  /** CPU time this process has used, user and system, in microseconds; injectable for tests. */
  readonly cpuMicros?: () => number;
  readonly intervalMs?: number;
}

function processCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * The server's real load, as ORCA reports it to whoever streams it
 * (`xds.service.orca.v3.OpenRcaService/StreamCoreMetrics`): CPU utilization
 * (the process's CPU time over wall time, as a fraction of one core: Node
 * answers calls on one thread), queries and errors per second, each measured
 * over the last interval.
 */
export class LoadSampler {
  private calls = 0;
  private errors = 0;
  private lastSampleMs: number;
  private lastCpuMicros: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly cpuMicros: () => number;

  constructor(private readonly options: LoadSamplerOptions) {
    this.now = options.now ?? (() => performance.now());
    this.cpuMicros = options.cpuMicros ?? processCpuMicros;
    this.lastSampleMs = this.now();
    this.lastCpuMicros = this.cpuMicros();
  }

  /** Counts one answered call; `failed` when it was answered with an error. */
  callEnded(failed: boolean): void {
    this.calls += 1;
    if (failed) this.errors += 1;
  }

  /** Measures the interval since the last sample and publishes it. */
  sample(): void {
    const nowMs = this.now();
    const cpuMicros = this.cpuMicros();
    const elapsedMs = nowMs - this.lastSampleMs;
    if (elapsedMs <= 0) return;
    const seconds = elapsedMs / 1000;
    this.options.recorder.setCpuUtilizationMetric((cpuMicros - this.lastCpuMicros) / (elapsedMs * 1000));
    this.options.recorder.setQpsMetric(this.calls / seconds);
    this.options.recorder.setEpsMetric(this.errors / seconds);
    this.calls = 0;
    this.errors = 0;
    this.lastSampleMs = nowMs;
    this.lastCpuMicros = cpuMicros;
  }

  start(): void {
    this.timer = setInterval(() => this.sample(), this.options.intervalMs ?? LOAD_SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
