/**
 * `make bench-soak`: the built lookaside (file discovery, 3 endpoints, round
 * robin, the node flags the image gives it under deploy/base's memory limit)
 * answers SOAK_ANSWERS (10 million) Resolves in chunks of a million: in each,
 * SOAK_UNARY_SHARE (10%) as unary lookaside.v1 Resolve and the rest on
 * ResolveStreams of SOAK_STREAM_MESSAGES (64) requests each, driven by
 * h2load (SOAK_CONNECTIONS connections, SOAK_CONCURRENCY answers in flight).
 * After every million it prints the RSS then, the peak RSS so far (VmHWM,
 * sampled from the kernel) and the rate; the heap after a full GC (the probe
 * of bench/heap-probe.ts) is printed after the first million and at the end,
 * so a leak would show as growth between the two. Every answer is checked
 * on lookaside_resolve_total{code="OK"}.
 *
 * Env (all optional): SOAK_ANSWERS (10000000), SOAK_CHUNK (1000000),
 * SOAK_UNARY_SHARE (percent, 10), SOAK_STREAM_MESSAGES (64),
 * SOAK_CONNECTIONS (4), SOAK_CONCURRENCY (128), SOAK_NODE_ARGS (node flags
 * in place of the image's, space-separated).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadProtos, serviceConstructor } from '../src/common/grpc.js';
import { REPO_ROOT, ServiceProcess, type LogLine } from '../test/support/process.js';
import { deployedNodeFlags, envInteger, memoryOf } from './bench-process.js';
import { BenchError, freePort, grpcFrame, waitForMetrics, writeResolveBodies } from './bench-targets.js';
import { runH2load } from './h2load.js';
import { lookasideAnswersOk } from './lookaside-bench-report.js';

const SERVICE = 'lookaside.v1.Lookaside';
const REQUEST = { service: 'greetserver', namespace: '', policy: 'ROUND_ROBIN' };
const MIB = 2 ** 20;

async function main(): Promise<void> {
  const total = envInteger('SOAK_ANSWERS', 10_000_000);
  const chunk = envInteger('SOAK_CHUNK', 1_000_000);
  const unaryShare = envInteger('SOAK_UNARY_SHARE', 10) / 100;
  const perStream = envInteger('SOAK_STREAM_MESSAGES', 64);
  const connections = envInteger('SOAK_CONNECTIONS', 4);
  const concurrency = envInteger('SOAK_CONCURRENCY', 128);
  const override = process.env['SOAK_NODE_ARGS'];
  const limitFlags = override === undefined ? deployedNodeFlags() : override.split(' ').filter((arg) => arg !== '');

  const dir = await mkdtemp(join(tmpdir(), 'bench-soak-'));
  let lookaside: ServiceProcess | undefined;
  try {
    const methods = serviceConstructor(loadProtos(['lookaside/v1/lookaside.proto']).grpcObject, SERVICE).service;
    const resolve = methods['Resolve'];
    if (resolve === undefined) throw new BenchError(`no Resolve in ${SERVICE}`);
    const frame = grpcFrame(resolve.requestSerialize(REQUEST));
    const { unaryBody, streamBody } = await writeResolveBodies(dir, frame, perStream);
    const endpointsFile = join(dir, 'endpoints.yaml');
    const endpoints = [1, 2, 3].map((n) => `      - { address: "10.1.0.${n}:50051", pod: greetserver-${n} }`);
    await writeFile(endpointsFile, ['services:', '  - namespace: default', '    name: greetserver', '    endpoints:', ...endpoints, ''].join('\n'));

    const [port, metricsPort] = [await freePort(), await freePort()];
    const env = { LB_HOST: '127.0.0.1', LB_PORT: String(port), METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn', ENDPOINTS_FILE: endpointsFile };
    const probe = ['--expose-gc', `--import=${join(REPO_ROOT, 'dist/bench/heap-probe.js')}`];
    const started = ServiceProcess.start('src/lookaside/main.js', env, [...limitFlags, ...probe]);
    lookaside = started;
    await waitForMetrics(started, metricsPort);
    const pid = started.child.pid as number;
    console.log(
      `lookaside: node ${[...limitFlags, 'dist/src/lookaside/main.js'].join(' ')}; ${total.toLocaleString('en-US')} answers in chunks of ${chunk.toLocaleString('en-US')}, ` +
        `${Math.round(unaryShare * 100)}% unary, the rest on streams of ${perStream}; h2load -c ${connections}, ${concurrency} answers in flight`,
    );
    console.log(`start: RSS ${mib(memoryOf(pid).rss)} MB`);

    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, memoryOf(pid).rss)), 250);
    const startedMs = Date.now();
    let answered = 0;
    let expectedOk = await lookasideAnswersOk(metricsPort);
    let firstHeap: LogLine | undefined;
    try {
      while (answered < total) {
        const size = Math.min(chunk, total - answered);
        const chunkStartedMs = Date.now();
        const unary = Math.round(size * unaryShare);
        const streams = Math.ceil((size - unary) / perStream);
        const load = async (path: string, body: string, requests: number, answersPerRequest: number): Promise<void> => {
          if (requests === 0) return;
          const inFlight = Math.max(1, Math.round(concurrency / answersPerRequest));
          const clients = Math.min(connections, inFlight);
          const settings = { requests, clients, streams: Math.max(1, Math.round(inFlight / clients)), threads: 1, bodyFile: body, headers: ['content-type: application/grpc', 'te: trailers'] };
          await runH2load(`http://127.0.0.1:${port}/${SERVICE}/${path}`, settings, join(dir, 'h2load.log'));
        };
        await load('ResolveStream', streamBody, streams, perStream);
        await load('Resolve', unaryBody, unary, 1);
        const done = streams * perStream + unary;
        answered += done;
        expectedOk += done;
        const ok = await lookasideAnswersOk(metricsPort);
        if (ok !== expectedOk) throw new BenchError(`lookaside_resolve_total{code="OK"} is ${ok}, expected ${expectedOk}`);
        const memory = memoryOf(pid);
        peakRss = Math.max(peakRss, memory.rss);
        const rate = done / ((Date.now() - chunkStartedMs) / 1000);
        console.log(
          `${(answered / 1e6).toFixed(2).padStart(6)} M answered, ${((Date.now() - startedMs) / 1000).toFixed(0).padStart(5)} s: RSS ${mib(memory.rss)} MB, ` +
            `peak ${mib(Math.max(memory.peak, peakRss))} MB (VmHWM ${mib(memory.peak)}); ${Math.round(rate).toLocaleString('en-US')} answers/s`,
        );
        if (firstHeap === undefined) {
          firstHeap = await heapAfterGc(started);
          console.log(`  heap after a full GC: ${describeHeap(firstHeap)}`);
        }
      }
    } finally {
      clearInterval(sampler);
    }
    const last = await heapAfterGc(started);
    const memory = memoryOf(pid);
    console.log(`end: ${answered.toLocaleString('en-US')} answers in ${((Date.now() - startedMs) / 1000).toFixed(0)} s; peak RSS ${mib(Math.max(memory.peak, peakRss))} MB (VmHWM)`);
    console.log(`heap after a full GC: after the first chunk ${describeHeap(firstHeap ?? last)}; at the end ${describeHeap(last)}`);
  } finally {
    await lookaside?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Asks the probe for a full GC and the memory after it. */
async function heapAfterGc(child: ServiceProcess): Promise<LogLine> {
  const seen = child.logs.length;
  child.child.kill('SIGUSR2');
  const line = await child.waitForLog((entry) => entry.msg === 'heap after gc' && child.logs.indexOf(entry) >= seen, 30_000);
  if (typeof line['error'] === 'string') throw new BenchError(`heap probe: ${line['error']}`);
  return line;
}

function describeHeap(line: LogLine): string {
  const field = (name: string): string => mib(Number(line[name]));
  return `heap used ${field('heapUsed')} MB of ${field('heapTotal')} MB, external ${field('external')} MB (array buffers ${field('arrayBuffers')} MB), RSS ${field('rss')} MB`;
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

main().catch((error: unknown) => {
  console.error(`bench-soak FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
