/** Runs h2load once and reads its summary and per-request log; kept apart so it can be tested alone. */
import { readFile, rm } from 'node:fs/promises';

import { runCommand } from '../test/support/process.js';

export interface H2loadSettings {
  readonly requests: number;
  readonly clients: number;
  readonly streams: number;
  readonly threads: number;
  /** Run h2load on this CPU only (with taskset), or anywhere when undefined. */
  readonly cpu?: number | undefined;
  readonly bodyFile: string;
  readonly headers: readonly string[];
}

export interface H2loadSummary {
  readonly total: number;
  readonly started: number;
  readonly done: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  readonly finishedSeconds: number;
  readonly requestsPerSecond: number;
}

export interface H2loadRun {
  readonly summary: H2loadSummary;
  /** Per-request time until the end of the response, in microseconds, sorted ascending. */
  readonly latenciesUs: Float64Array;
  readonly output: string;
}

export class H2loadError extends Error {
  override name = 'H2loadError';
}

/** The same argument list for every target; only the URL differs. */
export function h2loadArgs(url: string, settings: H2loadSettings, logFile: string): string[] {
  return [
    ...settings.headers.flatMap((header) => ['-H', header]),
    '-d', settings.bodyFile,
    '-n', String(settings.requests),
    '-c', String(settings.clients),
    '-m', String(settings.streams),
    '-t', String(settings.threads),
    `--log-file=${logFile}`,
    url,
  ];
}

/**
 * Runs h2load and checks that every request it sent came back with HTTP 200.
 * (HTTP 200 alone does not prove a gRPC success: the caller checks grpc-status
 * some other way.)
 */
export async function runH2load(url: string, settings: H2loadSettings, logFile: string): Promise<H2loadRun> {
  const args = h2loadArgs(url, settings, logFile);
  const { code, stdout, stderr } =
    settings.cpu === undefined ? await runCommand('h2load', args) : await runCommand('taskset', ['-c', String(settings.cpu), 'h2load', ...args]);
  if (code !== 0) throw new H2loadError(`h2load exited with ${code}: ${stderr || stdout}`);
  const summary = parseSummary(stdout);
  const expected = settings.requests;
  const problems: string[] = [];
  if (summary.total !== expected) problems.push(`total ${summary.total} ≠ ${expected}`);
  if (summary.done !== expected) problems.push(`done ${summary.done} ≠ ${expected}`);
  if (summary.succeeded !== expected) problems.push(`succeeded ${summary.succeeded} ≠ ${expected}`);
  if (summary.failed + summary.errored + summary.timeout > 0) {
    problems.push(`${summary.failed} failed, ${summary.errored} errored, ${summary.timeout} timed out`);
  }
  if (summary.status2xx !== expected) problems.push(`${summary.status2xx} answers were 2xx, not ${expected}`);

  const log = await readFile(logFile, 'utf8');
  await rm(logFile, { force: true });
  const latencies = parseLogFile(log);
  if (latencies.count !== expected) problems.push(`log file has ${latencies.count} rows, not ${expected}`);
  if (latencies.non200 > 0) problems.push(`log file has ${latencies.non200} rows whose status is not 200`);
  if (problems.length > 0) {
    throw new H2loadError(`h2load against ${url}: ${problems.join('; ')}\n${stdout}`);
  }
  return { summary, latenciesUs: latencies.sorted, output: stdout };
}

export function parseSummary(stdout: string): H2loadSummary {
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(stdout);
  const requests =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(stdout);
  const codes = /status codes: (\d+) 2xx/.exec(stdout);
  if (finished === null || requests === null || codes === null) {
    throw new H2loadError(`cannot read h2load's summary:\n${stdout}`);
  }
  const n = (text: string | undefined): number => Number(text);
  const finishedSeconds = n(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  return {
    total: n(requests[1]),
    started: n(requests[2]),
    done: n(requests[3]),
    succeeded: n(requests[4]),
    failed: n(requests[5]),
    errored: n(requests[6]),
    timeout: n(requests[7]),
    status2xx: n(codes[1]),
    finishedSeconds,
    requestsPerSecond: n(finished[3]),
  };
}

/** Rows of `--log-file`: start (µs since epoch) \t HTTP status \t µs until the end of the response. */
export function parseLogFile(text: string): { count: number; non200: number; sorted: Float64Array } {
  const rows = text.split('\n').filter((row) => row !== '');
  const latencies = new Float64Array(rows.length);
  let non200 = 0;
  rows.forEach((row, index) => {
    const [, status, micros] = row.split('\t');
    if (status !== '200') non200 += 1;
    latencies[index] = Number(micros);
  });
  latencies.sort();
  return { count: rows.length, non200, sorted: latencies };
}

/** Nearest-rank percentile of an ascending array; `p` in (0, 1]. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Joins sorted arrays into one sorted array. */
export function mergeSorted(arrays: readonly Float64Array[]): Float64Array {
  const merged = new Float64Array(arrays.reduce((sum, array) => sum + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    merged.set(array, offset);
    offset += array.length;
  }
  return merged.sort();
}
