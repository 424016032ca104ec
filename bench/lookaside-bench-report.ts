/** bench-lookaside's table: medians per concurrency and target, and the ratios against the Go reference. */

export type TargetName = 'go' | 'unary' | 'stream';

export interface RunResult {
  readonly target: TargetName;
  readonly concurrency: number;
  readonly answersPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerAnswer: number;
  readonly peakRssBytes: number;
}

interface Totals {
  /** Answers our lookaside gave OK since it started (warm-ups and checks included). */
  readonly totalOurs: number;
  /** Whether every run's peak RSS was its own (the kernel let VmHWM be reset). */
  readonly peakResets: boolean;
  readonly oursPeakSinceStart: number;
}

/** The sum of lookaside_resolve_total{code="OK"} on our lookaside's /metrics. */
export async function lookasideAnswersOk(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const match of text.matchAll(/^lookaside_resolve_total\{[^}]*code="OK"[^}]*\}\s+(\S+)$/gm)) sum += Number(match[1]);
  return sum;
}

export function printReport(results: readonly RunResult[], totals: Totals): void {
  const levels = [...new Set(results.map((result) => result.concurrency))];
  const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);
  const ms = (micros: number): string => (micros / 1000).toFixed(2);
  console.log('\nmedians of the rounds (answers/s; latency of an h2load request: one answer, or a whole stream)');
  console.log('| concurrency | target | answers/s | p50 ms | p99 ms | CPU µs/answer | peak RSS MB |');
  console.log('|---:|---|---:|---:|---:|---:|---:|');
  for (const concurrency of levels) {
    for (const target of ['go', 'unary', 'stream'] as const) {
      const row = summarize(results, concurrency, target);
      if (row === undefined) continue;
      console.log(
        `| ${concurrency} | ${target} | ${Math.round(row.answersPerSecond).toLocaleString('en-US')} | ${ms(row.p50Us)} | ${ms(row.p99Us)} | ` +
          `${row.cpuUsPerAnswer.toFixed(1)} | ${mb(row.peakRssBytes)} |`,
      );
    }
  }
  console.log('\nours / Go, per concurrency (req/s; req/s per core used = inverse CPU per answer; the goals: unary ≥ 0.5 per core, stream CPU ≤ Go)');
  console.log('| concurrency | unary req/s | unary per core | stream answers/s | stream per core | stream CPU µs / Go µs |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const concurrency of levels) {
    const go = summarize(results, concurrency, 'go');
    const unary = summarize(results, concurrency, 'unary');
    const stream = summarize(results, concurrency, 'stream');
    if (go === undefined || unary === undefined || stream === undefined) continue;
    console.log(
      `| ${concurrency} | ${(unary.answersPerSecond / go.answersPerSecond).toFixed(2)} | ${(go.cpuUsPerAnswer / unary.cpuUsPerAnswer).toFixed(2)} | ` +
        `${(stream.answersPerSecond / go.answersPerSecond).toFixed(2)} | ${(go.cpuUsPerAnswer / stream.cpuUsPerAnswer).toFixed(2)} | ` +
        `${stream.cpuUsPerAnswer.toFixed(1)} / ${go.cpuUsPerAnswer.toFixed(1)} |`,
    );
  }
  const oursPeak = Math.max(totals.oursPeakSinceStart, ...results.filter((result) => result.target !== 'go').map((result) => result.peakRssBytes));
  console.log(
    `\nour lookaside answered ${totals.totalOurs.toLocaleString('en-US')} Resolves OK; its peak RSS ${mb(oursPeak)} MB ` +
      `(${totals.peakResets ? 'VmHWM reset before each run' : 'VmHWM could not be reset: peaks are since start'}); goal ≤ 128 MB: ${oursPeak <= 128 * 2 ** 20 ? 'MET' : 'NOT MET'}`,
  );
}

function summarize(results: readonly RunResult[], concurrency: number, target: TargetName): RunResult | undefined {
  const runs = results.filter((result) => result.concurrency === concurrency && result.target === target);
  if (runs.length === 0) return undefined;
  const med = (pick: (result: RunResult) => number): number => median(runs.map(pick));
  return {
    target,
    concurrency,
    answersPerSecond: med((result) => result.answersPerSecond),
    p50Us: med((result) => result.p50Us),
    p99Us: med((result) => result.p99Us),
    cpuUsPerAnswer: med((result) => result.cpuUsPerAnswer),
    peakRssBytes: Math.max(...runs.map((result) => result.peakRssBytes)),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
