/**
 * `make bench-resolve`: the throughput and latency of lookaside.v1 Resolve
 * (3 endpoints, round robin) next to an empty route of the same method on
 * the same transport (bench/empty-route-server.ts: a GrpcFront whose Resolve
 * StreamRoute answers a fixed, pre-encoded ResolveResponse, the bytes the
 * lookaside answered), all loaded by h2load with the same settings on this
 * machine. The goal's ratio is Resolve against the empty route: what the
 * lookaside's own work costs. An informational third target, an empty
 * grpc-js handler (bench/empty-server.ts), shows what a call would cost
 * through grpc-js's per-call machinery, which Resolve no longer goes through.
 *
 * Order: several sessions, each with fresh server processes (one process's GC
 * heuristics can settle faster or slower than another's); in each, a warm-up
 * run against each target, then runs in mirrored blocks (empty, resolve,
 * grpc-js empty, grpc-js empty, resolve, empty, …; with two targets ABBA)
 * so a drift on a shared machine favours no target. Besides the ratio of the
 * mean throughputs it prints the median of the per-block resolve/empty
 * ratios (the two runs sit side by side in each block) and the servers' CPU
 * time per request, which other load disturbs less.
 *
 * Every response is checked: h2load counts HTTP 200 even for gRPC errors, so
 * the request body is first sent once to each target with a raw HTTP/2 call
 * (grpc-status must be 0; the empty route must answer the lookaside's bytes),
 * a grpc-js client checks the round robin, and after every Resolve run the
 * lookaside's grpc_server_handled_total{grpc_code="OK"} must have grown by
 * exactly the number of requests sent. (The empty targets answer OK whatever
 * they are sent and count nothing.)
 *
 * Exits 1 when the bench cannot run or a response was wrong; a missed goal is
 * reported, not failed.
 *
 * Env (all optional): BENCH_SESSIONS (fresh pairs of server processes, 3),
 * BENCH_ROUNDS (runs per target per session, 4), BENCH_REQUESTS (requests per
 * run, 50000), BENCH_WARMUP_REQUESTS (30000), BENCH_CLIENTS (8), BENCH_STREAMS
 * (32), BENCH_GRPC_JS (1: also the grpc-js empty handler; 0: not), BENCH_PIN
 * (1: the servers on CPU 0 and h2load on CPU 1, with taskset, when there are
 * 2+ CPUs; 0: let the kernel place them), BENCH_CPU_PROF (a directory: the
 * servers write --cpu-prof profiles there).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

import { credentials, status as Status, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';
import { ServiceProcess } from '../test/support/process.js';
import { BenchError, cpuSeconds, freePort, grpcFrame, pinToCpu, rawGrpcCall, waitForMetrics } from './bench-targets.js';
import { mergeSorted, percentile, runH2load, type H2loadRun, type H2loadSettings } from './h2load.js';

const SERVICE = 'lookaside.v1.Lookaside';
const PATH = `/${SERVICE}/Resolve`;
const REQUEST = { service: 'greetserver', namespace: '', policy: 'ROUND_ROBIN', port_name: '' };
const ENDPOINTS = ['10.1.0.1:50051', '10.1.0.2:50051', '10.1.0.3:50051'];
const GOAL = 0.9;
/** With BENCH_PIN (the default on 2+ CPUs), the servers share this CPU and h2load gets the other. */
const SERVER_CPU = 0;
const LOAD_CPU = 1;

type TargetName = 'empty' | 'resolve' | 'grpc-js empty';
const NAME_WIDTH = 13;

interface Target {
  readonly name: TargetName;
  readonly process: ServiceProcess;
  readonly port: number;
  readonly url: string;
}

interface Measured {
  readonly run: H2loadRun;
  /** CPU time (user + system) the server process used during the run, per request, in µs. */
  readonly cpuUsPerRequest: number;
}

interface RoundResult extends Measured {
  readonly target: TargetName;
  /** `session.block`: the runs of one mirrored block, side by side in time. */
  readonly block: string;
}

function envInteger(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new BenchError(`${name}=${raw}: expected an integer ≥ ${min}`);
  return value;
}

interface BenchSettings {
  readonly sessions: number;
  readonly rounds: number;
  readonly requests: number;
  readonly warmupRequests: number;
  readonly pin: boolean;
  readonly grpcJs: boolean;
  readonly nodeArgs: readonly string[];
  readonly dir: string;
  readonly endpointsFile: string;
  readonly body: Buffer;
  readonly h2load: (count: number) => H2loadSettings;
  readonly Lookaside: ServiceClientConstructor;
  readonly deserializeResponse: (bytes: Buffer) => unknown;
}

async function main(): Promise<void> {
  const sessions = envInteger('BENCH_SESSIONS', 3);
  const rounds = envInteger('BENCH_ROUNDS', 4);
  const clients = envInteger('BENCH_CLIENTS', 8);
  const streams = envInteger('BENCH_STREAMS', 32);
  const warmupRequests = envInteger('BENCH_WARMUP_REQUESTS', 30_000);
  const requests = envInteger('BENCH_REQUESTS', 50_000);
  const cpuProfDir = process.env['BENCH_CPU_PROF'];
  const grpcJs = process.env['BENCH_GRPC_JS'] !== '0';
  const pin = process.env['BENCH_PIN'] !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;

  const version = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0) {
    throw new BenchError('h2load not found: install it with `apt-get install nghttp2-client` (make bench-resolve does)');
  }

  const dir = await mkdtemp(join(tmpdir(), 'bench-resolve-'));
  try {
    const endpointsFile = join(dir, 'endpoints.yaml');
    await writeFile(endpointsFile, endpointsYaml());

    const { grpcObject } = loadProtos(['lookaside/v1/lookaside.proto']);
    const Lookaside = serviceConstructor(grpcObject, SERVICE);
    const method = Lookaside.service['Resolve'];
    if (method === undefined) throw new BenchError(`no Resolve in ${SERVICE}`);
    // The gRPC frame h2load sends: 0 (not compressed), the length (big-endian), the message.
    const payload = method.requestSerialize(REQUEST);
    const body = grpcFrame(payload);
    const bodyFile = join(dir, 'resolve-request.bin');
    await writeFile(bodyFile, body);

    const settings: BenchSettings = {
      sessions,
      rounds,
      requests,
      warmupRequests,
      pin,
      grpcJs,
      nodeArgs: cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`],
      dir,
      endpointsFile,
      body,
      h2load: (count) => ({
        requests: count,
        clients,
        streams,
        threads: 1,
        bodyFile,
        headers: ['content-type: application/grpc', 'te: trailers'],
        cpu: pin ? LOAD_CPU : undefined,
      }),
      Lookaside,
      deserializeResponse: method.responseDeserialize,
    };
    console.log(
      `${version.stdout.trim()}; -c ${clients} -m ${streams} -t 1; ${ENDPOINTS.length} endpoints; ` +
        `request body ${body.length} bytes (ResolveRequest ${JSON.stringify({ service: REQUEST.service, policy: REQUEST.policy })}); ` +
        `${pin ? `the servers on CPU ${SERVER_CPU}, h2load on CPU ${LOAD_CPU}` : 'not pinned to CPUs'}`,
    );
    console.log(
      `${sessions} session(s) of fresh server processes; each: warm-up ${warmupRequests} requests per target, ` +
        `then ${rounds} runs per target of ${requests} requests in mirrored blocks (${grpcJs ? 'ABCCBA' : 'ABBA'})`,
    );

    const results: RoundResult[] = [];
    for (let session = 1; session <= sessions; session += 1) {
      results.push(...(await runSession(session, settings)));
    }
    report(results, requests);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts the servers, checks them, warms them up, runs the mirrored blocks and stops them. */
async function runSession(session: number, settings: BenchSettings): Promise<RoundResult[]> {
  const targets: Target[] = [];
  try {
    // At LOG_LEVEL=warn the lookaside does not log its "listening" line (info),
    // so it cannot report a port 0 choice: the bench picks two free ports for it.
    const [lookasidePort, metricsPort] = [await freePort(), await freePort()];
    const lookaside = await startLookaside(
      lookasidePort,
      metricsPort,
      {
        LB_HOST: '127.0.0.1',
        LB_PORT: String(lookasidePort),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'warn',
        ENDPOINTS_FILE: settings.endpointsFile,
      },
      settings.nodeArgs,
    );
    targets.push(lookaside);
    // Correctness before load: the exact bytes h2load will send; the empty route answers what the lookaside answered.
    const answer = await checkRawCall(lookaside, settings.body);
    const address = (settings.deserializeResponse(answer) as { address?: string }).address ?? '';
    if (!ENDPOINTS.includes(address)) {
      throw new BenchError(`raw HTTP/2 Resolve answered address ${JSON.stringify(address)}, not one of ${ENDPOINTS.join(', ')}`);
    }
    const listenOn = { LB_HOST: '127.0.0.1', LB_PORT: '0' };
    const empty = await startTarget('empty', 'bench/empty-route-server.js', { ...listenOn, EMPTY_RESPONSE_BASE64: answer.toString('base64') }, settings.nodeArgs);
    targets.push(empty);
    if (settings.grpcJs) targets.push(await startTarget('grpc-js empty', 'bench/empty-server.js', listenOn, settings.nodeArgs));
    if (settings.pin) for (const target of targets) pinToCpu(target.name, target.process.child.pid ?? 0, SERVER_CPU);

    await checkWithClient(settings.Lookaside, targets);
    for (const target of targets) {
      if (target === lookaside) continue;
      const message = await checkRawCall(target, settings.body);
      if (target === empty && !message.equals(answer)) throw new BenchError('the empty route answered other bytes than the lookaside');
    }
    let expectedOk = 1 + ENDPOINTS.length;
    await expectHandled(metricsPort, expectedOk, 'after the pre-checks');

    const runOn = async (target: Target, count: number): Promise<Measured> => {
      const cpuBefore = cpuSeconds(target.process.child.pid ?? 0);
      const run = await runH2load(target.url, settings.h2load(count), join(settings.dir, `${target.name}.log`));
      const cpuUsPerRequest = ((cpuSeconds(target.process.child.pid ?? 0) - cpuBefore) * 1e6) / count;
      if (target === lookaside) {
        expectedOk += count;
        await expectHandled(metricsPort, expectedOk, `after ${count} more requests`);
      }
      return { run, cpuUsPerRequest };
    };

    // The order of the blocks: empty, resolve[, grpc-js empty], then mirrored.
    const order = [empty, lookaside, ...targets.filter((target) => target !== empty && target !== lookaside)];
    const warmUps: string[] = [];
    for (const target of order) {
      const warm = await runOn(target, settings.warmupRequests);
      warmUps.push(`${target.name} ${fmtRate(warm.run.summary.requestsPerSecond)} req/s`);
    }
    console.log(`\nsession ${session}: warm-up ${warmUps.join(', ')}`);

    const results: RoundResult[] = [];
    for (let block = 0; block < settings.rounds; block += 1) {
      for (const target of block % 2 === 0 ? order : [...order].reverse()) {
        const measured = await runOn(target, settings.requests);
        results.push({ target: target.name, block: `${session}.${block}`, ...measured });
        const { run } = measured;
        console.log(
          `  run ${String(results.length).padStart(2)}  ${target.name.padEnd(NAME_WIDTH)} ${fmtRate(run.summary.requestsPerSecond).padStart(7)} req/s` +
            `  p50 ${fmtMs(percentile(run.latenciesUs, 0.5)).padStart(6)} ms  p99 ${fmtMs(percentile(run.latenciesUs, 0.99)).padStart(6)} ms` +
            `  server CPU ${measured.cpuUsPerRequest.toFixed(1).padStart(5)} µs/req`,
        );
      }
    }
    return results;
  } finally {
    await Promise.all(targets.map((target) => target.process.stop()));
  }
}

function endpointsYaml(): string {
  const lines = ['services:', '  - namespace: default', '    name: greetserver', '    endpoints:'];
  ENDPOINTS.forEach((address, index) => {
    lines.push(`      - { address: "${address}", pod: greetserver-${index}, zone: bench-a }`);
  });
  return `${lines.join('\n')}\n`;
}

/** Starts a server that logs a "listening" line with its port. */
async function startTarget(name: TargetName, script: string, env: Record<string, string>, nodeArgs: readonly string[]): Promise<Target> {
  const child = ServiceProcess.start(script, env, nodeArgs);
  let listening;
  try {
    listening = await child.waitUntilListening(20_000);
  } catch (error) {
    await child.stop();
    throw new BenchError(`${name} server (${script}) did not start: ${(error as Error).message}`);
  }
  const port = Number(listening['port']);
  if (!Number.isInteger(port) || port <= 0) throw new BenchError(`${name} server logged no port: ${JSON.stringify(listening)}`);
  return { name, process: child, port, url: `http://127.0.0.1:${port}${PATH}` };
}

/** Starts the lookaside on the given ports and waits until its /metrics answers (it binds gRPC first). */
async function startLookaside(
  port: number,
  metricsPort: number,
  env: Record<string, string>,
  nodeArgs: readonly string[],
): Promise<Target> {
  const child = ServiceProcess.start('src/lookaside/main.js', env, nodeArgs);
  await waitForMetrics(child, metricsPort);
  return { name: 'resolve', process: child, port, url: `http://127.0.0.1:${port}${PATH}` };
}

/** Through grpc-js: one Resolve on each empty target, one per endpoint on the lookaside; all OK, and round robin hands out each endpoint once. */
async function checkWithClient(Lookaside: ServiceClientConstructor, targets: readonly Target[]): Promise<void> {
  const call = (target: Target): Promise<{ address?: string }> => {
    const client = new Lookaside(`127.0.0.1:${target.port}`, credentials.createInsecure());
    return new Promise<{ address?: string }>((resolve, reject) => {
      const resolveMethod = client['Resolve'] as (
        request: unknown,
        options: { deadline: number },
        callback: (error: ServiceError | null, response: { address?: string }) => void,
      ) => void;
      resolveMethod.call(client, REQUEST, { deadline: Date.now() + 5_000 }, (error, response) => {
        if (error) reject(new BenchError(`${target.name}: Resolve failed: ${Status[error.code]} ${error.details}`));
        else resolve(response);
      });
    }).finally(() => client.close());
  };
  const seen: string[] = [];
  for (const target of targets) {
    if (target.name !== 'resolve') await call(target);
    else for (let i = 0; i < ENDPOINTS.length; i += 1) seen.push((await call(target)).address ?? '');
  }
  if ([...seen].sort().join(',') !== [...ENDPOINTS].sort().join(',')) {
    throw new BenchError(`round robin over ${ENDPOINTS.join(', ')} answered ${seen.join(', ')}`);
  }
}

/** Sends h2load's request body once over plain HTTP/2; returns the response message. */
async function checkRawCall(target: Target, body: Buffer): Promise<Buffer> {
  const messages = await rawGrpcCall(target.name, target.port, PATH, body);
  const [message] = messages;
  if (message === undefined || messages.length > 1) throw new BenchError(`${target.name}: raw HTTP/2 call answered ${messages.length} messages, not 1`);
  return message;
}

/** grpc_server_handled_total of lookaside.v1 Resolve, by grpc_code. */
async function handledByCode(metricsPort: number): Promise<Map<string, number>> {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!response.ok) throw new BenchError(`GET /metrics answered ${response.status}`);
  const text = await response.text();
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^grpc_server_handled_total\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (match === null) continue;
    const labels = new Map<string, string>();
    for (const [, key = '', value = ''] of (match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels.set(key, value);
    if (labels.get('grpc_service') !== SERVICE || labels.get('grpc_method') !== 'Resolve') continue;
    const code = labels.get('grpc_code') ?? '?';
    counts.set(code, (counts.get(code) ?? 0) + Number(match[2]));
  }
  return counts;
}

async function expectHandled(metricsPort: number, expectedOk: number, when: string): Promise<void> {
  const counts = await handledByCode(metricsPort);
  const ok = counts.get('OK') ?? 0;
  const others = [...counts].filter(([code, count]) => code !== 'OK' && count > 0);
  if (ok !== expectedOk || others.length > 0) {
    throw new BenchError(
      `the lookaside's grpc_server_handled_total ${when}: OK=${ok}, expected ${expectedOk}` +
        (others.length > 0 ? `; other codes: ${others.map(([code, count]) => `${code}=${count}`).join(', ')}` : ''),
    );
  }
}

function report(results: readonly RoundResult[], requests: number): void {
  const summarize = (name: TargetName) => {
    const runs = results.filter((result) => result.target === name);
    const rates = runs.map((result) => result.run.summary.requestsPerSecond);
    const latencies = mergeSorted(runs.map((result) => result.run.latenciesUs));
    return {
      name,
      runs: runs.length,
      rate: mean(rates),
      min: Math.min(...rates),
      max: Math.max(...rates),
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      cpu: mean(runs.map((result) => result.cpuUsPerRequest)),
    };
  };
  const names: TargetName[] = ['empty', 'resolve', 'grpc-js empty'];
  const rows = names.map(summarize).filter((row) => row.runs > 0);
  console.log('');
  console.log(
    `${'target'.padEnd(NAME_WIDTH)} ${'runs'.padStart(4)} ${'req/s (mean)'.padStart(13)} ${'min–max'.padStart(15)} ` +
      `${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'CPU µs/req'.padStart(11)}`,
  );
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(NAME_WIDTH)} ${String(row.runs).padStart(4)} ${fmtRate(row.rate).padStart(13)} ` +
        `${`${fmtRate(row.min)}–${fmtRate(row.max)}`.padStart(15)} ${fmtMs(row.p50).padStart(7)} ${fmtMs(row.p99).padStart(7)} ` +
        `${row.cpu.toFixed(1).padStart(11)}`,
    );
  }
  const [empty, resolve] = rows;
  if (empty === undefined || resolve === undefined) throw new BenchError('no measured runs');
  // Each resolve run against the empty run beside it in its block: drift on
  // a shared machine moves both, so the median of these is the steadier figure.
  const pairRatios: number[] = [];
  for (const block of new Set(results.map((result) => result.block))) {
    const rate = (name: TargetName) => results.find((result) => result.block === block && result.target === name)?.run.summary.requestsPerSecond;
    const [r, e] = [rate('resolve'), rate('empty')];
    if (r !== undefined && e !== undefined) pairRatios.push(r / e);
  }
  const ratio = resolve.rate / empty.rate;
  console.log('');
  console.log(`throughput ratio resolve/empty: ${ratio.toFixed(3)} (ratio of the means)`);
  console.log(`  per block: ${pairRatios.map((value) => value.toFixed(3)).join(', ')}; median ${median(pairRatios).toFixed(3)}`);
  console.log(
    `  server CPU per request, empty/resolve: ${(empty.cpu / resolve.cpu).toFixed(3)} ` +
      `(CPU-bound, throughput goes as its inverse; other load disturbs it less); ` +
      `Resolve's own work: ${(resolve.cpu - empty.cpu).toFixed(1)} µs per request`,
  );
  const grpcJs = rows[2];
  if (grpcJs !== undefined) {
    console.log(
      `  informational: the grpc-js empty handler at ${(grpcJs.rate / empty.rate).toFixed(3)} × the empty route's throughput, ` +
        `${grpcJs.cpu.toFixed(1)} against ${empty.cpu.toFixed(1)} CPU µs per request (grpc-js's per-call cost, which Resolve skips)`,
    );
  }
  console.log(`goal: Resolve ≥ ${GOAL} × the empty route's throughput: ${ratio >= GOAL ? 'MET' : 'NOT MET'} (${ratio.toFixed(3)})`);
  const resolveRuns = results.filter((result) => result.target === 'resolve').length;
  console.log(`all ${resolveRuns * requests} measured Resolve requests answered OK (checked on the lookaside's /metrics)`);
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function fmtRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function fmtMs(micros: number): string {
  return (micros / 1000).toFixed(2);
}

main().catch((error: unknown) => {
  console.error(`bench-resolve FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
