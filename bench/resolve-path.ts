/**
 * `make bench-resolve-path`: the Resolve path in process, without the network:
 * the real Resolver, WatchedServices, pickers, ServiceLoads and LookasideMetrics
 * over 1,000 Services × 100 endpoints (10 namespaces of 100), and what the
 * server's `answer()` does with an outcome (count it, build the response).
 * Times calls on one Service against calls on the 1,000 in random order, in
 * alternating rounds, and prints ns per call and the throughput ratio
 * (random ÷ one; issue #11 wants ≥ 0.95 end to end, `make bench-scale`).
 *
 * Request strings are decoded afresh for every call, as the server's protobuf
 * decoder hands them over, so map lookups pay for hashing them as in production.
 *
 * Times are the process's CPU time (user + system), so other processes on the machine move them less.
 *
 * Env: BENCH_ROUNDS (ABBA rounds, 40), BENCH_CALLS (calls per arm per round, 20000): short rounds, so
 * the ratio of each round's two arms is measured under the same load on a busy machine.
 */
import { Registry } from 'prom-client';

import { silentLogger } from '../src/common/logging.js';
import { DEFAULT_LOAD_CONFIG } from '../src/lookaside/load/config.js';
import { ServiceLoads } from '../src/lookaside/load/service-loads.js';
import { LookasideMetrics } from '../src/lookaside/metrics.js';
import { Resolver, type ResolveOutcome, type ResolveQuery } from '../src/lookaside/resolver.js';
import { StaticRoutes } from '../src/lookaside/routing/static-routes.js';
import { WatchedServices } from '../src/lookaside/watched-services.js';
import type { SliceInput } from '../src/lookaside/discovery/slices.js';
import { FakeSource } from '../test/support/fake-source.js';
import { shuffled } from './resolve-load.js';

const NAMESPACES = 10;
const SERVICES_PER_NAMESPACE = 100;
const ENDPOINTS = 100;
const ROUNDS = envInteger('BENCH_ROUNDS', 40);
const CALLS = envInteger('BENCH_CALLS', 20_000);

interface Name {
  readonly bytes: Buffer;
  /** Where the name ends and the namespace starts in `bytes`. */
  readonly split: number;
}

async function main(): Promise<void> {
  const registry = new Registry();
  const metrics = new LookasideMetrics(registry);
  const source = new FakeSource();
  const names: Name[] = [];
  const slicesOf = new Map<string, SliceInput[]>();
  for (let n = 0; n < NAMESPACES; n++) {
    for (let s = 0; s < SERVICES_PER_NAMESPACE; s++) {
      const namespace = `bench-${n}`;
      const name = `svc-${String(s).padStart(4, '0')}`;
      slicesOf.set(`${namespace}/${name}`, [slice(n * SERVICES_PER_NAMESPACE + s, ENDPOINTS)]);
      names.push({ bytes: Buffer.from(name + namespace), split: name.length });
    }
  }
  source.answer = (id) => slicesOf.get(id) ?? [];
  const logger = silentLogger();
  const loads = new ServiceLoads({ config: DEFAULT_LOAD_CONFIG, logger, weightsIdleMs: 600_000 });
  const services = new WatchedServices({ source, maxServices: 2_000, idleTimeoutMs: 600_000, metrics, logger, loads });
  const resolver = new Resolver({
    services,
    ownNamespace: 'default',
    defaultPolicy: 'round_robin',
    allowedNamespaces: [],
    describeMissing: () => 'not in the bench',
    loads,
    routes: new StaticRoutes([]),
  });

  const call = (name: Name): unknown => {
    const query: ResolveQuery = {
      service: name.bytes.toString('latin1', 0, name.split),
      namespace: name.bytes.toString('latin1', name.split),
      policy: 'round_robin',
      portName: '',
      calls: undefined,
      method: '',
      headers: {},
    };
    const outcome = resolver.resolve(query);
    if (outcome instanceof Promise) throw new Error('a warm Service waited');
    return answer(metrics, outcome);
  };
  for (const name of names) {
    const outcome = await resolver.resolve({ service: name.bytes.toString('latin1', 0, name.split), namespace: name.bytes.toString('latin1', name.split), policy: 'round_robin', portName: '' });
    if (!outcome.ok) throw new Error(`warming ${name.bytes.toString()}: ${outcome.message}`);
  }

  const arms = { one: [names[0] as Name], random: shuffled(names) };
  const perCallNs: Record<keyof typeof arms, number[]> = { one: [], random: [] };
  const run = (arm: keyof typeof arms): number => {
    const sequence = arms[arm];
    let sink = 0;
    const started = process.cpuUsage();
    for (let i = 0, j = 0; i < CALLS; i++, j = j + 1 === sequence.length ? 0 : j + 1) {
      if (call(sequence[j] as Name) !== undefined) sink++;
    }
    const cpu = process.cpuUsage(started);
    const elapsedNs = (cpu.user + cpu.system) * 1_000;
    if (sink !== CALLS) throw new Error(`${CALLS - sink} calls answered nothing`);
    return elapsedNs / CALLS;
  };
  const only = process.env['BENCH_ONLY'] as keyof typeof arms | undefined;
  if (only !== undefined) {
    for (let round = 0; round < ROUNDS; round++) perCallNs[only].push(run(only));
    console.log(`${only}: ${summary(perCallNs[only])} CPU ns per call`);
    process.exit(0);
  }
  run('random');
  run('one');
  for (let round = 0; round < ROUNDS; round++) {
    for (const arm of round % 2 === 0 ? (['one', 'random', 'random', 'one'] as const) : (['random', 'one', 'one', 'random'] as const)) {
      perCallNs[arm].push(run(arm));
    }
  }
  const ratios = perCallNs.one.map((oneNs, i) => oneNs / (perCallNs.random[i] as number));
  console.log(`Resolve path in process: ${NAMESPACES * SERVICES_PER_NAMESPACE} Services × ${ENDPOINTS} endpoints, ${ROUNDS} ABBA rounds of ${CALLS} calls per arm`);
  console.log(`  one Service:      ${summary(perCallNs.one)} CPU ns per call`);
  console.log(`  random Services:  ${summary(perCallNs.random)} CPU ns per call`);
  console.log(`  throughput random ÷ one: median ${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})`);
  services.close();
  loads.closeAll();
}

/** What server.ts `answer()` does with an outcome that did not wait: count it, and build the response (or the failure). */
function answer(metrics: LookasideMetrics, outcome: ResolveOutcome): unknown {
  const counts = outcome.resolveCounts ?? metrics.unwatchedResolves;
  if (!outcome.ok) {
    counts.count(outcome.policy, 'Unavailable');
    return { ok: false, message: outcome.message };
  }
  counts.count(outcome.policy, 'OK');
  const { endpoint } = outcome;
  return {
    ok: true,
    response: { address: endpoint.address, ip: endpoint.ip, port: endpoint.port, pod_name: endpoint.podName, zone: endpoint.zone, node_name: endpoint.nodeName, ready_endpoints: outcome.readyEndpoints },
  };
}

/** Service `index`'s one EndpointSlice: `count` ready pods on 10.<index>.x.y, port `grpc`. */
function slice(index: number, count: number): SliceInput {
  const endpoints = Array.from({ length: count }, (_, n) => ({
    addresses: [`10.${index >> 8}.${index & 255}.${n}`],
    conditions: { ready: true },
    targetRef: { kind: 'Pod', name: `svc-${index}-pod-${n}` },
    nodeName: `node-${n % 20}`,
    zone: `zone-${n % 3}`,
  }));
  return { addressType: 'IPv4', ports: [{ name: 'grpc', port: 50051 }], endpoints };
}

function summary(values: readonly number[]): string {
  return `median ${median(values).toFixed(0)} (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function envInteger(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return parsed;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
