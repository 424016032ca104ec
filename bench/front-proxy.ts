/**
 * What the GrpcFront's proxy costs a call it passes to grpc-js: the same
 * grpc-js server (health Check, unary) served directly (bindAsync) and
 * behind the front (an in-memory connection per client connection), h2load
 * against each in alternating rounds, CPU µs per call measured in this
 * process (h2load runs apart, on CPU 1 when there are two).
 *
 * Env (optional): BENCH_ROUNDS (3), BENCH_REQUESTS (50000 per run),
 * BENCH_CONCURRENCY (32: h2load clients × streams).
 */
import { cpus, tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Server } from '@grpc/grpc-js';

import { GrpcFront } from '../src/common/grpc-front.js';
import { CONNECTION_TIMES } from '../src/common/grpc-front-connection.js';
import { listenWithLimits } from '../src/common/grpc-listener.js';
import { bindServer, HealthReporter } from '../src/common/grpc.js';
import { silentLogger } from '../src/common/logging.js';
import { percentile, runH2load } from './h2load.js';

const CLIENTS = 4;

function envInteger(name: string, fallback: number): number {
  const text = process.env[name];
  const value = text === undefined || text === '' ? fallback : Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, not ${text}`);
  return value;
}

async function main(): Promise<void> {
  const rounds = envInteger('BENCH_ROUNDS', 3);
  const requests = envInteger('BENCH_REQUESTS', 50_000);
  const concurrency = envInteger('BENCH_CONCURRENCY', 32);
  const server = new Server();
  const health = new HealthReporter([]);
  health.addToServer(server);
  health.setAll('SERVING');
  const directPort = await bindServer(server, '127.0.0.1', 0);
  const front = new GrpcFront({ server, routes: new Map(), times: CONNECTION_TIMES, maxStreamsPerConnection: 1000, logger: silentLogger() });
  const listener = await listenWithLimits(front, { host: '127.0.0.1', port: 0, maxConnections: 100 });
  const targets = [
    { name: 'grpc-js direct', port: directPort },
    { name: 'through the front', port: listener.port },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'front-bench-'));
  const bodyFile = join(dir, 'check.bin');
  await writeFile(bodyFile, Buffer.alloc(5)); // one empty HealthCheckRequest message
  const loadCpu = cpus().length > 1 ? 1 : undefined;
  const results = new Map<string, Array<{ rps: number; cpuUs: number; p50Us: number; p99Us: number }>>();
  console.log(`health Check, h2load -c ${CLIENTS} -m ${concurrency / CLIENTS}, ${requests} calls per run, ${rounds} rounds`);
  try {
    for (let round = 0; round < rounds; round += 1) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const before = process.cpuUsage();
        const run = await runH2load(
          `http://127.0.0.1:${target.port}/grpc.health.v1.Health/Check`,
          { requests, clients: CLIENTS, streams: concurrency / CLIENTS, threads: 1, bodyFile, headers: ['content-type: application/grpc', 'te: trailers'], cpu: loadCpu },
          join(dir, 'h2load.log'),
        );
        const used = process.cpuUsage(before);
        const row = { rps: run.summary.requestsPerSecond, cpuUs: (used.user + used.system) / requests, p50Us: percentile(run.latenciesUs, 0.5), p99Us: percentile(run.latenciesUs, 0.99) };
        results.set(target.name, [...(results.get(target.name) ?? []), row]);
        console.log(`round ${round + 1} ${target.name}: ${row.rps.toFixed(0)} req/s, ${row.cpuUs.toFixed(1)} CPU µs per call, p50 ${row.p50Us} µs, p99 ${row.p99Us} µs`);
      }
    }
  } finally {
    front.forceShutdown();
    await listener.close();
    await rm(dir, { recursive: true, force: true });
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  for (const [name, rows] of results) {
    console.log(`median ${name}: ${median(rows.map((r) => r.rps)).toFixed(0)} req/s, ${median(rows.map((r) => r.cpuUs)).toFixed(1)} CPU µs per call`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
