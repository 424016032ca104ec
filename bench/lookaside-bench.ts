/**
 * `make bench-lookaside`: our lookaside (file discovery, 3 endpoints, round
 * robin) against the grpc-go reference of bench/go-reference/, loaded by
 * h2load with the same settings: lookaside.v1 Resolve on both, and our
 * ResolveStream. Per concurrency (8, 32, 128 answers in flight) a warm-up,
 * then BENCH_ROUNDS rounds, each running every target once in a rotated order
 * so a drift on the shared machine favours none. Prints medians of req/s,
 * p50/p99, the server's CPU µs per answer (/proc) and its peak RSS (VmHWM,
 * reset before each run), then the ratios the issue asks for.
 *
 * ResolveStream through h2load: each h2load request is one stream carrying
 * BENCH_STREAM_MESSAGES (8) ResolveRequests, answered by as many messages;
 * concurrency N runs N / 8 such streams at once, so N answers are in flight.
 *
 * Env (all optional): BENCH_CONCURRENCY (8,32,128), BENCH_ROUNDS (3),
 * BENCH_ANSWERS (answers per run, 20000), BENCH_CONNECTIONS (4), BENCH_PIN
 * (1: servers on CPU 0, h2load on CPU 1), LOOKASIDE_NODE_ARGS (node flags for
 * our lookaside, space-separated; default: the image's under deploy/base's limit), LOOKASIDE_ENV (extra env, k=v,…).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';
import { ServiceProcess } from '../test/support/process.js';
import { deployedNodeFlags, envInteger, memoryOf } from './bench-process.js';
import { BenchError, cpuSeconds, freePort, grpcFrame, pinToCpu, rawGrpcCall, resetPeakRss, waitForMetrics, writeResolveBodies } from './bench-targets.js';
import { goReferenceBinary, startGoReference } from './go-reference.js';
import { percentile, runH2load } from './h2load.js';
import { lookasideAnswersOk, printReport, type RunResult, type TargetName } from './lookaside-bench-report.js';

const SERVICE = 'lookaside.v1.Lookaside';
const REQUEST = { service: 'greetserver', namespace: '', policy: 'ROUND_ROBIN' };
const ENDPOINTS = ['10.1.0.1:50051', '10.1.0.2:50051', '10.1.0.3:50051'];
const SERVER_CPU = 0;
const LOAD_CPU = 1;

interface Target {
  readonly name: TargetName;
  readonly pid: number;
  readonly port: number;
  readonly path: string;
  readonly bodyFile: string;
  /** Answers per h2load request: 1 for unary, the messages per stream for ResolveStream. */
  readonly answersPerRequest: number;
}

async function main(): Promise<void> {
  const levels = (process.env['BENCH_CONCURRENCY'] ?? '8,32,128').split(',').map(Number);
  const rounds = envInteger('BENCH_ROUNDS', 3);
  const answers = envInteger('BENCH_ANSWERS', 20_000);
  const connections = envInteger('BENCH_CONNECTIONS', 4);
  const perStream = envInteger('BENCH_STREAM_MESSAGES', 8);
  const pin = process.env['BENCH_PIN'] !== '0' && availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
  // As the image runs it under deploy/base's memory limit, unless LOOKASIDE_NODE_ARGS says otherwise.
  const override = process.env['LOOKASIDE_NODE_ARGS'];
  const nodeArgs = override === undefined ? deployedNodeFlags() : override.split(' ').filter((arg) => arg !== '');
  const extraEnv = Object.fromEntries((process.env['LOOKASIDE_ENV'] ?? '').split(',').filter((pair) => pair.includes('=')).map((pair) => pair.split('=', 2) as [string, string]));
  if (levels.some((level) => !Number.isInteger(level) || level < 1)) throw new BenchError('BENCH_CONCURRENCY: expected whole numbers ≥ 1, comma-separated');
  if (spawnSync('h2load', ['--version']).status !== 0) throw new BenchError('h2load not found: install it with `apt-get install nghttp2-client`');

  const binary = await goReferenceBinary();
  const dir = await mkdtemp(join(tmpdir(), 'bench-lookaside-'));
  const processes: ServiceProcess[] = [];
  // Ctrl-C stops the servers too, not only the bench.
  process.once('SIGINT', () => {
    void Promise.all(processes.map((child) => child.stop())).finally(() => process.exit(130));
  });
  try {
    const methods = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, SERVICE).service;
    const [resolve, resolveStream] = [methods['Resolve'], methods['ResolveStream']];
    if (resolve === undefined || resolveStream === undefined) throw new BenchError(`no Resolve or ResolveStream in ${SERVICE}`);
    const frame = grpcFrame(resolve.requestSerialize(REQUEST));
    const { unaryBody, streamBody } = await writeResolveBodies(dir, frame, perStream);
    const endpointsFile = join(dir, 'endpoints.yaml');
    await writeFile(endpointsFile, endpointsYaml());

    const go = await startGoReference(binary, pin ? SERVER_CPU : undefined);
    processes.push(go.process);
    const [port, metricsPort] = [await freePort(), await freePort()];
    const env = { LB_HOST: '127.0.0.1', LB_PORT: String(port), METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn', ENDPOINTS_FILE: endpointsFile, ...extraEnv };
    const ours = ServiceProcess.start('src/lookaside/main.js', env, nodeArgs);
    processes.push(ours);
    await waitForMetrics(ours, metricsPort);
    const oursPid = ours.child.pid ?? 0;
    if (pin) pinToCpu('lookaside', oursPid, SERVER_CPU);

    const targets: Target[] = [
      { name: 'go', pid: go.process.child.pid ?? 0, port: go.port, path: `/${SERVICE}/Resolve`, bodyFile: unaryBody, answersPerRequest: 1 },
      { name: 'unary', pid: oursPid, port, path: `/${SERVICE}/Resolve`, bodyFile: unaryBody, answersPerRequest: 1 },
      { name: 'stream', pid: oursPid, port, path: `/${SERVICE}/ResolveStream`, bodyFile: streamBody, answersPerRequest: perStream },
    ];
    await checkAnswers(targets, frame, perStream, { unary: resolve.responseDeserialize, stream: resolveStream.responseDeserialize });
    const idle = memoryOf(oursPid);
    let expectedOk = await lookasideAnswersOk(metricsPort);
    console.log(
      `h2load -c ${connections}, ${answers} answers per run, ${rounds} rounds; ResolveStream: ${perStream} requests per stream; ` +
        `${pin ? `servers on CPU ${SERVER_CPU}, h2load on CPU ${LOAD_CPU}` : 'not pinned'}; our idle RSS ${(idle.rss / 2 ** 20).toFixed(0)} MB` +
        (nodeArgs.length > 0 ? `; node ${nodeArgs.join(' ')}` : ''),
    );

    const results: RunResult[] = [];
    let peakResets = true;
    for (const concurrency of levels) {
      const run = async (target: Target, count: number): Promise<RunResult> => {
        peakResets = resetPeakRss(target.pid) && peakResets;
        const requests = Math.ceil(count / target.answersPerRequest);
        const inFlight = Math.max(1, Math.round(concurrency / target.answersPerRequest));
        const clients = Math.min(connections, inFlight);
        const before = cpuSeconds(target.pid);
        const h2 = await runH2load(`http://127.0.0.1:${target.port}${target.path}`, {
          requests,
          clients,
          streams: Math.max(1, Math.round(inFlight / clients)),
          threads: 1,
          bodyFile: target.bodyFile,
          headers: ['content-type: application/grpc', 'te: trailers'],
          cpu: pin ? LOAD_CPU : undefined,
        }, join(dir, 'h2load.log'));
        const answered = requests * target.answersPerRequest;
        const cpuUs = ((cpuSeconds(target.pid) - before) * 1e6) / answered;
        if (target.name !== 'go') {
          expectedOk += answered;
          const ok = await lookasideAnswersOk(metricsPort);
          if (ok !== expectedOk) throw new BenchError(`lookaside_resolve_total{code="OK"} is ${ok}, expected ${expectedOk}`);
        }
        return {
          target: target.name,
          concurrency,
          answersPerSecond: h2.summary.requestsPerSecond * target.answersPerRequest,
          p50Us: percentile(h2.latenciesUs, 0.5),
          p99Us: percentile(h2.latenciesUs, 0.99),
          cpuUsPerAnswer: cpuUs,
          peakRssBytes: memoryOf(target.pid).peak,
        };
      };
      for (const target of targets) await run(target, Math.ceil(answers / 3));
      for (let round = 0; round < rounds; round += 1) {
        for (let index = 0; index < targets.length; index += 1) {
          const target = targets[(index + round) % targets.length] as Target;
          const result = await run(target, answers);
          results.push(result);
          console.log(
            `  c=${String(concurrency).padStart(3)} round ${round + 1} ${target.name.padEnd(6)} ${Math.round(result.answersPerSecond).toLocaleString('en-US').padStart(8)} answers/s` +
              `  CPU ${result.cpuUsPerAnswer.toFixed(1).padStart(5)} µs/answer  peak RSS ${(result.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
          );
        }
      }
    }
    printReport(results, { totalOurs: expectedOk, peakResets, oursPeakSinceStart: memoryOf(oursPid).peak });
  } finally {
    await Promise.all(processes.map((child) => child.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** One call per target with h2load's own body: every answer OK, and ours and Go's hand out the endpoints in turn. */
async function checkAnswers(
  targets: readonly Target[],
  frame: Buffer,
  perStream: number,
  decoders: { readonly unary: (bytes: Buffer) => unknown; readonly stream: (bytes: Buffer) => unknown },
): Promise<void> {
  for (const target of targets) {
    const body = target.answersPerRequest === 1 ? frame : Buffer.concat(Array.from({ length: perStream }, () => frame));
    const messages = await rawGrpcCall(target.name, target.port, target.path, body);
    if (messages.length !== target.answersPerRequest) throw new BenchError(`${target.name}: ${messages.length} answers, expected ${target.answersPerRequest}`);
    for (const message of messages) {
      const decoded = (target.name === 'stream' ? decoders.stream : decoders.unary)(message) as { address?: string; response?: { address?: string } | null };
      const address = target.name === 'stream' ? decoded.response?.address : decoded.address;
      if (address === undefined || !ENDPOINTS.includes(address)) throw new BenchError(`${target.name} answered ${JSON.stringify(decoded)}`);
    }
  }
}

function endpointsYaml(): string {
  const lines = ['services:', '  - namespace: default', '    name: greetserver', '    endpoints:'];
  ENDPOINTS.forEach((address, index) => lines.push(`      - { address: "${address}", pod: greetserver-${index}, zone: bench-a }`));
  return `${lines.join('\n')}\n`;
}

main().catch((error: unknown) => {
  console.error(`bench-lookaside FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
