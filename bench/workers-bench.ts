/**
 * `make bench-workers`: what LB_WORKERS=2 buys over one process, on this
 * 2-CPU machine, with h2load pinned to CPU 1. Two lookasides serve the same
 * endpoints file (3 endpoints, round robin, unary lookaside.v1 Resolve):
 *   1 worker  — the single process, pinned to CPU 0: CPU 1 is h2load's alone.
 *   2 workers — primary + 2 workers free on CPUs 0-1: one worker shares CPU 1 with h2load.
 * So the 2-worker figure is an upper bound on a load generator that competes
 * for a core, not the scaling on a machine with a spare core: it shows the
 * cost of the cluster (IPC, the primary handing out connections) and what is
 * left of the second core. Per concurrency, BENCH_ROUNDS rounds alternate
 * the order of the two. Prints medians of req/s, p50/p99, CPU µs per answer
 * (every process of the lookaside) and RSS per process and in total, and each
 * worker's share of the answers.
 *
 * Env (all optional): BENCH_CONCURRENCY (32,128), BENCH_ROUNDS (3),
 * BENCH_ANSWERS (answers per run, 30000), BENCH_CONNECTIONS (8: even, so
 * node:cluster gives each worker the same number).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';
import { ServiceProcess } from '../test/support/process.js';
import { deployedNodeFlags, envInteger, memoryOf } from './bench-process.js';
import { BenchError, cpuSeconds, freePort, grpcFrame, pinToCpu, waitForMetrics } from './bench-targets.js';
import { percentile, runH2load } from './h2load.js';
import { lookasideAnswersOk } from './lookaside-bench-report.js';

const SERVICE = 'lookaside.v1.Lookaside';
const REQUEST = { service: 'greetserver', namespace: 'default', policy: 'ROUND_ROBIN' };
const LOAD_CPU = 1;

interface Setup {
  readonly workers: number;
  readonly port: number;
  readonly metricsPort: number;
  /** The primary first, then each worker. */
  readonly pids: readonly number[];
}

interface Result {
  readonly workers: number;
  readonly concurrency: number;
  readonly answersPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpuUsPerAnswer: number;
  readonly rssBytes: readonly number[];
  /** Answers of the run per worker slot (LB_WORKERS > 1). */
  readonly shares: readonly number[];
}

async function main(): Promise<void> {
  const levels = (process.env['BENCH_CONCURRENCY'] ?? '32,128').split(',').map(Number);
  const rounds = envInteger('BENCH_ROUNDS', 3);
  const answers = envInteger('BENCH_ANSWERS', 30_000);
  const connections = envInteger('BENCH_CONNECTIONS', 8);
  if (spawnSync('h2load', ['--version']).status !== 0) throw new BenchError('h2load not found: install it with `apt-get install nghttp2-client`');
  if (spawnSync('taskset', ['-V']).status !== 0) throw new BenchError('taskset not found (util-linux)');
  const dir = await mkdtemp(join(tmpdir(), 'bench-workers-'));
  const processes: ServiceProcess[] = [];
  process.once('SIGINT', () => void Promise.all(processes.map((child) => child.stop())).finally(() => process.exit(130)));
  try {
    const resolve = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, SERVICE).service['Resolve'];
    if (resolve === undefined) throw new BenchError(`no Resolve in ${SERVICE}`);
    const body = join(dir, 'unary.bin');
    await writeFile(body, grpcFrame(resolve.requestSerialize(REQUEST)));
    const endpointsFile = join(dir, 'endpoints.yaml');
    await writeFile(endpointsFile, 'services:\n  - namespace: default\n    name: greetserver\n    endpoints:\n' + [1, 2, 3].map((n) => `      - { address: "10.1.0.${n}:50051" }\n`).join(''));

    const start = async (workers: number): Promise<Setup> => {
      const [port, metricsPort] = [await freePort(), await freePort()];
      const env = { LB_HOST: '127.0.0.1', LB_PORT: String(port), METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn', ENDPOINTS_FILE: endpointsFile, LB_WORKERS: String(workers) };
      const child = ServiceProcess.start('src/lookaside/main.js', env, deployedNodeFlags());
      processes.push(child);
      await waitForMetrics(child, metricsPort);
      const primary = child.child.pid ?? 0;
      if (workers === 1) {
        pinToCpu('lookaside', primary, 0);
        return { workers, port, metricsPort, pids: [primary] };
      }
      const slots = ((await (await fetch(`http://127.0.0.1:${metricsPort}/debug/workers`)).json()) as { workers: { pid: number }[] }).workers;
      return { workers, port, metricsPort, pids: [primary, ...slots.map((slot) => slot.pid)] };
    };
    const setups = [await start(1), await start(2)];
    const rss = (setup: Setup): number[] => setup.pids.map((pid) => memoryOf(pid).rss);
    console.log(`h2load -c ${connections} on CPU ${LOAD_CPU}, ${answers} answers per run, ${rounds} rounds; node ${deployedNodeFlags().join(' ')}`);
    for (const setup of setups) console.log(`  idle RSS, ${setup.workers} worker(s): ${rss(setup).map(mb).join(' + ')} MB`);

    const results: Result[] = [];
    for (const concurrency of levels) {
      const run = async (setup: Setup, count: number): Promise<Result> => {
        const sharesBefore = await workerShares(setup.metricsPort);
        const okBefore = await lookasideAnswersOk(setup.metricsPort);
        const cpuBefore = setup.pids.map(cpuSeconds);
        const h2 = await runH2load(`http://127.0.0.1:${setup.port}/${SERVICE}/Resolve`, {
          requests: count,
          clients: connections,
          streams: Math.max(1, Math.round(concurrency / connections)),
          threads: 1,
          bodyFile: body,
          headers: ['content-type: application/grpc', 'te: trailers'],
          cpu: LOAD_CPU,
        }, join(dir, 'h2load.log'));
        const cpu = setup.pids.reduce((sum, pid, index) => sum + cpuSeconds(pid) - (cpuBefore[index] ?? 0), 0);
        const ok = (await lookasideAnswersOk(setup.metricsPort)) - okBefore;
        if (ok !== count) throw new BenchError(`${setup.workers} worker(s): ${ok} Resolves answered OK, expected ${count}`);
        const sharesAfter = await workerShares(setup.metricsPort);
        return {
          workers: setup.workers,
          concurrency,
          answersPerSecond: h2.summary.requestsPerSecond,
          p50Us: percentile(h2.latenciesUs, 0.5),
          p99Us: percentile(h2.latenciesUs, 0.99),
          cpuUsPerAnswer: (cpu * 1e6) / count,
          rssBytes: rss(setup),
          shares: sharesAfter.map((after, slot) => after - (sharesBefore[slot] ?? 0)),
        };
      };
      for (const setup of setups) await run(setup, Math.ceil(answers / 3));
      for (let round = 0; round < rounds; round += 1) {
        for (let index = 0; index < setups.length; index += 1) {
          const result = await run(setups[(index + round) % setups.length] as Setup, answers);
          results.push(result);
          console.log(
            `  c=${String(concurrency).padStart(3)} round ${round + 1} ${result.workers} worker(s) ${Math.round(result.answersPerSecond).toLocaleString('en-US').padStart(7)} answers/s` +
              `  CPU ${result.cpuUsPerAnswer.toFixed(1)} µs/answer  RSS ${result.rssBytes.map(mb).join(' + ')} MB` +
              (result.shares.length > 1 ? `  answers per worker ${result.shares.join(' / ')}` : ''),
          );
        }
      }
    }
    report(results);
  } finally {
    await Promise.all(processes.map((child) => child.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** OK Resolves so far per worker slot, from the `worker` label of the aggregated /metrics ([] for one process). */
async function workerShares(metricsPort: number): Promise<number[]> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const shares: number[] = [];
  for (const match of text.matchAll(/^lookaside_resolve_total\{[^}]*code="OK"[^}]*worker="(\d+)"[^}]*\}\s+(\S+)$/gm)) {
    const slot = Number(match[1]);
    shares[slot] = (shares[slot] ?? 0) + Number(match[2]);
  }
  return Array.from(shares, (share) => share ?? 0);
}

function report(results: readonly Result[]): void {
  const median = (values: readonly number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  console.log('\nmedians of the rounds');
  console.log('| concurrency | LB_WORKERS | answers/s | p50 ms | p99 ms | CPU µs/answer (all processes) | RSS MB per process | RSS MB total |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const concurrency of [...new Set(results.map((result) => result.concurrency))]) {
    const rates: number[] = [];
    for (const workers of [1, 2]) {
      const runs = results.filter((result) => result.concurrency === concurrency && result.workers === workers);
      const rate = median(runs.map((run) => run.answersPerSecond));
      rates.push(rate);
      const last = runs.at(-1)?.rssBytes ?? [];
      console.log(
        `| ${concurrency} | ${workers} | ${Math.round(rate).toLocaleString('en-US')} | ${(median(runs.map((run) => run.p50Us)) / 1000).toFixed(2)} | ${(median(runs.map((run) => run.p99Us)) / 1000).toFixed(2)} | ` +
          `${median(runs.map((run) => run.cpuUsPerAnswer)).toFixed(1)} | ${last.map(mb).join(' + ')} | ${mb(last.reduce((sum, bytes) => sum + bytes, 0))} |`,
      );
    }
    console.log(`  c=${concurrency}: 2 workers / 1 worker = ${((rates[1] ?? 0) / (rates[0] ?? 1)).toFixed(2)}`);
  }
}

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

main().catch((error: unknown) => {
  console.error(`bench-workers FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
