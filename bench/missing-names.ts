/**
 * `make bench-missing-names`: what made-up Service names cost the lookaside,
 * in process (WatchedServices + Resolver as main.ts wires them, no gRPC).
 *
 * File discovery: BENCH_NAMES (100000) distinct names, each looked up once,
 * BENCH_CONCURRENCY (50) at a time; then each asked again (answered from
 * memory, synchronously); then a real Service, which must answer OK. Prints the time per
 * Resolve of each kind and the heap and RSS before and after (run with
 * --expose-gc for settled heap figures; the make target does).
 *
 * Kubernetes discovery against the fake API server of test/support:
 * BENCH_KUBE_NAMES (2000) names with no lookup limit, in a namespace nobody
 * follows (each batch waits on one list of the namespace, then it is let go)
 * and in one the lookaside watches (answered from memory), timing the first
 * Resolve and counting the API requests.
 *
 * Exits 1 when an answer is wrong.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { Registry } from 'prom-client';

import { silentLogger } from '../src/common/logging.js';
import { FileDiscovery } from '../src/lookaside/discovery/file.js';
import { KubernetesDiscovery } from '../src/lookaside/discovery/kubernetes.js';
import type { DiscoverySource } from '../src/lookaside/discovery/types.js';
import { LookasideMetrics } from '../src/lookaside/metrics.js';
import type { ResolveOutcome } from '../src/lookaside/resolver.js';
import { endpointSlice, fakeApiAccess, FakeKubeApi } from '../test/support/fake-kube-api.js';
import { resolverStack, type ResolverStack } from '../test/support/resolver-stack.js';

const NAMES = Number(process.env['BENCH_NAMES'] ?? 100_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 50);
const KUBE_NAMES = Number(process.env['BENCH_KUBE_NAMES'] ?? 2_000);

type Wired = ResolverStack;

function wire(source: DiscoverySource, metrics: LookasideMetrics): Wired {
  return resolverStack(source, { maxServices: 1000, metrics, now: Date.now });
}

function expect(outcome: ResolveOutcome, reason: string): void {
  const got = outcome.ok ? 'ok' : outcome.reason;
  if (got !== reason) throw new Error(`expected ${reason}, got ${got}: ${outcome.ok ? outcome.endpoint.address : outcome.message}`);
}

/** Resolves `count` names `concurrency` at a time; returns microseconds per Resolve. */
async function timeResolves(wired: Wired, names: (i: number) => string, count: number, concurrency: number, reason: string): Promise<number> {
  const startedMs = performance.now();
  for (let first = 0; first < count; first += concurrency) {
    const batch: Array<ResolveOutcome | Promise<ResolveOutcome>> = [];
    for (let i = first; i < Math.min(count, first + concurrency); i++) {
      batch.push(wired.resolver.resolve({ service: names(i), namespace: 'default', policy: undefined, portName: '' }));
    }
    for (const outcome of await Promise.all(batch)) expect(outcome, reason);
  }
  return ((performance.now() - startedMs) * 1000) / count;
}

/** Resolves names that must be answered synchronously, from memory; returns microseconds per Resolve. */
function timeRemembered(wired: Wired, names: (i: number) => string, count: number): number {
  const startedMs = performance.now();
  for (let i = 0; i < count; i++) {
    const outcome = wired.resolver.resolve({ service: names(i), namespace: 'default', policy: undefined, portName: '' });
    if (outcome instanceof Promise) throw new Error(`${names(i)} was looked up again instead of answered from memory`);
    expect(outcome, 'not-found');
  }
  return ((performance.now() - startedMs) * 1000) / count;
}

function memory(): { heapMiB: number; rssMiB: number } {
  globalThis.gc?.();
  const usage = process.memoryUsage();
  return { heapMiB: usage.heapUsed / 2 ** 20, rssMiB: usage.rss / 2 ** 20 };
}

async function fileMode(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'bench-missing-'));
  const path = join(directory, 'endpoints.yaml');
  await writeFile(path, 'services:\n  - name: greet\n    endpoints: [{ address: "10.0.0.1:50051" }]\n');
  const source = await FileDiscovery.open(path, silentLogger());
  const wired = wire(source, new LookasideMetrics(new Registry()));
  try {
    const before = memory();
    const lookupUs = await timeResolves(wired, (i) => `bogus-${i}`, NAMES, CONCURRENCY, 'not-found');
    const after = memory();
    // The newest names are still remembered (at most 10,000 are): answered synchronously.
    const recent = Math.min(NAMES, wired.services.missingCount);
    const rememberedName = (i: number): string => `bogus-${NAMES - recent + (i % recent)}`;
    timeRemembered(wired, rememberedName, recent); // warm-up: the JIT has not seen this path yet
    const rememberedUs = timeRemembered(wired, rememberedName, 10 * recent);
    expect(await wired.resolver.resolve({ service: 'greet', namespace: 'default', policy: undefined, portName: '' }), 'ok');
    console.log(`file discovery, ${NAMES} made-up names, ${CONCURRENCY} at a time:`);
    console.log(`  first Resolve (lookup):     ${lookupUs.toFixed(1)} µs each`);
    console.log(`  remembered Resolve:         ${rememberedUs.toFixed(1)} µs each (${recent} names, 10 times)`);
    console.log(`  watched ${wired.services.size}, missing names remembered ${wired.services.missingCount}; the real Service answered OK`);
    console.log(
      `  heap ${before.heapMiB.toFixed(1)} -> ${after.heapMiB.toFixed(1)} MiB, RSS ${before.rssMiB.toFixed(1)} -> ${after.rssMiB.toFixed(1)} MiB` +
        (globalThis.gc === undefined ? ' (no --expose-gc: heap not settled)' : ''),
    );
  } finally {
    wired.services.close();
    await source.close();
    await rm(directory, { recursive: true, force: true });
  }
}

async function kubernetesMode(): Promise<void> {
  const fake = await FakeKubeApi.start();
  fake.applySlice('default', endpointSlice({ service: 'greet', endpoints: [{ ip: '10.0.0.1' }] }));
  const metrics = new LookasideMetrics(new Registry());
  const discovery = KubernetesDiscovery.fromAccess(fakeApiAccess(fake.url), { refreshIntervalMs: 600_000, metrics, logger: silentLogger() });
  const wired = wire(discovery, metrics);
  try {
    console.log(`kubernetes discovery (fake API server, no lookup limit), ${KUBE_NAMES} made-up names, ${CONCURRENCY} at a time:`);
    const aloneUs = await timeResolves(wired, (i) => `bogus-${i}`, KUBE_NAMES, CONCURRENCY, 'not-found');
    const alone = fake.requests.length;
    console.log(`  namespace nobody follows:   ${aloneUs.toFixed(1)} µs per first Resolve, ${(alone / KUBE_NAMES).toFixed(3)} API requests per name (one list per batch)`);
    const real = await wired.resolver.resolve({ service: 'greet', namespace: 'default', policy: undefined, portName: '' });
    expect(real, 'ok');
    const before = fake.listCount;
    const watchedUs = await timeResolves(wired, (i) => `other-${i}`, KUBE_NAMES, CONCURRENCY, 'not-found');
    console.log(`  namespace already watched:  ${watchedUs.toFixed(1)} µs per first Resolve, ${fake.listCount - before} lists in all`);
  } finally {
    wired.services.close();
    await discovery.close();
    await fake.close();
  }
}

async function main(): Promise<void> {
  await fileMode();
  await kubernetesMode();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
